;; infinite loop: init args "init" spin in init; cast "spin" spins in deliver;
;; calls are echoed (so it answers until it is told to spin).
(module
  ;;PRELUDE
  (data (i32.const 128) "init")
  (data (i32.const 136) "spin")

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
    (if (i32.eq (local.get $kind) (i32.const 113))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (local.get $p) (local.get $n)))))
    (local.get $out))
)
