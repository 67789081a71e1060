;; world: actor
;; sig_hostile: a plugin that attacks the signal path (tests/test_signal_*.py).
;; call "hold"                         -> keeps the call unanswered (a victim)
;; cast "release"                      -> answers the held call with "genuine"
;; cast "forge:<hex16 ref>"            -> outbox `r` frame for a call it never received
;; call "linkall:<hex16 n>"            -> process.link to pids 1..n; replies how many succeeded
;; cast "crash"                        -> traps (an abnormal exit for its links)
;; cast "amplify:<hex16 pid>"          -> two sends to pid; two more for every `u` frame back
;; cast "flood:<hex16 pid><hex16 n>"   -> one outbox of n sends of "x" to pid
;; cast "bytes:<hex16 pid><hex16 n>"   -> n process.send of 1 MiB each to pid, counting refusals
;; call "stats"                        -> "<sends accepted> <sends refused>"
;; init "bomb"                         -> spawns two more of itself with "bomb" (from init)
(module
  (import "hostkit:plugin/process@0.1.0" "spawn" (func $spawn (param i32 i32 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "link" (func $link (param i64 i32)))
  ;;PRELUDE
  (global $held_pid (mut i64) (i64.const 0))
  (global $held_ref (mut i64) (i64.const 0))
  (global $dead (mut i64) (i64.const 0))
  (global $sent (mut i64) (i64.const 0))
  (global $refused (mut i64) (i64.const 0))
  (data (i32.const 128) "hold")
  (data (i32.const 136) "release")
  (data (i32.const 144) "forge:")
  (data (i32.const 152) "linkall:")
  (data (i32.const 160) "crash")
  (data (i32.const 168) "amplify:")
  (data (i32.const 176) "flood:")
  (data (i32.const 184) "bytes:")
  (data (i32.const 192) "stats")
  (data (i32.const 200) "bomb")
  (data (i32.const 208) "genuine")
  (data (i32.const 216) "forged")
  (data (i32.const 224) "x")
  (data (i32.const 232) "sig_hostile")

  (func $starts (param $p i32) (param $n i32) (param $s i32) (param $slen i32) (result i32)
    (if (i32.lt_u (local.get $n) (local.get $slen)) (then (return (i32.const 0))))
    (call $eq (local.get $p) (local.get $slen) (local.get $s) (local.get $slen)))

  (func $on_init (param $p i32) (param $n i32) (result i32)
    (if (call $eq (local.get $p) (local.get $n) (i32.const 200) (i32.const 4))
      (then
        (call $spawn (i32.const 232) (i32.const 11) (i32.const 200) (i32.const 4) (i32.const 256))
        (call $spawn (i32.const 232) (i32.const 11) (i32.const 200) (i32.const 4) (i32.const 256))))
    (i32.const 0))

  ;; two sends of "x" to $dead
  (func $two (param $out i32) (result i32)
    (local.set $out (call $frame_put (local.get $out) (i32.const 115) (global.get $dead)
      (i64.const 1) (i32.const 224) (i32.const 1)))
    (call $frame_put (local.get $out) (i32.const 115) (global.get $dead)
      (i64.const 2) (i32.const 224) (i32.const 1)))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $i i64) (local $count i64) (local $ok i64) (local $buf i32) (local $len i32)
    (local $target i64)
    (if (i32.eq (local.get $kind) (i32.const 117)) ;; 'u': amplify
      (then
        (if (i64.ne (global.get $dead) (i64.const 0))
          (then (return (call $two (local.get $out)))))
        (return (local.get $out))))
    (if (i32.eq (local.get $kind) (i32.const 113)) ;; 'q'
      (then
        (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 4))
          (then
            (global.set $held_pid (local.get $pid))
            (global.set $held_ref (local.get $ref))
            (return (local.get $out))))
        (if (call $starts (local.get $p) (local.get $n) (i32.const 152) (i32.const 8))
          (then
            (local.set $count (call $hex_get (i32.add (local.get $p) (i32.const 8)) (i32.const 16)))
            (local.set $i (i64.const 1))
            (block $done
              (loop $next
                (br_if $done (i64.gt_u (local.get $i) (local.get $count)))
                (call $link (local.get $i) (i32.const 256))
                (if (i32.eqz (i32.load8_u (i32.const 256)))
                  (then (local.set $ok (i64.add (local.get $ok) (i64.const 1)))))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (br $next)))
            (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (i32.const 64) (call $dec_put (i32.const 64) (local.get $ok))))))
        (if (call $eq (local.get $p) (local.get $n) (i32.const 192) (i32.const 5))
          (then
            (local.set $len (call $dec_put (i32.const 64) (global.get $sent)))
            (i32.store8 (i32.add (i32.const 64) (local.get $len)) (i32.const 32))
            (local.set $len (i32.add (i32.add (local.get $len) (i32.const 1))
              (call $dec_put (i32.add (i32.const 65) (local.get $len)) (global.get $refused))))
            (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (i32.const 64) (local.get $len)))))
        (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 99)) (then (return (local.get $out))))
    ;; casts
    (if (call $eq (local.get $p) (local.get $n) (i32.const 136) (i32.const 7))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (global.get $held_pid)
                      (global.get $held_ref) (i32.const 208) (i32.const 7)))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 144) (i32.const 6))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (i64.const 0)
                      (call $hex_get (i32.add (local.get $p) (i32.const 6)) (i32.const 16))
                      (i32.const 216) (i32.const 6)))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 160) (i32.const 5))
      (then unreachable))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 168) (i32.const 8))
      (then
        (global.set $dead (call $hex_get (i32.add (local.get $p) (i32.const 8)) (i32.const 16)))
        (return (call $two (local.get $out)))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 176) (i32.const 6))
      (then
        (local.set $target (call $hex_get (i32.add (local.get $p) (i32.const 6)) (i32.const 16)))
        (local.set $count (call $hex_get (i32.add (local.get $p) (i32.const 22)) (i32.const 16)))
        ;; grow the outbox region: the bump heap ends where it ends
        (drop (call $alloc (i32.wrap_i64 (i64.mul (local.get $count) (i64.const 42))) (i32.const 1)))
        (global.set $out_cap_end (global.get $heap))
        (block $done
          (loop $next
            (br_if $done (i64.ge_u (local.get $i) (local.get $count)))
            (local.set $out (call $frame_put (local.get $out) (i32.const 115) (local.get $target)
              (i64.const 0) (i32.const 224) (i32.const 1)))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br $next)))
        (return (local.get $out))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 184) (i32.const 6))
      (then
        (local.set $target (call $hex_get (i32.add (local.get $p) (i32.const 6)) (i32.const 16)))
        (local.set $count (call $hex_get (i32.add (local.get $p) (i32.const 22)) (i32.const 16)))
        (local.set $buf (call $alloc (i32.const 1048576) (i32.const 1)))
        (memory.fill (local.get $buf) (i32.const 97) (i32.const 1048576))
        (block $done
          (loop $next
            (br_if $done (i64.ge_u (local.get $i) (local.get $count)))
            (call $send (local.get $target) (local.get $buf) (i32.const 1048576) (i32.const 256))
            (if (i32.eqz (i32.load8_u (i32.const 256)))
              (then (global.set $sent (i64.add (global.get $sent) (i64.const 1))))
              (else (global.set $refused (i64.add (global.get $refused) (i64.const 1)))))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br $next)))
        (return (local.get $out))))
    (local.get $out))
)
