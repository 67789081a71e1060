;; ring member: forwards tokens to the next member.
;; cast "N" + 16 hex  -> set the next member's pid
;; cast "T" + 8 hex   -> a token with that many hops left: forward with one
;;                       hop fewer, or count it as finished at zero
;; call "finished"    -> tokens that finished here, in decimal
(module
  ;;PRELUDE
  (global $next (mut i64) (i64.const 0))
  (global $finished (mut i64) (i64.const 0))
  (data (i32.const 128) "finished")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $hops i64)
    (if (i32.eq (local.get $kind) (i32.const 99)) ;; 'c'
      (then
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 78)) ;; 'N'
          (then
            (global.set $next (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 16)))
            (return (local.get $out))))
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 84)) ;; 'T'
          (then
            (local.set $hops (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 8)))
            (if (i64.eqz (local.get $hops))
              (then
                (global.set $finished (i64.add (global.get $finished) (i64.const 1)))
                (return (local.get $out))))
            (i32.store8 (i32.const 64) (i32.const 84))
            (call $hex_put (i32.const 65) (i32.const 8) (i64.sub (local.get $hops) (i64.const 1)))
            (return (call $frame_put (local.get $out) (i32.const 115) (global.get $next)
                      (i64.const 0) (i32.const 64) (i32.const 9)))))
        (return (local.get $out))))
    (if (i32.eq (local.get $kind) (i32.const 113)) ;; 'q'
      (then
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                  (local.get $ref) (i32.const 64)
                  (call $dec_put (i32.const 64) (global.get $finished))))))
    (local.get $out))
)
