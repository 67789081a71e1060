;; calls the imported test hook hostkit:test/hooks#fail(x) on every call and
;; replies with its result in decimal (the host implementation may raise).
(module
  (import "hostkit:test/hooks@0.1.0" "fail" (func $fail (param i32) (result i32)))
  ;;PRELUDE
  (func $on_init (param i32 i32) (result i32) (i32.const 0))
  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64)
        (i64.extend_i32_u (call $fail (local.get $n))))))
)
