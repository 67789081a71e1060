;; world: actor
;; initslice_startspin: the core module's start function spins forever, so
;; instantiating it never ends; init and deliver would return at once. It
;; ends only by its deadline or a kill (see tests/test_init_slices.py).
(module
  (memory (export "memory") 1)
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "hostkit:plugin/actor@0.1.0#init") (param i32 i32) (result i32)
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#deliver") (param i32 i32) (result i32)
    (i64.store (i32.const 16) (i64.const 0))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#terminate") (param i32 i32))
)
