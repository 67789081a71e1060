;; links, monitors and trap-exit from a guest. Received `d` and `e` frames are
;; logged as lines "d <pid hex16> <ref hex16> <reason>" / "e <pid hex16> <reason>".
;; call "link:<hex16>"             -> "ok" or "error:<send-error index>"
;; call "unlink:<hex16>"           -> "ok"
;; call "monitor:<hex16>"          -> the monitor ref (decimal)
;; call "demonitor:<hex16 ref>f|n" -> "1" if it was active, else "0" (f = flush)
;; call "trap:1" / "trap:0"        -> the previous setting, "1" or "0"
;; call "events"                   -> the log
;; cast "crash" -> unreachable; cast "stop" -> stops normally
;;HEAP_BASE=16384
(module
  (import "hostkit:plugin/process@0.1.0" "link" (func $link (param i64 i32)))
  (import "hostkit:plugin/process@0.1.0" "unlink" (func $unlink (param i64)))
  (import "hostkit:plugin/process@0.1.0" "monitor" (func $monitor (param i64) (result i64)))
  (import "hostkit:plugin/process@0.1.0" "demonitor" (func $demonitor (param i64 i32) (result i32)))
  (import "hostkit:plugin/process@0.1.0" "trap-exits" (func $trap_exits (param i32) (result i32)))
  ;;PRELUDE
  (global $log_len (mut i32) (i32.const 0))
  (data (i32.const 128) "link:")
  (data (i32.const 136) "unlink:")
  (data (i32.const 144) "monitor:")
  (data (i32.const 160) "demonitor:")
  (data (i32.const 176) "trap:")
  (data (i32.const 184) "events")
  (data (i32.const 192) "ok")
  (data (i32.const 200) "error:")
  (data (i32.const 208) "crash")
  (data (i32.const 216) "stop")
  (data (i32.const 224) "normal")

  (func $starts (param $p i32) (param $n i32) (param $s i32) (param $slen i32) (result i32)
    (if (i32.lt_u (local.get $n) (local.get $slen)) (then (return (i32.const 0))))
    (call $eq (local.get $p) (local.get $slen) (local.get $s) (local.get $slen)))

  ;; append bytes to the log at [1024, 16384); silently stop when full
  (func $log (param $src i32) (param $len i32)
    (local $at i32)
    (local.set $at (i32.add (i32.const 1024) (global.get $log_len)))
    (if (i32.gt_u (i32.add (local.get $at) (local.get $len)) (i32.const 16384))
      (then (return)))
    (memory.copy (local.get $at) (local.get $src) (local.get $len))
    (global.set $log_len (i32.add (global.get $log_len) (local.get $len))))

  (func $log_byte (param $b i32)
    (i32.store8 (i32.const 96) (local.get $b))
    (call $log (i32.const 96) (i32.const 1)))

  (func $log_hex (param $v i64)
    (call $hex_put (i32.const 96) (i32.const 16) (local.get $v))
    (call $log (i32.const 96) (i32.const 16)))

  (func $reply (param $out i32) (param $pid i64) (param $ref i64) (param $p i32) (param $n i32)
               (result i32)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $p) (local.get $n)))

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.or (i32.eq (local.get $kind) (i32.const 100)) (i32.eq (local.get $kind) (i32.const 101)))
      (then
        (call $log_byte (local.get $kind))
        (call $log_byte (i32.const 32))
        (call $log_hex (local.get $pid))
        (call $log_byte (i32.const 32))
        (if (i32.eq (local.get $kind) (i32.const 100))
          (then (call $log_hex (local.get $ref)) (call $log_byte (i32.const 32))))
        (call $log (local.get $p) (local.get $n))
        (call $log_byte (i32.const 10))
        (return (local.get $out))))
    (if (i32.eq (local.get $kind) (i32.const 99))
      (then
        (if (call $eq (local.get $p) (local.get $n) (i32.const 208) (i32.const 5))
          (then unreachable))
        (if (call $eq (local.get $p) (local.get $n) (i32.const 216) (i32.const 4))
          (then (return (call $frame_put (local.get $out) (i32.const 120) (i64.const 0)
                          (i64.const 0) (i32.const 224) (i32.const 6)))))
        (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 128) (i32.const 5))
      (then
        (call $link (call $hex_get (i32.add (local.get $p) (i32.const 5)) (i32.const 16))
          (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                          (i32.const 192) (i32.const 2)))))
        (memory.copy (i32.const 96) (i32.const 200) (i32.const 6))
        (i32.store8 (i32.const 102) (i32.add (i32.const 48) (i32.load8_u (i32.const 257))))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                  (i32.const 96) (i32.const 7)))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 136) (i32.const 7))
      (then
        (call $unlink (call $hex_get (i32.add (local.get $p) (i32.const 7)) (i32.const 16)))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                  (i32.const 192) (i32.const 2)))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 144) (i32.const 8))
      (then
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 64)
          (call $dec_put (i32.const 64)
            (call $monitor (call $hex_get (i32.add (local.get $p) (i32.const 8)) (i32.const 16))))))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 160) (i32.const 10))
      (then
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 64)
          (call $dec_put (i32.const 64) (i64.extend_i32_u
            (call $demonitor (call $hex_get (i32.add (local.get $p) (i32.const 10)) (i32.const 16))
              (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 26))) (i32.const 102)))))))))
    (if (call $starts (local.get $p) (local.get $n) (i32.const 176) (i32.const 5))
      (then
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (i32.const 64)
          (call $dec_put (i32.const 64) (i64.extend_i32_u
            (call $trap_exits (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 5)))
                                      (i32.const 49)))))))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 184) (i32.const 6))
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (i32.const 1024) (global.get $log_len)))))
    (local.get $out))
)
