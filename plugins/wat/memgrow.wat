;; memory bomb. call "bomb": one memory.grow of 65535 pages (4 GiB), replies
;; "refused" or "granted"; call "grow": grows a page at a time until refused,
;; replies the final size in pages (decimal); cast "trap-on-refusal": grows
;; until refused, then traps.
(module
  ;;PRELUDE
  (data (i32.const 128) "bomb")
  (data (i32.const 136) "grow")
  (data (i32.const 144) "refused")
  (data (i32.const 152) "granted")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $grow_all
    (block $done (loop $more
      (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
      (br $more))))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99))
      (then (call $grow_all) unreachable))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 4))
      (then
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
          (if (result i32) (i32.eq (memory.grow (i32.const 65535)) (i32.const -1))
            (then (i32.const 144)) (else (i32.const 152)))
          (i32.const 7)))))
    (call $grow_all)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64) (i64.extend_i32_u (memory.size)))))
)
