;; world: fed-remote-actor
;;HEAP_BASE=49152
;; fedmon_guest: spawn-with-monitor on another node (tests/test_federation_guest_monitor.py).
;; Commands are calls from the host; <ms> is 8 hex digits; the reply on failure is
;; "e<error case index>:<message>" (0 denied, 1 not-found, 2 invalid, 3 too-large,
;; 4 io, 5 timeout, 6 rate-limited, 7 unsupported).
;; "M<ms><node>\n<component>\n<digest>"  -> spawn-monitor (args ""): "ok:<16 hex pid><16 hex ref>"
;; "K<ms><node>\n<component>\n<digest>"  -> the same, linked too
;; "G"                                   -> the log: "<16 hex pid><16 hex ref>:<reason>\n"
;;                                          per DOWN (d frame) received
;; "C"                                   -> clears the log: ""
(module
  (import "hostkit:federation/remote@0.1.0" "spawn-monitor"
    (func $spawn_monitor (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  ;;PRELUDE
  ;; statics: 144.. strings; 256.. results; 512.. reply scratch; 8192..40960 the log
  (global $log_end (mut i32) (i32.const 8192))
  (data (i32.const 144) "ok:")
  (data (i32.const 152) "")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $reply (param $out i32) (param $pid i64) (param $ref i64) (param $p i32) (param $n i32)
                (result i32)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $p) (local.get $n)))

  ;; the error variant at $at: case byte, then (ptr, len) of its message
  (func $err (param $out i32) (param $pid i64) (param $ref i64) (param $at i32) (result i32)
    (local $case i32) (local $len i32)
    (local.set $case (i32.load8_u (local.get $at)))
    (i32.store8 (i32.const 512) (i32.const 101))
    (i32.store8 (i32.const 513) (i32.add (i32.const 48) (local.get $case)))
    (i32.store8 (i32.const 514) (i32.const 58))
    (if (i32.or (i32.eq (local.get $case) (i32.const 5)) (i32.eq (local.get $case) (i32.const 6)))
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 512) (i32.const 3)))))
    (local.set $len (i32.load (i32.add (local.get $at) (i32.const 8))))
    (if (i32.gt_u (local.get $len) (i32.const 2000)) (then (local.set $len (i32.const 2000))))
    (memory.copy (i32.const 515) (i32.load (i32.add (local.get $at) (i32.const 4))) (local.get $len))
    (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512)
      (i32.add (local.get $len) (i32.const 3))))

  ;; index of the first newline in [$p, $p+$n), or $n
  (func $nl (param $p i32) (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (br_if $done (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 10)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))

  ;; a DOWN: "<pid><ref>:<reason>\n" appended to the log (dropped when full)
  (func $log (param $pid i64) (param $ref i64) (param $p i32) (param $n i32)
    (local $at i32)
    (local.set $at (global.get $log_end))
    (if (i32.gt_u (i32.add (i32.add (local.get $at) (local.get $n)) (i32.const 40)) (i32.const 40960))
      (then (return)))
    (call $hex_put (local.get $at) (i32.const 16) (local.get $pid))
    (call $hex_put (i32.add (local.get $at) (i32.const 16)) (i32.const 16) (local.get $ref))
    (i32.store8 (i32.add (local.get $at) (i32.const 32)) (i32.const 58))
    (memory.copy (i32.add (local.get $at) (i32.const 33)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (i32.add (local.get $at) (i32.const 33)) (local.get $n)) (i32.const 10))
    (global.set $log_end (i32.add (i32.add (local.get $at) (i32.const 34)) (local.get $n))))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $op i32) (local $ms i32) (local $a i32) (local $an i32) (local $b i32) (local $bn i32)
    (local $c i32) (local $cn i32) (local $restn i32)
    (if (i32.eq (local.get $kind) (i32.const 100)) ;; 'd'
      (then (call $log (local.get $pid) (local.get $ref) (local.get $p) (local.get $n))
            (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (i32.eqz (local.get $n)) (then (return (local.get $out))))
    (local.set $op (i32.load8_u (local.get $p)))
    (if (i32.eq (local.get $op) (i32.const 71)) ;; 'G'
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 8192) (i32.sub (global.get $log_end) (i32.const 8192))))))
    (if (i32.eq (local.get $op) (i32.const 67)) ;; 'C'
      (then (global.set $log_end (i32.const 8192))
            (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 8192) (i32.const 0)))))
    (if (i32.lt_u (local.get $n) (i32.const 9)) (then (return (local.get $out))))
    (local.set $ms (i32.wrap_i64 (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 8))))
    ;; node = [a, a+an), then b, then c (newline separated)
    (local.set $a (i32.add (local.get $p) (i32.const 9)))
    (local.set $restn (i32.sub (local.get $n) (i32.const 9)))
    (local.set $an (call $nl (local.get $a) (local.get $restn)))
    (local.set $b (i32.add (i32.add (local.get $a) (local.get $an)) (i32.const 1)))
    (local.set $restn (i32.sub (i32.sub (local.get $restn) (local.get $an)) (i32.const 1)))
    (local.set $bn (call $nl (local.get $b) (local.get $restn)))
    (local.set $c (i32.add (i32.add (local.get $b) (local.get $bn)) (i32.const 1)))
    (local.set $cn (i32.sub (i32.sub (local.get $restn) (local.get $bn)) (i32.const 1)))
    (if (i32.or (i32.eq (local.get $op) (i32.const 77)) (i32.eq (local.get $op) (i32.const 75))) ;; 'M', 'K'
      (then
        (call $spawn_monitor (local.get $a) (local.get $an) (local.get $b) (local.get $bn)
          (local.get $c) (local.get $cn) (i32.const 152) (i32.const 0)
          (i32.eq (local.get $op) (i32.const 75)) (local.get $ms) (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then
            (memory.copy (i32.const 512) (i32.const 144) (i32.const 3))
            (call $hex_put (i32.const 515) (i32.const 16) (i64.load (i32.const 264)))
            (call $hex_put (i32.const 531) (i32.const 16) (i64.load (i32.const 272)))
            (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 512) (i32.const 35)))))
        (return (call $err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 264)))))
    (local.get $out))
)
