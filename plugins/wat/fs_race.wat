;; fs_race: files.read and files.write on request, for the files
;; provider's race tests through a real guest.
;; world: host-caller
;; call "r<path>" -> files.read(path, utf8): "ok:<text>" or "err:<case>:<payload>"
;; call "w<path>" -> files.write(path, "pwned", utf8, truncate): "ok:<n>" or "err:..."
(module
  (import "hostkit:host/files@0.1.0" "read" (func $read (param i32 i32 i32 i32)))
  (import "hostkit:host/files@0.1.0" "write" (func $write (param i32 i32 i32 i32 i32 i32 i32)))
  (import "hostkit:host/kv@0.1.0" "get" (func $kv_get (param i32 i32 i32)))
  (import "hostkit:host/kv@0.1.0" "set" (func $kv_set (param i32 i32 i32 i32 i32)))
  (import "hostkit:host/clock@0.1.0" "now-ms" (func $now (param i32)))
  ;;PRELUDE
  ;; return area of the imports: 256..280 (8-aligned)
  (data (i32.const 128) "ok:")
  (data (i32.const 136) "err:")
  (data (i32.const 144) "pwned")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  ;; "ok:" followed by $n bytes at $src, as a reply frame
  (func $reply_ok (param $out i32) (param $pid i64) (param $ref i64)
                  (param $src i32) (param $n i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $alloc (i32.add (local.get $n) (i32.const 3)) (i32.const 1)))
    (memory.copy (local.get $buf) (i32.const 128) (i32.const 3))
    (memory.copy (i32.add (local.get $buf) (i32.const 3)) (local.get $src) (local.get $n))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $buf) (i32.add (local.get $n) (i32.const 3))))

  ;; "err:<case>:<payload>" from the error variant at $e
  ;; (case u8 at 0, payload string at 4/8; timeout and rate-limited have none)
  (func $reply_err (param $out i32) (param $pid i64) (param $ref i64) (param $e i32) (result i32)
    (local $buf i32) (local $n i32) (local $case i32)
    (local.set $case (i32.load8_u (local.get $e)))
    (if (i32.and (i32.ne (local.get $case) (i32.const 5)) (i32.ne (local.get $case) (i32.const 6)))
      (then (local.set $n (i32.load (i32.add (local.get $e) (i32.const 8))))))
    (local.set $buf (call $alloc (i32.add (local.get $n) (i32.const 6)) (i32.const 1)))
    (memory.copy (local.get $buf) (i32.const 136) (i32.const 4))
    (i32.store8 (i32.add (local.get $buf) (i32.const 4)) (i32.add (i32.const 48) (local.get $case)))
    (i32.store8 (i32.add (local.get $buf) (i32.const 5)) (i32.const 58))
    (if (local.get $n)
      (then (memory.copy (i32.add (local.get $buf) (i32.const 6))
                         (i32.load (i32.add (local.get $e) (i32.const 4))) (local.get $n))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $buf) (i32.add (local.get $n) (i32.const 6))))

  ;; reply with the result<string, error> at 256
  (func $reply_str (param $out i32) (param $pid i64) (param $ref i64) (result i32)
    (if (i32.eqz (i32.load8_u (i32.const 256)))
      (then (return (call $reply_ok (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.load (i32.const 260)) (i32.load (i32.const 264))))))
    (call $reply_err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 260)))

  ;; reply with the result<u64, error> at 256
  (func $reply_u64 (param $out i32) (param $pid i64) (param $ref i64) (result i32)
    (if (i32.eqz (i32.load8_u (i32.const 256)))
      (then (return (call $reply_ok (local.get $out) (local.get $pid) (local.get $ref) (i32.const 64)
                      (call $dec_put (i32.const 64) (i64.load (i32.const 264)))))))
    (call $reply_err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 264)))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $op i32) (local $i i32) (local $count i32)
    (if (i32.or (i32.ne (local.get $kind) (i32.const 113)) (i32.eqz (local.get $n)))
      (then (return (local.get $out))))
    (local.set $op (i32.load8_u (local.get $p)))
    (if (i32.eq (local.get $op) (i32.const 114)) ;; 'r'
      (then
        (call $read (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 1))
          (i32.const 0) (i32.const 256))
        (return (call $reply_str (local.get $out) (local.get $pid) (local.get $ref)))))
    (if (i32.eq (local.get $op) (i32.const 119)) ;; 'w'
      (then
        (call $write (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 1))
          (i32.const 144) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 256))
        (return (call $reply_u64 (local.get $out) (local.get $pid) (local.get $ref)))))
    (if (i32.eq (local.get $op) (i32.const 103)) ;; 'g'
      (then
        (call $kv_get (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 1))
          (i32.const 256))
        (return (call $reply_str (local.get $out) (local.get $pid) (local.get $ref)))))
    (if (i32.eq (local.get $op) (i32.const 115)) ;; 's'
      (then
        (local.set $i (i32.const 1))
        (block $found
          (loop $scan
            (br_if $found (i32.ge_u (local.get $i) (local.get $n)))
            (br_if $found (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 61)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $scan)))
        (if (i32.ge_u (local.get $i) (local.get $n)) (then (local.set $i (local.get $n))))
        (call $kv_set
          (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $i) (i32.const 1))
          (i32.add (local.get $p) (i32.add (local.get $i) (i32.const 1)))
          (select (i32.sub (local.get $n) (i32.add (local.get $i) (i32.const 1))) (i32.const 0)
                  (i32.lt_u (local.get $i) (local.get $n)))
          (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $reply_ok (local.get $out) (local.get $pid) (local.get $ref)
                          (i32.const 0) (i32.const 0)))))
        (return (call $reply_err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 260)))))
    (if (i32.eq (local.get $op) (i32.const 116)) ;; 't'
      (then
        (call $now (i32.const 256))
        (return (call $reply_u64 (local.get $out) (local.get $pid) (local.get $ref)))))
    (if (i32.eq (local.get $op) (i32.const 75)) ;; 'K'
      (then
        (local.set $count (i32.wrap_i64 (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 8))))
        (loop $again
          (call $kv_get (i32.add (local.get $p) (i32.const 9)) (i32.sub (local.get $n) (i32.const 9))
            (i32.const 256))
          (local.set $count (i32.sub (local.get $count) (i32.const 1)))
          (br_if $again (i32.gt_s (local.get $count) (i32.const 0))))
        (return (call $reply_str (local.get $out) (local.get $pid) (local.get $ref)))))
    (if (i32.eq (local.get $op) (i32.const 84)) ;; 'T'
      (then
        (local.set $count (i32.wrap_i64 (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 8))))
        (loop $again
          (call $now (i32.const 256))
          (local.set $count (i32.sub (local.get $count) (i32.const 1)))
          (br_if $again (i32.gt_s (local.get $count) (i32.const 0))))
        (return (call $reply_u64 (local.get $out) (local.get $pid) (local.get $ref)))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 136) (i32.const 3)))
)
