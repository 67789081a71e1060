;; exports only `probe`: a component that is not an actor.
(module
  (memory (export "memory") 1)
  (func (export "probe") (param i32) (result i32) (local.get 0))
)
