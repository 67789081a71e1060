;; world: actor
;;HEAP_BASE=49152
;; fed_agent: a guest that uses other nodes' pids (tests/test_federation_guests.py).
;; Commands are calls from the host (pid 0); <p> is a pid as 16 hex digits.
;; A call from anyone else is answered with its own payload (an echo).
;; "S<p>"           -> process.send(p, "hello"): "ok" or "e<send-error index>"
;; "C<p><8 hex ms>" -> process.call(p, "ping", ms): "ok:<reply>", "e0<send-error index>",
;;                     "e1" (timeout), "e2:<reason>" (exited), "e3" (deadlock)
;; "L<p>"           -> process.link(p): "ok" or "e<send-error index>"
;; "U<p>"           -> process.unlink(p): "ok"
;; "M<p>"           -> process.monitor(p): the ref, 16 hex digits
;; "T"              -> process.trap-exits(true): "ok"
;; "O<p><16 hex n>" -> n outbox casts to p with payloads counting on from the
;;                     last "O" ("0", "1", ...; tags 1..n): "ok"
;; "F<p><16 hex n>" -> n process.send of 1024 bytes to p: "<ok> <mailbox-full> <other>"
;; "G"              -> the log: a line "<kind><pid hex16>:<payload>" per d/e/u frame
;;                     and per non-numeric cast received
;; "N"              -> "<next> <out of order>": numeric casts "0", "1", ... counted in order
;; "X"              -> traps (an abnormal exit for its links)
(module
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "call" (func $call (param i64 i32 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "link" (func $link (param i64 i32)))
  (import "hostkit:plugin/process@0.1.0" "unlink" (func $unlink (param i64)))
  (import "hostkit:plugin/process@0.1.0" "monitor" (func $monitor (param i64) (result i64)))
  (import "hostkit:plugin/process@0.1.0" "trap-exits" (func $trap_exits (param i32) (result i32)))
  ;;PRELUDE
  ;; statics: 128.. strings; 512.. reply scratch; 4096..8192 flood payload;
  ;; 8192..40960 the log
  (global $log_end (mut i32) (i32.const 8192))
  (global $next (mut i64) (i64.const 0))
  (global $disorder (mut i64) (i64.const 0))
  (global $streamed (mut i64) (i64.const 0))
  (data (i32.const 128) "hello")
  (data (i32.const 136) "ping")
  (data (i32.const 144) "ok")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $reply (param $out i32) (param $pid i64) (param $ref i64) (param $p i32) (param $n i32)
                (result i32)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $p) (local.get $n)))

  ;; "ok", or "e" and the enum byte at $at as a digit
  (func $result_reply (param $out i32) (param $pid i64) (param $ref i64) (param $at i32)
                       (result i32)
    (if (i32.eqz (i32.load8_u (local.get $at)))
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 144) (i32.const 2)))))
    (i32.store8 (i32.const 512) (i32.const 101))
    (i32.store8 (i32.const 513) (i32.add (i32.const 48) (i32.load8_u (i32.add (local.get $at) (i32.const 1)))))
    (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512) (i32.const 2)))

  (func $log (param $kind i32) (param $pid i64) (param $p i32) (param $n i32)
    (local $at i32)
    (local.set $at (global.get $log_end))
    (if (i32.gt_u (i32.add (i32.add (local.get $at) (local.get $n)) (i32.const 20)) (i32.const 40960))
      (then (return)))
    (i32.store8 (local.get $at) (local.get $kind))
    (call $hex_put (i32.add (local.get $at) (i32.const 1)) (i32.const 16) (local.get $pid))
    (i32.store8 (i32.add (local.get $at) (i32.const 17)) (i32.const 58))
    (memory.copy (i32.add (local.get $at) (i32.const 18)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (i32.add (local.get $at) (i32.const 18)) (local.get $n)) (i32.const 10))
    (global.set $log_end (i32.add (i32.add (local.get $at) (i32.const 19)) (local.get $n))))

  ;; a cast: numeric payloads are counted in order, others logged
  (func $cast (param $pid i64) (param $p i32) (param $n i32)
    (local $i i32) (local $v i64) (local $c i32)
    (if (i32.eqz (local.get $n)) (then (return (call $log (i32.const 99) (local.get $pid) (local.get $p) (local.get $n)))))
    (block $not_numeric
      (loop $digit
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (br_if $not_numeric (i32.lt_u (local.get $c) (i32.const 48)))
        (br_if $not_numeric (i32.gt_u (local.get $c) (i32.const 57)))
        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10))
                               (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $digit (i32.lt_u (local.get $i) (local.get $n))))
      (if (i64.eq (local.get $v) (global.get $next))
        (then (global.set $next (i64.add (global.get $next) (i64.const 1))))
        (else (global.set $disorder (i64.add (global.get $disorder) (i64.const 1)))))
      (return))
    (call $log (i32.const 99) (local.get $pid) (local.get $p) (local.get $n)))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $op i32) (local $target i64) (local $count i64) (local $i i64) (local $len i32)
    (local $ok i64) (local $full i64) (local $other i64)
    (if (i32.eq (local.get $kind) (i32.const 99)) ;; 'c'
      (then (call $cast (local.get $pid) (local.get $p) (local.get $n))
            (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) ;; not 'q': d, e, u, i, p
      (then (call $log (local.get $kind) (local.get $pid) (local.get $p) (local.get $n))
            (return (local.get $out))))
    (if (i64.ne (local.get $pid) (i64.const 0)) ;; a call from an actor: echo
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (local.get $p) (local.get $n)))))
    (if (i32.eqz (local.get $n)) (then (return (local.get $out))))
    (local.set $op (i32.load8_u (local.get $p)))
    (if (i32.ge_u (local.get $n) (i32.const 17))
      (then (local.set $target (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 16)))))
    (if (i32.ge_u (local.get $n) (i32.const 33))
      (then (local.set $count (call $hex_get (i32.add (local.get $p) (i32.const 17)) (i32.const 16)))))
    (if (i32.eq (local.get $op) (i32.const 83)) ;; 'S'
      (then
        (call $send (local.get $target) (i32.const 128) (i32.const 5) (i32.const 256))
        (return (call $result_reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 76)) ;; 'L'
      (then
        (call $link (local.get $target) (i32.const 256))
        (return (call $result_reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 85)) ;; 'U'
      (then
        (call $unlink (local.get $target))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 144) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 77)) ;; 'M'
      (then
        (call $hex_put (i32.const 512) (i32.const 16) (call $monitor (local.get $target)))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512) (i32.const 16)))))
    (if (i32.eq (local.get $op) (i32.const 84)) ;; 'T'
      (then
        (drop (call $trap_exits (i32.const 1)))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 144) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 88)) ;; 'X'
      (then unreachable))
    (if (i32.eq (local.get $op) (i32.const 67)) ;; 'C'
      (then
        (call $call (local.get $target) (i32.const 136) (i32.const 4)
          (i32.wrap_i64 (call $hex_get (i32.add (local.get $p) (i32.const 17)) (i32.const 8)))
          (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then
            (i32.store8 (i32.const 512) (i32.const 111))
            (i32.store8 (i32.const 513) (i32.const 107))
            (i32.store8 (i32.const 514) (i32.const 58))
            (local.set $len (i32.load (i32.const 264)))
            (if (i32.gt_u (local.get $len) (i32.const 1000)) (then (local.set $len (i32.const 1000))))
            (memory.copy (i32.const 515) (i32.load (i32.const 260)) (local.get $len))
            (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 512) (i32.add (local.get $len) (i32.const 3))))))
        (i32.store8 (i32.const 512) (i32.const 101))
        (i32.store8 (i32.const 513) (i32.add (i32.const 48) (i32.load8_u (i32.const 260))))
        (if (i32.eqz (i32.load8_u (i32.const 260))) ;; send(error)
          (then
            (i32.store8 (i32.const 514) (i32.add (i32.const 48) (i32.load8_u (i32.const 264))))
            (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512) (i32.const 3)))))
        (if (i32.eq (i32.load8_u (i32.const 260)) (i32.const 2)) ;; exited(reason)
          (then
            (i32.store8 (i32.const 514) (i32.const 58))
            (local.set $len (i32.load (i32.const 268)))
            (if (i32.gt_u (local.get $len) (i32.const 1000)) (then (local.set $len (i32.const 1000))))
            (memory.copy (i32.const 515) (i32.load (i32.const 264)) (local.get $len))
            (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 512) (i32.add (local.get $len) (i32.const 3))))))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 79)) ;; 'O'
      (then
        (block $done
          (loop $more
            (br_if $done (i64.ge_u (local.get $i) (local.get $count)))
            (local.set $out (call $frame_put (local.get $out) (i32.const 115) (local.get $target)
              (i64.add (local.get $i) (i64.const 1)) (i32.const 512)
              (call $dec_put (i32.const 512) (global.get $streamed))))
            (global.set $streamed (i64.add (global.get $streamed) (i64.const 1)))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br $more)))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 144) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 70)) ;; 'F'
      (then
        (block $done
          (loop $more
            (br_if $done (i64.ge_u (local.get $i) (local.get $count)))
            (call $send (local.get $target) (i32.const 4096) (i32.const 1024) (i32.const 256))
            (if (i32.eqz (i32.load8_u (i32.const 256)))
              (then (local.set $ok (i64.add (local.get $ok) (i64.const 1))))
              (else
                (if (i32.eq (i32.load8_u (i32.const 257)) (i32.const 1))
                  (then (local.set $full (i64.add (local.get $full) (i64.const 1))))
                  (else (local.set $other (i64.add (local.get $other) (i64.const 1)))))))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br $more)))
        (local.set $len (call $dec_put (i32.const 512) (local.get $ok)))
        (i32.store8 (i32.add (i32.const 512) (local.get $len)) (i32.const 32))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (local.set $len (i32.add (local.get $len)
          (call $dec_put (i32.add (i32.const 512) (local.get $len)) (local.get $full))))
        (i32.store8 (i32.add (i32.const 512) (local.get $len)) (i32.const 32))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (local.set $len (i32.add (local.get $len)
          (call $dec_put (i32.add (i32.const 512) (local.get $len)) (local.get $other))))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512) (local.get $len)))))
    (if (i32.eq (local.get $op) (i32.const 71)) ;; 'G'
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 8192) (i32.sub (global.get $log_end) (i32.const 8192))))))
    (if (i32.eq (local.get $op) (i32.const 78)) ;; 'N'
      (then
        (local.set $len (call $dec_put (i32.const 512) (global.get $next)))
        (i32.store8 (i32.add (i32.const 512) (local.get $len)) (i32.const 32))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (local.set $len (i32.add (local.get $len)
          (call $dec_put (i32.add (i32.const 512) (local.get $len)) (global.get $disorder))))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 512) (local.get $len)))))
    (local.get $out))
)
