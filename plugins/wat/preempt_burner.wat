;; world: raiser
;; preempt_burner: a call runs three rounds of (a busy loop of 1,000
;; iterations, then the host import hooks#fail(x) with x starting at the
;; payload length) and replies with the final x in decimal. Each loop
;; iteration is an epoch check, so with a busy epoch the call yields
;; thousands of times (see tests/test_preempt.py), with host calls between.
(module
  (import "hostkit:test/hooks@0.1.0" "fail" (func $fail (param i32) (result i32)))
  ;;PRELUDE
  (global $sink (mut i32) (i32.const 0))
  (func $burn (local $i i32)
    (loop $more
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 1000))))
    (global.set $sink (local.get $i)))
  (func $on_init (param i32 i32) (result i32) (i32.const 0))
  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $x i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (local.set $x (local.get $n))
    (call $burn) (local.set $x (call $fail (local.get $x)))
    (call $burn) (local.set $x (call $fail (local.get $x)))
    (call $burn) (local.set $x (call $fail (local.get $x)))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64) (i64.extend_i32_u (local.get $x)))))
)
