;; world: raiser
;; initslice_termhook: init succeeds; deliver ignores everything; terminate
;; calls the host import hooks#fail(0) (an async hook in the tests) and
;; returns (see tests/test_init_slices.py).
(module
  (import "hostkit:test/hooks@0.1.0" "fail" (func $fail (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "hostkit:plugin/actor@0.1.0#init") (param i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#deliver") (param i32 i32) (result i32)
    (i64.store (i32.const 16) (i64.const 0))
    (i32.const 16))
  (func (export "hostkit:plugin/actor@0.1.0#terminate") (param i32 i32)
    (drop (call $fail (i32.const 0))))
)
