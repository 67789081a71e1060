;; spawner: exercises the synchronous `process` imports and outbox spawns.
;; init args non-empty -> register under that name (init fails if taken)
;; call "spawn:<component>"       -> process.spawn; reply pid (decimal) or "error:<why>"
;; call "relay:<16 hex pid><msg>" -> process.call(pid, msg, 1000 ms); reply its answer
;;                                   or "error:<call-error case index>"
;; call "send:<16 hex pid><msg>"  -> process.send; reply "ok" or "error:<send-error index>"
;; call "whereis:<name>"          -> reply pid (decimal) or "none"
;; call "nspawn:<component>"      -> outbox spawn; the reply (pid) follows the `p` frame
;; call "cast:<16 hex pid><msg>"  -> outbox send tagged 7; reply "queued"
;; call "undeliverable"           -> number of `u` frames received so far
;; call "self"                    -> own pid (decimal)
;; call "split:<hex16 pid>"       -> a hostile outbox: a send whose length splits "é"
;;                                   (the whole outbox stays valid UTF-8)
(module
  (import "hostkit:plugin/process@0.1.0" "self" (func $self (result i64)))
  (import "hostkit:plugin/process@0.1.0" "spawn" (func $spawn (param i32 i32 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "send" (func $send (param i64 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "call" (func $call (param i64 i32 i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "register" (func $register (param i32 i32 i32)))
  (import "hostkit:plugin/process@0.1.0" "whereis" (func $whereis (param i32 i32 i32)))
  ;;PRELUDE
  (global $caller_pid (mut i64) (i64.const 0))
  (global $caller_ref (mut i64) (i64.const 0))
  (global $undeliv (mut i64) (i64.const 0))
  (data (i32.const 128) "spawn:")
  (data (i32.const 136) "relay:")
  (data (i32.const 144) "send:")
  (data (i32.const 152) "whereis:")
  (data (i32.const 168) "nspawn:")
  (data (i32.const 176) "cast:")
  (data (i32.const 184) "undeliverable")
  (data (i32.const 200) "self")
  (data (i32.const 208) "error:")
  (data (i32.const 216) "none")
  (data (i32.const 224) "ok")
  (data (i32.const 232) "queued")
  (data (i32.const 240) "\n")
  (data (i32.const 244) "split:")
  (data (i32.const 252) "\c3\a9")

  (func $starts (param $p i32) (param $n i32) (param $s i32) (param $slen i32) (result i32)
    (if (i32.lt_u (local.get $n) (local.get $slen)) (then (return (i32.const 0))))
    (call $eq (local.get $p) (local.get $slen) (local.get $s) (local.get $slen)))

  ;; reply "error:" + the $len bytes at $src
  (func $reply_error (param $out i32) (param $pid i64) (param $ref i64)
                     (param $src i32) (param $len i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $alloc (i32.add (local.get $len) (i32.const 6)) (i32.const 1)))
    (memory.copy (local.get $buf) (i32.const 208) (i32.const 6))
    (memory.copy (i32.add (local.get $buf) (i32.const 6)) (local.get $src) (local.get $len))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $buf) (i32.add (local.get $len) (i32.const 6))))

  (func $reply_dec (param $out i32) (param $pid i64) (param $ref i64) (param $v i64) (result i32)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (call $dec_put (i32.const 64) (local.get $v))))

  (func $on_init (param $p i32) (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (call $register (local.get $p) (local.get $n) (i32.const 256))
    (if (i32.eqz (i32.load8_u (i32.const 256))) (then (return (i32.const 0))))
    (i32.store (i32.const 64) (i32.load (i32.const 260)))
    (i32.store (i32.const 68) (i32.load (i32.const 264)))
    (i32.const 1))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $buf i32)
    (if (i32.eq (local.get $kind) (i32.const 117)) ;; 'u'
      (then (global.set $undeliv (i64.add (global.get $undeliv) (i64.const 1)))
            (return (local.get $out))))
    (if (i32.eq (local.get $kind) (i32.const 112)) ;; 'p': outbox spawn finished
      (then (return (call $reply_dec (local.get $out) (global.get $caller_pid)
                      (global.get $caller_ref) (local.get $pid)))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 128) (i32.const 6))
      (then
        (call $spawn (i32.add (local.get $p) (i32.const 6)) (i32.sub (local.get $n) (i32.const 6))
          (i32.const 0) (i32.const 0) (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $reply_dec (local.get $out) (local.get $pid) (local.get $ref)
                          (i64.load (i32.const 264))))))
        (return (call $reply_error (local.get $out) (local.get $pid) (local.get $ref)
                  (i32.load (i32.const 264)) (i32.load (i32.const 268))))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 136) (i32.const 6))
      (then
        (call $call (call $hex_get (i32.add (local.get $p) (i32.const 6)) (i32.const 16))
          (i32.add (local.get $p) (i32.const 22)) (i32.sub (local.get $n) (i32.const 22))
          (i32.const 1000) (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                          (local.get $ref) (i32.load (i32.const 260)) (i32.load (i32.const 264))))))
        (i32.store8 (i32.const 72) (i32.add (i32.const 48) (i32.load8_u (i32.const 260))))
        (return (call $reply_error (local.get $out) (local.get $pid) (local.get $ref)
                  (i32.const 72) (i32.const 1)))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 144) (i32.const 5))
      (then
        (call $send (call $hex_get (i32.add (local.get $p) (i32.const 5)) (i32.const 16))
          (i32.add (local.get $p) (i32.const 21)) (i32.sub (local.get $n) (i32.const 21))
          (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                          (local.get $ref) (i32.const 224) (i32.const 2)))))
        (i32.store8 (i32.const 72) (i32.add (i32.const 48) (i32.load8_u (i32.const 257))))
        (return (call $reply_error (local.get $out) (local.get $pid) (local.get $ref)
                  (i32.const 72) (i32.const 1)))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 152) (i32.const 8))
      (then
        (call $whereis (i32.add (local.get $p) (i32.const 8)) (i32.sub (local.get $n) (i32.const 8))
          (i32.const 256))
        (if (i32.load8_u (i32.const 256))
          (then (return (call $reply_dec (local.get $out) (local.get $pid) (local.get $ref)
                          (i64.load (i32.const 264))))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 216) (i32.const 4)))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 168) (i32.const 7))
      (then
        (global.set $caller_pid (local.get $pid))
        (global.set $caller_ref (local.get $ref))
        ;; payload "<component>\n" (empty init args)
        (local.set $buf (call $alloc (i32.sub (local.get $n) (i32.const 6)) (i32.const 1)))
        (memory.copy (local.get $buf) (i32.add (local.get $p) (i32.const 7))
          (i32.sub (local.get $n) (i32.const 7)))
        (i32.store8 (i32.add (local.get $buf) (i32.sub (local.get $n) (i32.const 7))) (i32.const 10))
        (return (call $frame_put (local.get $out) (i32.const 110) (i64.const 0) (local.get $ref)
                  (local.get $buf) (i32.sub (local.get $n) (i32.const 6))))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 176) (i32.const 5))
      (then
        (local.set $out (call $frame_put (local.get $out) (i32.const 115)
          (call $hex_get (i32.add (local.get $p) (i32.const 5)) (i32.const 16)) (i64.const 7)
          (i32.add (local.get $p) (i32.const 21)) (i32.sub (local.get $n) (i32.const 21))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 232) (i32.const 6)))))

    (if (call $starts (local.get $p) (local.get $n) (i32.const 244) (i32.const 6))
      (then
        (local.set $out (call $frame_put (local.get $out) (i32.const 115)
          (call $hex_get (i32.add (local.get $p) (i32.const 6)) (i32.const 16)) (i64.const 0)
          (i32.const 252) (i32.const 1)))
        ;; the second byte of "é" follows, where the next frame header would start
        (i32.store8 (local.get $out) (i32.const 169))
        (return (i32.add (local.get $out) (i32.const 1)))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 184) (i32.const 13))
      (then (return (call $reply_dec (local.get $out) (local.get $pid) (local.get $ref)
                      (global.get $undeliv)))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 200) (i32.const 4))
      (then (return (call $reply_dec (local.get $out) (local.get $pid) (local.get $ref)
                      (call $self)))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $p) (local.get $n)))
)
