;; infinite loop: init args "init" spin in init; cast "spin" spins in deliver;
;; cast "burn" runs 20 million loop iterations and returns (a CPU-bound job);
;; calls are echoed (so it answers until it is told to spin).
(module
  ;;PRELUDE
  (data (i32.const 128) "init")
  (data (i32.const 136) "spin")
  (data (i32.const 144) "burn")
  (global $sink (mut i32) (i32.const 0))

  (func $burn (local $i i32)
    (loop $more
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 20000000))))
    (global.set $sink (local.get $i)))

  (func $spin (loop $forever (br $forever)))

  (func $on_init (param $p i32) (param $n i32) (result i32)
    (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 4))
      (then (call $spin)))
    (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.and (i32.eq (local.get $kind) (i32.const 99))
                 (call $eq (local.get $p) (local.get $n) (i32.const 136) (i32.const 4)))
      (then (call $spin)))
    (if (i32.and (i32.eq (local.get $kind) (i32.const 99))
                 (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 4)))
      (then (call $burn)))
    (if (i32.eq (local.get $kind) (i32.const 113))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (local.get $p) (local.get $n)))))
    (local.get $out))
)
