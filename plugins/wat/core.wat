;; a plain core module (not a component)
(module (func (export "f")))
