;; trapping guest: init args "trap" trap in init; cast "trap" -> unreachable;
;; cast "div" -> integer division by zero; calls are echoed.
(module
  ;;PRELUDE
  (data (i32.const 128) "trap")
  (data (i32.const 136) "div")

  (func $on_init (param $p i32) (param $n i32) (result i32)
    (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 4))
      (then unreachable))
    ;; any other non-empty args: fail init with them as the error string
    (if (local.get $n)
      (then (i32.store (i32.const 64) (local.get $p)) (i32.store (i32.const 68) (local.get $n))
            (return (i32.const 1))))
    (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 99))
      (then
        (if (call $eq (local.get $p) (local.get $n) (i32.const 128) (i32.const 4))
          (then unreachable))
        (if (call $eq (local.get $p) (local.get $n) (i32.const 136) (i32.const 3))
          (then (drop (i32.div_s (i32.const 1) (i32.sub (local.get $n) (i32.const 3))))))))
    (if (i32.eq (local.get $kind) (i32.const 113))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (local.get $p) (local.get $n)))))
    (local.get $out))
)
