;; gamemod: a game mod importing the application interface acme:game/world.
;; call "tick"   -> world.tick(), in decimal (a denied tick ends the actor)
;; call "<kind>" -> world.spawn-monster(kind, 3, -4): "ok:<id>" or
;;                  "err:<case index>:<payload>" (denied 0, invalid 1)
(module
  (import "acme:game/world@0.1.0" "spawn-monster" (func $spawn_monster (param i32 i32 i32 i32 i32)))
  (import "acme:game/world@0.1.0" "tick" (func $tick (result i64)))
  ;;PRELUDE
  (data (i32.const 128) "ok:")
  (data (i32.const 136) "err:")
  (data (i32.const 144) "tick")

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $buf i32) (local $len i32) (local $case i32)
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (call $eq (local.get $p) (local.get $n) (i32.const 144) (i32.const 4))
      (then (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid)
                      (local.get $ref) (i32.const 64) (call $dec_put (i32.const 64) (call $tick))))))
    ;; result<u64, error> at 256: case u8 at 0; ok u64 at 8; error case u8 at 8, string at 12/16
    (call $spawn_monster (local.get $p) (local.get $n) (i32.const 3) (i32.const -4) (i32.const 256))
    (if (i32.eqz (i32.load8_u (i32.const 256)))
      (then
        (local.set $buf (call $alloc (i32.const 32) (i32.const 1)))
        (memory.copy (local.get $buf) (i32.const 128) (i32.const 3))
        (local.set $len (call $dec_put (i32.add (local.get $buf) (i32.const 3)) (i64.load (i32.const 264))))
        (return (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
                  (local.get $buf) (i32.add (local.get $len) (i32.const 3))))))
    (local.set $case (i32.load8_u (i32.const 264)))
    (local.set $len (i32.load (i32.const 272)))
    (local.set $buf (call $alloc (i32.add (local.get $len) (i32.const 6)) (i32.const 1)))
    (memory.copy (local.get $buf) (i32.const 136) (i32.const 4))
    (i32.store8 (i32.add (local.get $buf) (i32.const 4)) (i32.add (i32.const 48) (local.get $case)))
    (i32.store8 (i32.add (local.get $buf) (i32.const 5)) (i32.const 58))
    (memory.copy (i32.add (local.get $buf) (i32.const 6)) (i32.load (i32.const 268)) (local.get $len))
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $buf) (i32.add (local.get $len) (i32.const 6))))
)
