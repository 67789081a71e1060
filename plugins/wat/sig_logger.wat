;; world: actor
;; sig_logger: every cast is written to the host log with process.log at
;; level info; calls are echoed.
(module
  (import "hostkit:plugin/process@0.1.0" "log" (func $log (param i32 i32 i32)))
  ;;PRELUDE
  (func $on_init (param i32 i32) (result i32) (i32.const 0))
  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99))
      (then (call $log (i32.const 2) (local.get $p) (local.get $n))
            (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $p) (local.get $n)))
)
