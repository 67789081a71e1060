  ;; ---- hostkit WAT prelude (spliced into each guest by plugins/build.py) ----
  ;; Memory map: [0, HEAP_BASE) statics (return area at 16, scratch at 64),
  ;; [HEAP_BASE, ...) a bump heap (HEAP_BASE is 1024 unless the guest says
  ;; ";;HEAP_BASE=<n>") reset after every export returns (post-return).
  ;; A guest defines $on_init (args_ptr args_len -> i32: 0 ok, else error
  ;; string ptr/len written to 64/68) and $handle (kind pid ref pptr plen out
  ;; -> out), and may declare more imports before this prelude.
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const HEAP_BASE))
  (global $out_cap_end (mut i32) (i32.const 0))

  (func $alloc (param $size i32) (param $align i32) (result i32)
    (local $ptr i32) (local $end i32) (local $need i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (local.set $need
          (i32.add
            (i32.div_u
              (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
              (i32.const 65536))
            (i32.const 1)))
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32)
        (param $align i32) (param $new_size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (call $alloc (local.get $new_size) (local.get $align)))
    (if (local.get $old)
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  (func $reset_heap (global.set $heap (i32.const HEAP_BASE)))

  ;; Parse $n lowercase hex digits at $p.
  (func $hex_get (param $p i32) (param $n i32) (result i64)
    (local $v i64) (local $c i32) (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
        (local.set $v
          (i64.or
            (i64.shl (local.get $v) (i64.const 4))
            (i64.extend_i32_u
              (if (result i32) (i32.ge_u (local.get $c) (i32.const 97))
                (then (i32.sub (local.get $c) (i32.const 87)))
                (else (i32.sub (local.get $c) (i32.const 48)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $v))

  ;; Write $v as $n lowercase hex digits at $p.
  (func $hex_put (param $p i32) (param $n i32) (param $v i64)
    (local $d i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (local.set $d (i32.wrap_i64 (i64.and (local.get $v) (i64.const 15))))
        (i32.store8 (i32.add (local.get $p) (local.get $n))
          (i32.add (local.get $d)
            (if (result i32) (i32.ge_u (local.get $d) (i32.const 10))
              (then (i32.const 87)) (else (i32.const 48)))))
        (local.set $v (i64.shr_u (local.get $v) (i64.const 4)))
        (br $next))))

  ;; Append one frame at $out; returns the new end of the outbox.
  (func $frame_put (param $out i32) (param $kind i32) (param $pid i64)
        (param $ref i64) (param $pptr i32) (param $plen i32) (result i32)
    ;; the outbox region is reserved by deliver; overflowing it is a bug: trap
    (if (i32.gt_u (i32.add (i32.add (local.get $out) (i32.const 41)) (local.get $plen))
                  (global.get $out_cap_end))
      (then unreachable))
    (i32.store8 (local.get $out) (local.get $kind))
    (call $hex_put (i32.add (local.get $out) (i32.const 1)) (i32.const 16) (local.get $pid))
    (call $hex_put (i32.add (local.get $out) (i32.const 17)) (i32.const 16) (local.get $ref))
    (call $hex_put (i32.add (local.get $out) (i32.const 33)) (i32.const 8)
      (i64.extend_i32_u (local.get $plen)))
    (memory.copy (i32.add (local.get $out) (i32.const 41)) (local.get $pptr) (local.get $plen))
    (i32.add (i32.add (local.get $out) (i32.const 41)) (local.get $plen)))

  ;; Decimal rendering of $v at $p; returns the length written.
  (func $dec_put (param $p i32) (param $v i64) (result i32)
    (local $n i32) (local $t i64) (local $i i32)
    (local.set $t (local.get $v))
    (loop $count
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $t (i64.div_u (local.get $t) (i64.const 10)))
      (br_if $count (i64.ne (local.get $t) (i64.const 0))))
    (local.set $i (local.get $n))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $p) (local.get $i))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digits (i32.gt_u (local.get $i) (i32.const 0))))
    (local.get $n))

  ;; True when the $len bytes at $p equal the $slen bytes at $s.
  (func $eq (param $p i32) (param $len i32) (param $s i32) (param $slen i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $len) (local.get $slen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $s) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "hostkit:plugin/actor@0.1.0#init") (param $p i32) (param $n i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (if (call $on_init (local.get $p) (local.get $n))
      (then
        (i32.store8 (i32.const 16) (i32.const 1))
        (i32.store (i32.const 20) (i32.load (i32.const 64)))
        (i32.store (i32.const 24) (i32.load (i32.const 68)))))
    (i32.const 16))
  (func (export "cabi_post_hostkit:plugin/actor@0.1.0#init") (param i32) (call $reset_heap))

  (func (export "hostkit:plugin/actor@0.1.0#deliver") (param $p i32) (param $n i32) (result i32)
    (local $end i32) (local $out i32) (local $start i32) (local $plen i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    ;; reserve the outbox up front so strings that imports return (allocated
    ;; through cabi_realloc during the batch) never land inside it
    (local.set $start (call $alloc (i32.add (i32.mul (local.get $n) (i32.const 2)) (i32.const 65536)) (i32.const 1)))
    (global.set $out_cap_end (global.get $heap))
    (local.set $out (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $plen (i32.wrap_i64 (call $hex_get (i32.add (local.get $p) (i32.const 33)) (i32.const 8))))
        (local.set $out
          (call $handle
            (i32.load8_u (local.get $p))
            (call $hex_get (i32.add (local.get $p) (i32.const 1)) (i32.const 16))
            (call $hex_get (i32.add (local.get $p) (i32.const 17)) (i32.const 16))
            (i32.add (local.get $p) (i32.const 41))
            (local.get $plen)
            (local.get $out)))
        (local.set $p (i32.add (i32.add (local.get $p) (i32.const 41)) (local.get $plen)))
        (br $next)))
    (i32.store (i32.const 16) (local.get $start))
    (i32.store (i32.const 20) (i32.sub (local.get $out) (local.get $start)))
    (i32.const 16))
  (func (export "cabi_post_hostkit:plugin/actor@0.1.0#deliver") (param i32) (call $reset_heap))

  (func (export "hostkit:plugin/actor@0.1.0#terminate") (param i32) (param i32)
    (call $reset_heap))
  ;; ---- end of prelude ----
