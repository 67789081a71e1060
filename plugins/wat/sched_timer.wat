;; world: actor
;; sched_timer: drives guest timers through the outbox (tests/test_timers*.py).
;; cast "cancel"        -> a `k` frame cancelling the last timer it set
;; any other cast       -> logged as "c0:<payload>;"
;; cast "<digit>...\n<msg>" -> a `t` frame with the next tag (1, 2, ...) and the
;;                          cast payload as the frame's payload
;; cast "bad"           -> a `t` frame whose delay is not a number
;; `i` / `u` frames      -> appended to a log as "i<tag>:<payload>;" or
;;                          "u<tag>:<payload>;" (tags in decimal)
;; call "log"           -> the log
;;HEAP_BASE=16384
(module
  ;;PRELUDE
  (global $last (mut i64) (i64.const 0))
  (global $log_end (mut i32) (i32.const 4096))
  (data (i32.const 128) "cancel")
  (data (i32.const 136) "log")
  (data (i32.const 144) "bad")
  (data (i32.const 152) "x\0ay")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  ;; append kind letter, decimal tag, ':', payload, ';' to the log (at most
  ;; 12 KiB; later entries are dropped)
  (func $log (param $kind i32) (param $ref i64) (param $p i32) (param $n i32)
    (local $at i32)
    (local.set $at (global.get $log_end))
    (if (i32.gt_u (i32.add (i32.add (local.get $at) (local.get $n)) (i32.const 32))
                  (i32.const 16384))
      (then (return)))
    (i32.store8 (local.get $at) (local.get $kind))
    (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (local.set $at (i32.add (local.get $at) (call $dec_put (local.get $at) (local.get $ref))))
    (i32.store8 (local.get $at) (i32.const 58))
    (local.set $at (i32.add (local.get $at) (i32.const 1)))
    (memory.copy (local.get $at) (local.get $p) (local.get $n))
    (local.set $at (i32.add (local.get $at) (local.get $n)))
    (i32.store8 (local.get $at) (i32.const 59))
    (global.set $log_end (i32.add (local.get $at) (i32.const 1))))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99)) ;; 'c'
      (then
        (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 6))
          (then (return (call $frame_put (local.get $out) (i32.const 107) (i64.const 0)
                          (global.get $last) (i32.const 0) (i32.const 0)))))
        (if (i32.eqz (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 3)))
          (then
            (if (i32.or (i32.eqz (local.get $n))
                        (i32.gt_u (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)) (i32.const 9)))
              (then
                (call $log (local.get $kind) (i64.const 0) (local.get $p) (local.get $n))
                (return (local.get $out))))))
        (global.set $last (i64.add (global.get $last) (i64.const 1)))
        (if (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 3))
          (then (return (call $frame_put (local.get $out) (i32.const 116) (i64.const 0)
                          (global.get $last) (i32.const 152) (i32.const 3)))))
        (return (call $frame_put (local.get $out) (i32.const 116) (i64.const 0)
                  (global.get $last) (local.get $p) (local.get $n)))))
    (if (i32.or (i32.eq (local.get $kind) (i32.const 105))   ;; 'i'
                (i32.eq (local.get $kind) (i32.const 117)))  ;; 'u'
      (then
        (call $log (local.get $kind) (local.get $ref) (local.get $p) (local.get $n))
        (return (local.get $out))))
    (if (i32.eq (local.get $kind) (i32.const 113)) ;; 'q'
      (then
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 4096)
                  (i32.sub (global.get $log_end) (i32.const 4096))))))
    (local.get $out))
)
