;; world: fedpg-groups-actor
;;HEAP_BASE=8192
;; fed_groups: a guest in process groups through hostkit:federation/groups
;; (tests/test_federation_guest_groups.py). Commands are calls; the reply on
;; failure is "e<error case index>:<message>" (0 denied, 1 not-found,
;; 2 invalid, 3 too-large, 4 io, 5 timeout, 6 rate-limited, 7 unsupported).
;; "J<group>"             -> join: "ok"
;; "L<group>"             -> leave: "ok"
;; "M<group>"             -> members: "ok:" then 16 hex digits per pid
;; "P<group>\n<payload>"  -> publish: "ok:<8 hex count>"
;; "X<group>"             -> join until refused, in one activation:
;;                           "ok:<8 hex joins made><error case digit>"
;; "G"                    -> "ok:<8 hex messages seen>:<16 hex last sender>:<last payload>"
;; Every message (a `c` or `m` frame) is counted; its first 256 bytes are kept.
(module
  (import "hostkit:federation/groups@0.1.0" "join" (func $join (param i32 i32 i32)))
  (import "hostkit:federation/groups@0.1.0" "leave" (func $leave (param i32 i32 i32)))
  (import "hostkit:federation/groups@0.1.0" "members" (func $members (param i32 i32 i32)))
  (import "hostkit:federation/groups@0.1.0" "publish" (func $publish (param i32 i32 i32 i32 i32)))
  ;;PRELUDE
  (data (i32.const 144) "ok:")
  ;; 200: messages seen (i32); 204: last payload length; 208: last sender (i64);
  ;; 4096..4352: the last payload

  (func $on_init (param i32 i32) (result i32) (i32.const 0))

  (func $reply (param $out i32) (param $pid i64) (param $ref i64) (param $p i32) (param $n i32)
                (result i32)
    (call $frame_put (local.get $out) (i32.const 114) (local.get $pid) (local.get $ref)
      (local.get $p) (local.get $n)))

  ;; the error variant at $at: case byte, then (ptr, len) of its message
  (func $err (param $out i32) (param $pid i64) (param $ref i64) (param $at i32) (result i32)
    (local $case i32) (local $len i32) (local $buf i32)
    (local.set $case (i32.load8_u (local.get $at)))
    (local.set $buf (call $alloc (i32.const 2100) (i32.const 1)))
    (i32.store8 (local.get $buf) (i32.const 101))
    (i32.store8 (i32.add (local.get $buf) (i32.const 1)) (i32.add (i32.const 48) (local.get $case)))
    (i32.store8 (i32.add (local.get $buf) (i32.const 2)) (i32.const 58))
    (if (i32.or (i32.eq (local.get $case) (i32.const 5)) (i32.eq (local.get $case) (i32.const 6)))
      (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                      (local.get $buf) (i32.const 3)))))
    (local.set $len (i32.load (i32.add (local.get $at) (i32.const 8))))
    (if (i32.gt_u (local.get $len) (i32.const 2000)) (then (local.set $len (i32.const 2000))))
    (memory.copy (i32.add (local.get $buf) (i32.const 3))
      (i32.load (i32.add (local.get $at) (i32.const 4))) (local.get $len))
    (call $reply (local.get $out) (local.get $pid) (local.get $ref) (local.get $buf)
      (i32.add (local.get $len) (i32.const 3))))

  ;; "ok:" then $v as 8 hex digits
  (func $ok_u32 (param $out i32) (param $pid i64) (param $ref i64) (param $v i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $alloc (i32.const 11) (i32.const 1)))
    (memory.copy (local.get $buf) (i32.const 144) (i32.const 3))
    (call $hex_put (i32.add (local.get $buf) (i32.const 3)) (i32.const 8)
      (i64.extend_i32_u (local.get $v)))
    (call $reply (local.get $out) (local.get $pid) (local.get $ref) (local.get $buf) (i32.const 11)))

  ;; index of the first newline in [$p, $p+$n), or $n
  (func $nl (param $p i32) (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (br_if $done (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 10)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))

  (func $seen (param $sender i64) (param $p i32) (param $n i32)
    (i32.store (i32.const 200) (i32.add (i32.load (i32.const 200)) (i32.const 1)))
    (if (i32.gt_u (local.get $n) (i32.const 256)) (then (local.set $n (i32.const 256))))
    (i32.store (i32.const 204) (local.get $n))
    (i64.store (i32.const 208) (local.get $sender))
    (memory.copy (i32.const 4096) (local.get $p) (local.get $n)))

  (func $handle (param $kind i32) (param $pid i64) (param $ref i64)
                (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $op i32) (local $g i32) (local $gn i32) (local $buf i32) (local $i i32)
    (local $cnt i32) (local $list i32)
    (if (i32.or (i32.eq (local.get $kind) (i32.const 99)) (i32.eq (local.get $kind) (i32.const 109))) ;; 'c', 'm'
      (then (call $seen (local.get $pid) (local.get $p) (local.get $n)) (return (local.get $out))))
    (if (i32.ne (local.get $kind) (i32.const 113)) (then (return (local.get $out))))
    (if (i32.eqz (local.get $n)) (then (return (local.get $out))))
    (local.set $op (i32.load8_u (local.get $p)))
    (local.set $g (i32.add (local.get $p) (i32.const 1)))
    (local.set $gn (i32.sub (local.get $n) (i32.const 1)))
    (if (i32.eq (local.get $op) (i32.const 71)) ;; 'G'
      (then
        (local.set $buf (call $alloc (i32.const 320) (i32.const 1)))
        (memory.copy (local.get $buf) (i32.const 144) (i32.const 3))
        (call $hex_put (i32.add (local.get $buf) (i32.const 3)) (i32.const 8)
          (i64.extend_i32_u (i32.load (i32.const 200))))
        (i32.store8 (i32.add (local.get $buf) (i32.const 11)) (i32.const 58))
        (call $hex_put (i32.add (local.get $buf) (i32.const 12)) (i32.const 16)
          (i64.load (i32.const 208)))
        (i32.store8 (i32.add (local.get $buf) (i32.const 28)) (i32.const 58))
        (memory.copy (i32.add (local.get $buf) (i32.const 29)) (i32.const 4096)
          (i32.load (i32.const 204)))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (local.get $buf)
                  (i32.add (i32.const 29) (i32.load (i32.const 204)))))))
    (if (i32.or (i32.eq (local.get $op) (i32.const 74)) (i32.eq (local.get $op) (i32.const 76))) ;; 'J' 'L'
      (then
        (if (i32.eq (local.get $op) (i32.const 74))
          (then (call $join (local.get $g) (local.get $gn) (i32.const 256)))
          (else (call $leave (local.get $g) (local.get $gn) (i32.const 256))))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $reply (local.get $out) (local.get $pid) (local.get $ref)
                          (i32.const 144) (i32.const 2)))))
        (return (call $err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 260)))))
    (if (i32.eq (local.get $op) (i32.const 88)) ;; 'X'
      (then
        (block $refused
          (loop $again
            (call $join (local.get $g) (local.get $gn) (i32.const 256))
            (br_if $refused (i32.load8_u (i32.const 256)))
            (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
            (br_if $refused (i32.ge_u (local.get $cnt) (i32.const 10000)))
            (br $again)))
        (local.set $buf (call $alloc (i32.const 12) (i32.const 1)))
        (memory.copy (local.get $buf) (i32.const 144) (i32.const 3))
        (call $hex_put (i32.add (local.get $buf) (i32.const 3)) (i32.const 8)
          (i64.extend_i32_u (local.get $cnt)))
        (i32.store8 (i32.add (local.get $buf) (i32.const 11))
          (i32.add (i32.const 48) (i32.load8_u (i32.const 260))))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (local.get $buf)
                  (i32.const 12)))))
    (if (i32.eq (local.get $op) (i32.const 77)) ;; 'M'
      (then
        (call $members (local.get $g) (local.get $gn) (i32.const 256))
        (if (i32.load8_u (i32.const 256))
          (then (return (call $err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 260)))))
        (local.set $list (i32.load (i32.const 260)))
        (local.set $cnt (i32.load (i32.const 264)))
        (local.set $buf (call $alloc (i32.add (i32.const 3) (i32.mul (local.get $cnt) (i32.const 16)))
                          (i32.const 1)))
        (memory.copy (local.get $buf) (i32.const 144) (i32.const 3))
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $cnt)))
            (call $hex_put
              (i32.add (i32.add (local.get $buf) (i32.const 3)) (i32.mul (local.get $i) (i32.const 16)))
              (i32.const 16)
              (i64.load (i32.add (local.get $list) (i32.mul (local.get $i) (i32.const 8)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (return (call $reply (local.get $out) (local.get $pid) (local.get $ref) (local.get $buf)
                  (i32.add (i32.const 3) (i32.mul (local.get $cnt) (i32.const 16)))))))
    (if (i32.eq (local.get $op) (i32.const 80)) ;; 'P'
      (then
        (local.set $i (call $nl (local.get $g) (local.get $gn)))
        (local.set $buf (i32.add (local.get $g) (local.get $i)))
        (local.set $cnt (i32.sub (local.get $gn) (local.get $i)))
        (if (local.get $cnt) ;; skip the newline
          (then (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
                (local.set $cnt (i32.sub (local.get $cnt) (i32.const 1)))))
        (call $publish (local.get $g) (local.get $i) (local.get $buf) (local.get $cnt) (i32.const 256))
        (if (i32.eqz (i32.load8_u (i32.const 256)))
          (then (return (call $ok_u32 (local.get $out) (local.get $pid) (local.get $ref)
                          (i32.load (i32.const 260))))))
        (return (call $err (local.get $out) (local.get $pid) (local.get $ref) (i32.const 260)))))
    (local.get $out))
)
