;; guard_bigsend: sends messages of a size the host chooses, to test the
;; guest-side size limits (the host call that asks is short, the message it
;; makes is not). Takes every call:
;; "S<16 hex pid><8 hex n>" -> process.send of n bytes "x"; reply "ok" or
;;                             "error:<send-error case index>"
;; "C<16 hex pid><8 hex n>" -> an outbox `s` frame of n bytes "x"; reply "queued"
;; "K<16 hex pid><8 hex n>" -> process.call with n bytes "x" (1 s); reply the answer or
;;                             "error:<call-error case><send-error case>"
;; "U"                      -> number of `u` (undeliverable) frames seen so far
;; "Q"                      -> takes the call and never replies
;; world: actor
(module
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "call" (func $call (param i64 i32 i32 i32 i32)))
  ;;PRELUDE
  (global $undeliv (mut i64) (i64.const 0))
  (data (i32.const 200) "ok")
  (data (i32.const 208) "error:")
  (data (i32.const 216) "queued")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $xs (param $n i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $alloc (local.get $n) (i32.const 1)))
    (memory.fill (local.get $buf) (i32.const 120) (local.get $n))
    (local.get $buf))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $op i32) (local $to i64) (local $size i32) (local $buf i32)
    (if (i32.eq (local.get $kind) (i32.const 117)) ;; 'u'
      (then (global.set $undeliv (i64.add (global.get $undeliv) (i64.const 1)))
            (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out)))) ;; calls only
    (if (i32.eqz (local.get $n)) (then (return (local.get $out))))
    (local.set $op (i32.load8_u (local.get $p)))
    (if (i32.eq (local.get $op) (i32.const 85)) ;; 'U'
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (i32.const 64)
                      (call $dec_put (i32.const 64) (global.get $undeliv))))))
    (if (i32.ne (local.get $n) (i32.const 25)) (then (return (local.get $out)))) ;; 'Q' and junk
    (local.set $to (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 16)))
    (local.set $size (i32.wrap_i64
      (call $hex_get (i32.add (local.get $p) (i32.const 17)) (i32.const 8))))
    (local.set $buf (call $xs (local.get $size)))
    (if (i32.eq (local.get $op) (i32.const 83)) ;; 'S'
      (then
        (call $send (local.get $to) (local.get $buf) (local.get $size) (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                          (local.get $ref) (i32.const 200) (i32.const 2)))))
        (i32.store (i32.const 64) (i32.load (i32.const 208)))
        (i32.store16 (i32.const 68) (i32.load16_u (i32.const 212)))
        (i32.store8 (i32.const 70) (i32.add (i32.const 48) (i32.load8_u (i32.const 257))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 64) (i32.const 7)))))
    (if (i32.eq (local.get $op) (i32.const 75)) ;; 'K'
      (then
        (call $call (local.get $to) (local.get $buf) (local.get $size) (i32.const 1000)
          (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                          (local.get $ref) (i32.load (i32.const 260)) (i32.load (i32.const 264))))))
        (i32.store (i32.const 64) (i32.load (i32.const 208)))
        (i32.store16 (i32.const 68) (i32.load16_u (i32.const 212)))
        (i32.store8 (i32.const 70) (i32.add (i32.const 48) (i32.load8_u (i32.const 260))))
        (i32.store8 (i32.const 71) (i32.add (i32.const 48) (i32.load8_u (i32.const 264))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 64) (i32.const 8)))))
    (if (i32.eq (local.get $op) (i32.const 67)) ;; 'C'
      (then
        (local.set $out (call $frame_put (local.get $out) (i32.const 115) (local.get $to)
          (i64.const 7) (local.get $buf) (local.get $size)))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 216) (i32.const 6)))))
    (local.get $out))
)
