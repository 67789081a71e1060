;; a core start function that never returns: instantiation itself must be bounded.
(module
  ;;PRELUDE
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func $on_init (param i32 i32) (result i32) (i32.const 0))
  (func $handle (param i32 i64 i64 i32 i32) (param $out i32) (result i32) (local.get $out))
)
