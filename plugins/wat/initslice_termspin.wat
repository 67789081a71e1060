;; world: actor
;; initslice_termspin: init traps exits and succeeds; a batch whose first
;; frame is an exit signal (`e`) returns a stop frame `x` "shutdown" (as a
;; supervised gen_server does); anything else is ignored; terminate spins
;; forever, so a graceful stop ends only by the terminate's deadline or a
;; kill (see tests/test_init_slices.py).
(module
  (import "hostkit:plugin/process@0.1.0" "trap-exits" (func $trap_exits (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; the stop frame: kind, pid and ref (16 hex each), length (8 hex), payload
  (data (i32.const 256) "x00000000000000000000000000000000" "00000008" "shutdown")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "hostkit:plugin/actor@0.1.0#init") (param i32 i32) (result i32)
    (drop (call $trap_exits (i32.const 1)))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#deliver") (param $p i32) (param $n i32) (result i32)
    (i64.store (i32.const 16) (i64.const 0))
    (if (i32.and (i32.ne (local.get $n) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $p)) (i32.const 101)))
      (then
        (i32.store (i32.const 16) (i32.const 256))
        (i32.store (i32.const 20) (i32.const 49))))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#terminate") (param i32 i32)
    (loop $forever (br $forever)))
)
