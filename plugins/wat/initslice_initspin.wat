;; world: actor
;; initslice_initspin: init spins forever (whatever its args); deliver
;; ignores everything. Spawned by host code or by a guest, it ends only by
;; its deadline or a kill (see tests/test_init_slices.py).
(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "hostkit:plugin/actor@0.1.0#init") (param i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#deliver") (param i32 i32) (result i32)
    (i64.store (i32.const 16) (i64.const 0))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#terminate") (param i32 i32))
)
