;; guard_writer: files.write with the contents and encoding the host picks,
;; to test what a write grant's max_size sees.
;; call "<e><path>\n<contents>" with <e> "0" utf8 or "1" base64 ->
;;   files.write(path, contents, e, truncate): "ok" or "err:<error case index>"
;; world: host-caller
(module
  (import "hostkit:host/files@0.1.0" "read" (func $read (param i32 i32 i32 i32)))
  (import "hostkit:host/files@0.1.0" "write" (func $write (param i32 i32 i32 i32 i32 i32 i32)))
  (import "hostkit:host/kv@0.1.0" "get" (func $kv_get (param i32 i32 i32)))
  (import "hostkit:host/kv@0.1.0" "set" (func $kv_set (param i32 i32 i32 i32 i32)))
  (import "hostkit:host/clock@0.1.0" "now-ms" (func $now (param i32)))
  ;;PRELUDE
  (data (i32.const 128) "ok")
  (data (i32.const 136) "err:")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $i i32)
    (if (i32.or (i32.ne (local.get $kind) (i32.const 113)) (i32.lt_u (local.get $n) (i32.const 2)))
      (then (return (local.get $out))))
    (local.set $i (i32.const 1))
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (local.get $i) (local.get $n)))
        (br_if $found (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 10)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (i32.ge_u (local.get $i) (local.get $n)) (then (return (local.get $out))))
    (call $write
      (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $i) (i32.const 1))
      (i32.add (local.get $p) (i32.add (local.get $i) (i32.const 1)))
      (i32.sub (local.get $n) (i32.add (local.get $i) (i32.const 1)))
      (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)) (i32.const 0) (i32.const 256))
    (if (i32.eqz (i32.load8_u (i32.const 256)))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (i32.const 128) (i32.const 2)))))
    (i32.store (i32.const 64) (i32.load (i32.const 136)))
    (i32.store8 (i32.const 68) (i32.add (i32.const 48) (i32.load8_u (i32.const 264))))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (i32.const 64) (i32.const 5)))
)
