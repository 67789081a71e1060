;; world: actor
;; Five linear memories (the prelude's plus four). call "grow": grows every
;; memory a page at a time until the host refuses, then replies the total
;; size of all five in pages (decimal). Per-memory caps would let it reach
;; five times the host's memory limit; the per-instance cap holds the sum.
(module
  ;;PRELUDE
  (memory $m1 1)
  (memory $m2 1)
  (memory $m3 1)
  (memory $m4 1)
  (data (i32.const 128) "grow")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $grow_all
    (block $d0 (loop $l0
      (br_if $d0 (i32.eq (memory.grow $m1 (i32.const 1)) (i32.const -1))) (br $l0)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.eq (memory.grow $m2 (i32.const 1)) (i32.const -1))) (br $l1)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.eq (memory.grow $m3 (i32.const 1)) (i32.const -1))) (br $l2)))
    (block $d3 (loop $l3
      (br_if $d3 (i32.eq (memory.grow $m4 (i32.const 1)) (i32.const -1))) (br $l3)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $l4))))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (call $grow_all)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64)
      (call $dec_put (i32.const 64)
        (i64.extend_i32_u
          (i32.add (i32.add (i32.add (i32.add (memory.size) (memory.size $m1))
            (memory.size $m2)) (memory.size $m3)) (memory.size $m4))))))
)
