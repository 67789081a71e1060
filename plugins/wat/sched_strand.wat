;; world: raiser
;; sched_strand: strands work on its own scheduler thread, then blocks there.
;; call "<hex16 pid>" -> process.send(pid, "x") (queued on this thread's
;;                       local deque), then the test hook fail(16), which the
;;                       test makes block; replies with the hook's result.
(module
  (import "hostkit:test/hooks@0.1.0" "fail" (func $fail (param i32) (result i32)))
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  ;;PRELUDE
  (data (i32.const 128) "x")
  (func $on_init (param i32 i32) (result i32) (i32.const 0))
  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (call $send (call $hex_get (local.get $p) (i32.const 16)) (i32.const 128) (i32.const 1)
      (i32.const 256))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64)
        (i64.extend_i32_u (call $fail (local.get $n))))))
)
