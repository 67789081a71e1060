;; world: actor
;; arena probe: out-of-bounds accesses must trap exactly at the memory's size.
;; memory: 1 page, may grow to 2.
;; call "peek"  -> reads 4 bytes just past memory.size: must trap
;; call "poke"  -> writes 4 bytes just past memory.size: must trap
;; call "grow"  -> grows one page; replies "zero" if the new page reads as
;;                 zeros (it always must), else "dirty"
;; call "fill"  -> writes 0xff over the whole current memory past 4 KiB
;;                 (a dirty slot, for the next owner to check), replies "ok"
(module
  ;;PRELUDE
  (data (i32.const 128) "peek")
  (data (i32.const 136) "poke")
  (data (i32.const 144) "grow")
  (data (i32.const 152) "zero")
  (data (i32.const 160) "dirty")
  (data (i32.const 168) "fill")
  (data (i32.const 176) "ok")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $end (result i32) (i32.shl (memory.size) (i32.const 16)))

  (func $page_is_zero (param $at i32) (result i32)
    (local $i i32)
    (block $no (loop $more
      (br_if $no (i32.ne (i32.load (i32.add (local.get $at) (local.get $i))) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 65536)))
      (return (i32.const 1))))
    (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $at i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 4))
      (then (drop (i32.load (call $end))) unreachable))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 136) (i32.const 4))
      (then (i32.store (call $end) (i32.const 7)) unreachable))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 4))
      (then
        (local.set $at (call $end))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (if (call $page_is_zero (local.get $at))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                           (local.get $ref) (i32.const 152) (i32.const 4)))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                   (local.get $ref) (i32.const 160) (i32.const 5)))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 168) (i32.const 4))
      (then
        (memory.fill (i32.const 4096) (i32.const 255) (i32.sub (call $end) (i32.const 4096)))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                   (local.get $ref) (i32.const 176) (i32.const 2)))))
    (local.get $out))
)
