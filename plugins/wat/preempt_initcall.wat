;; world: raiser
;; preempt_initcall: init calls the host import hooks#fail(len(args)) and
;; keeps the result; a call replies with it in decimal. (An import awaited
;; from init, which never suspends: the scheduler thread waits for it.)
(module
  (import "hostkit:test/hooks@0.1.0" "fail" (func $fail (param i32) (result i32)))
  ;;PRELUDE
  (global $kept (mut i32) (i32.const 0))
  (func $on_init (param $p i32) (param $n i32) (result i32)
    (global.set $kept (call $fail (local.get $n)))
    (i32.const 0))
  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64) (i64.extend_i32_u (global.get $kept)))))
)
