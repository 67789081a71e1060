;; echo/counter: replies to every call with its payload, counts casts.
;; call "count" -> the number of casts seen so far, in decimal
;; call "self"  -> this actor's pid, in decimal (via process.self)
;; cast "stop"  -> stops normally after this batch
;; Also exports `probe(x) = x + self()` for the baseline benchmark.
(module
  (import "hostkit:plugin/process@0.1.0" "self" (func $self (result i64)))
  ;;PRELUDE
  (global $count (mut i64) (i64.const 0))
  (data (i32.const 128) "count")
  (data (i32.const 136) "self")
  (data (i32.const 144) "stop")
  (data (i32.const 152) "normal")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99)) ;; 'c'
      (then
        (global.set $count (i64.add (global.get $count) (i64.const 1)))
        (if (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 4))
          (then (return (call $frame_put (local.get $out) (i32.const 120) (i64.const 0)
                          (i64.const 0) (i32.const 152) (i32.const 6)))))
        (return (local.get $out))))
    (if (i32.eq (local.get $kind) (i32.const 113)) ;; 'q'
      (then
        (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 5))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                          (local.get $ref) (i32.const 64)
                          (call $dec_put (i32.const 64) (global.get $count))))))
        (if (call $eq (local.get $p) (local.get $n) (i32.const 136) (i32.const 4))
          (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                          (local.get $ref) (i32.const 64)
                          (call $dec_put (i32.const 64) (call $self))))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (local.get $p) (local.get $n)))))
    (local.get $out))

  (func (export "probe") (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.wrap_i64 (call $self))))
)
