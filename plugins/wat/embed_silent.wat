;; embed_silent: takes every call and never replies (for timeout and
;; cancellation tests of the blocking/aio facades); cast "stop" stops it
;; normally after this batch.
;; world: actor
(module
  ;;PRELUDE
  (data (i32.const 144) "stop")
  (data (i32.const 152) "normal")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99)) ;; 'c'
      (then
        (if (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 4))
          (then (return (call $frame_put (local.get $out) (i32.const 120) (i64.const 0)
                          (i64.const 0) (i32.const 152) (i32.const 6)))))))
    (local.get $out))
)
