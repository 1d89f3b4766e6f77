;; GF(2^8) multiply-by-constant and XOR-accumulate kernel, WebAssembly SIMD.
;;
;; Multiplication by a constant c is linear over GF(2), so c*v = c*(v & 0x0f) ^ c*(v & 0xf0).
;; For each constant the caller stores two 16-byte tables, lo[j] = c*j and hi[j] = c*(j<<4); i8x16.swizzle
;; then looks up 16 bytes at once inside registers. No memory address ever depends on secret data
;; (the split-nibble technique of Plank, Greenan & Miller, "Screaming fast Galois field arithmetic
;; using Intel SIMD instructions", FAST 2013, with wasm's swizzle standing in for pshufb).
;;
;; mulsum(dst, src, use_src, base, stride, tables, t, len):
;;   for p in 0, 16, ... < len:
;;     acc = use_src ? src[p..p+16] : 0
;;     for i in 0 .. t-1:
;;       v = base[i*stride + p .. +16]
;;       acc ^= swizzle(lo_i, v & 0x0f) ^ swizzle(hi_i, v >> 4)      ;; lo_i = tables[32i], hi_i = tables[32i+16]
;;     dst[p..p+16] = acc
;; len and stride are multiples of 16 (callers pad). dst may equal src; dst must not overlap base rows.
;;
;; Shamir split: dst = share_j, src = secret, base rows = random coefficients a_1..a_{k-1},
;;   tables = nibble tables of x_j^1 .. x_j^{k-1}.
;; Shamir combine: use_src = 0, base rows = k shares, tables = Lagrange basis values at 0.
;; Positions are processed in blocks of 2 vectors to give the CPU independent work.
(module
  (memory (export "memory") 1)
  (func (export "mulsum")
    (param $dst i32) (param $src i32) (param $use_src i32) (param $base i32) (param $stride i32)
    (param $tables i32) (param $t i32) (param $len i32)
    (local $p i32) (local $i i32) (local $row i32) (local $tab i32)
    (local $acc0 v128) (local $acc1 v128) (local $v0 v128) (local $v1 v128)
    (local $lo v128) (local $hi v128) (local $mask v128)
    (local.set $mask (i8x16.splat (i32.const 15)))
    ;; pairs of vectors
    (block $pairs_done
      (loop $pairs
        (br_if $pairs_done (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $len)))
        (if (local.get $use_src)
          (then
            (local.set $acc0 (v128.load (i32.add (local.get $src) (local.get $p))))
            (local.set $acc1 (v128.load offset=16 (i32.add (local.get $src) (local.get $p)))))
          (else
            (local.set $acc0 (v128.const i64x2 0 0))
            (local.set $acc1 (v128.const i64x2 0 0))))
        (local.set $i (i32.const 0))
        (local.set $row (i32.add (local.get $base) (local.get $p)))
        (local.set $tab (local.get $tables))
        (block $terms_done
          (loop $terms
            (br_if $terms_done (i32.ge_u (local.get $i) (local.get $t)))
            (local.set $lo (v128.load (local.get $tab)))
            (local.set $hi (v128.load offset=16 (local.get $tab)))
            (local.set $v0 (v128.load (local.get $row)))
            (local.set $v1 (v128.load offset=16 (local.get $row)))
            (local.set $acc0
              (v128.xor (local.get $acc0)
                (v128.xor
                  (i8x16.swizzle (local.get $lo) (v128.and (local.get $v0) (local.get $mask)))
                  (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v0) (i32.const 4)) (local.get $mask))))))
            (local.set $acc1
              (v128.xor (local.get $acc1)
                (v128.xor
                  (i8x16.swizzle (local.get $lo) (v128.and (local.get $v1) (local.get $mask)))
                  (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v1) (i32.const 4)) (local.get $mask))))))
            (local.set $row (i32.add (local.get $row) (local.get $stride)))
            (local.set $tab (i32.add (local.get $tab) (i32.const 32)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $terms)))
        (v128.store (i32.add (local.get $dst) (local.get $p)) (local.get $acc0))
        (v128.store offset=16 (i32.add (local.get $dst) (local.get $p)) (local.get $acc1))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $pairs)))
    ;; a last single vector when len is an odd multiple of 16
    (if (i32.lt_u (local.get $p) (local.get $len))
      (then
        (if (local.get $use_src)
          (then (local.set $acc0 (v128.load (i32.add (local.get $src) (local.get $p)))))
          (else (local.set $acc0 (v128.const i64x2 0 0))))
        (local.set $i (i32.const 0))
        (local.set $row (i32.add (local.get $base) (local.get $p)))
        (local.set $tab (local.get $tables))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $i) (local.get $t)))
            (local.set $v0 (v128.load (local.get $row)))
            (local.set $acc0
              (v128.xor (local.get $acc0)
                (v128.xor
                  (i8x16.swizzle (v128.load (local.get $tab)) (v128.and (local.get $v0) (local.get $mask)))
                  (i8x16.swizzle (v128.load offset=16 (local.get $tab)) (v128.and (i16x8.shr_u (local.get $v0) (i32.const 4)) (local.get $mask))))))
            (local.set $row (i32.add (local.get $row) (local.get $stride)))
            (local.set $tab (i32.add (local.get $tab) (i32.const 32)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tail)))
        (v128.store (i32.add (local.get $dst) (local.get $p)) (local.get $acc0))))
  )
  ;; split(dst, dst_stride, src, coef, coef_stride, tables, t, n, len, scratch):
  ;;   share j (at dst + j*dst_stride) = src ^ XOR_i mul(coef row i, constant (j,i)), i < t, j < n.
  ;; Tables of share j, term i at tables + 32*(j*t + i). The nibbles of each coefficient vector are split
  ;; once into `scratch` (128*t bytes) and reused by all n shares, saving two of six vector ops per
  ;; product. 4 vectors (64 bytes) per iteration; len is a multiple of 64.
  (func (export "split")
    (param $dst i32) (param $dst_stride i32) (param $src i32) (param $coef i32) (param $coef_stride i32)
    (param $tables i32) (param $t i32) (param $n i32) (param $len i32) (param $scratch i32)
    (local $p i32) (local $i i32) (local $j i32) (local $row i32) (local $tab i32) (local $sc i32) (local $out i32) (local $srcp i32)
    (local $v v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128) (local $lo v128) (local $hi v128) (local $mask v128)
    (local.set $mask (i8x16.splat (i32.const 15)))
    (block $done
      (loop $positions
        (br_if $done (i32.ge_u (local.get $p) (local.get $len)))
        (local.set $i (i32.const 0))
        (local.set $row (i32.add (local.get $coef) (local.get $p)))
        (local.set $sc (local.get $scratch))
        (block $nib_done
          (loop $nib
            (br_if $nib_done (i32.ge_u (local.get $i) (local.get $t)))
            (local.set $v (v128.load offset=0 (local.get $row)))
            (v128.store offset=0 (local.get $sc) (v128.and (local.get $v) (local.get $mask)))
            (v128.store offset=16 (local.get $sc) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))
            (local.set $v (v128.load offset=16 (local.get $row)))
            (v128.store offset=32 (local.get $sc) (v128.and (local.get $v) (local.get $mask)))
            (v128.store offset=48 (local.get $sc) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))
            (local.set $v (v128.load offset=32 (local.get $row)))
            (v128.store offset=64 (local.get $sc) (v128.and (local.get $v) (local.get $mask)))
            (v128.store offset=80 (local.get $sc) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))
            (local.set $v (v128.load offset=48 (local.get $row)))
            (v128.store offset=96 (local.get $sc) (v128.and (local.get $v) (local.get $mask)))
            (v128.store offset=112 (local.get $sc) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $mask)))
            (local.set $row (i32.add (local.get $row) (local.get $coef_stride)))
            (local.set $sc (i32.add (local.get $sc) (i32.const 128)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $nib)))
        (local.set $srcp (i32.add (local.get $src) (local.get $p)))
        (local.set $tab (local.get $tables))
        (local.set $out (i32.add (local.get $dst) (local.get $p)))
        (local.set $j (i32.const 0))
        (block $shares_done
          (loop $shares
            (br_if $shares_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $acc0 (v128.load offset=0 (local.get $srcp)))
            (local.set $acc1 (v128.load offset=16 (local.get $srcp)))
            (local.set $acc2 (v128.load offset=32 (local.get $srcp)))
            (local.set $acc3 (v128.load offset=48 (local.get $srcp)))
            (local.set $sc (local.get $scratch))
            (local.set $i (i32.const 0))
            (block $terms_done
              (loop $terms
                (br_if $terms_done (i32.ge_u (local.get $i) (local.get $t)))
                (local.set $lo (v128.load (local.get $tab)))
                (local.set $hi (v128.load offset=16 (local.get $tab)))
                (local.set $acc0
                  (v128.xor (local.get $acc0)
                    (v128.xor (i8x16.swizzle (local.get $lo) (v128.load offset=0 (local.get $sc)))
                              (i8x16.swizzle (local.get $hi) (v128.load offset=16 (local.get $sc))))))
                (local.set $acc1
                  (v128.xor (local.get $acc1)
                    (v128.xor (i8x16.swizzle (local.get $lo) (v128.load offset=32 (local.get $sc)))
                              (i8x16.swizzle (local.get $hi) (v128.load offset=48 (local.get $sc))))))
                (local.set $acc2
                  (v128.xor (local.get $acc2)
                    (v128.xor (i8x16.swizzle (local.get $lo) (v128.load offset=64 (local.get $sc)))
                              (i8x16.swizzle (local.get $hi) (v128.load offset=80 (local.get $sc))))))
                (local.set $acc3
                  (v128.xor (local.get $acc3)
                    (v128.xor (i8x16.swizzle (local.get $lo) (v128.load offset=96 (local.get $sc)))
                              (i8x16.swizzle (local.get $hi) (v128.load offset=112 (local.get $sc))))))
                (local.set $tab (i32.add (local.get $tab) (i32.const 32)))
                (local.set $sc (i32.add (local.get $sc) (i32.const 128)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $terms)))
            (v128.store offset=0 (local.get $out) (local.get $acc0))
            (v128.store offset=16 (local.get $out) (local.get $acc1))
            (v128.store offset=32 (local.get $out) (local.get $acc2))
            (v128.store offset=48 (local.get $out) (local.get $acc3))
            (local.set $out (i32.add (local.get $out) (local.get $dst_stride)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $shares)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $positions)))
  )
)
