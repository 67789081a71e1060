;; guard_watcher: a monitor whose DOWN arrives while its mailbox is full.
;; call "W<16 hex target>" -> in one activation: monitor target, cast "f" to
;;   itself until its own mailbox is full, cast "trap" to the target (a `trap`
;;   guest), then process.call the target (which traps first, so the DOWN is
;;   pushed while this mailbox is still full); reply with the number of "f"
;;   casts that fit, in decimal
;; call "D" -> number of `d` (DOWN) frames received so far, in decimal
;; world: actor
(module
  (import "hostkit:plugin/process@0.1.0" "self" (func $self (result i64)))
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "call" (func $call (param i64 i32 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "monitor" (func $monitor (param i64) (result i64)))
  ;;PRELUDE
  (global $downs (mut i64) (i64.const 0))
  (data (i32.const 200) "f")
  (data (i32.const 208) "trap")
  (data (i32.const 216) "x")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $target i64) (local $me i64) (local $fills i64)
    (if (i32.eq (local.get $kind) (i32.const 100)) ;; 'd'
      (then (global.set $downs (i64.add (global.get $downs) (i64.const 1)))
            (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (i32.eqz (local.get $n)) (then (return (local.get $out))))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 68)) ;; 'D'
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (i32.const 64)
                      (call $dec_put (i32.const 64) (global.get $downs))))))
    (if (i32.ne (local.get $n) (i32.const 17)) (then (return (local.get $out))))
    (local.set $target (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 16)))
    (local.set $me (call $self))
    (drop (call $monitor (local.get $target)))
    (block $full
      (loop $more
        (call $send (local.get $me) (i32.const 200) (i32.const 1) (i32.const 256))
        (br_if $full (i32.load8_u (i32.const 256)))
        (local.set $fills (i64.add (local.get $fills) (i64.const 1)))
        (br_if $more (i64.lt_u (local.get $fills) (i64.const 100000)))))
    (call $send (local.get $target) (i32.const 208) (i32.const 4) (i32.const 256))
    (call $call (local.get $target) (i32.const 216) (i32.const 1) (i32.const 1000) (i32.const 256))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64) (local.get $fills))))
)
