;; world: actor
;; fedmon_brief: an actor that ends at once (tests/test_federation_guest_monitor.py):
;; its init casts "stop" to itself, and its first cast stops it with the
;; reason "brief-end" (an error exit), right after its spawn completed.
(module
  (import "hostkit:plugin/process@0.1.0" "self" (func $self (result i64)))
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  ;;PRELUDE
  (data (i32.const 128) "stop")
  (data (i32.const 144) "brief-end")

  (func $on_init (param i32 i32) (result i32)
    (call $send (call $self) (i32.const 128) (i32.const 4) (i32.const 256))
    (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99)) ;; 'c'
      (then (return (call $frame_put (local.get $out) (i32.const 120) (i64.const 0)
                      (i64.const 0) (i32.const 144) (i32.const 9)))))
    (local.get $out))
)
