;; WebAssembly SIMD kernels for the hot loops of the fingerprints (hand-written; this text is
;; the source, kernels-wasm.js holds its binary, rebuilt by `make wasm` and checked fresh by
;; tests/js/wasm_kernels.test.mjs).
;;
;; Each kernel does exactly the arithmetic of its JavaScript twin, in the same order, so the
;; results are bit-identical (the tests compare them on every vector and on random images):
;;   luma_gray      pixels.js  lumaAndGrayFromWords  PDQ luma f32(R*0.299+G*0.587+B*0.114)
;;                                                   in float64, and Pillow 'L' in integers
;;   interleave4 / deinterleave4                     4x4 transposes (pure data movement)
;;   box_rows4      pdq.js     box1D                 one float32 running sum per sequence;
;;                                                   four rows (or columns) in the four lanes
;;   box_rows4_picked pdq.js   box1DPicked           the same, kept only at sampled columns
;;   col_step       pdq.js     _columnStep           float32 running sums down the columns
;;   dct16          pdq.js     pdqDct16              B = D A D^T in float32, index order
;;   lanczos_h4     resize.js  horizontalRow         Pillow's integer LANCZOS pass
;;   vpass_row      resize.js  mergeResizeParts      its vertical pass, one output row
;;   vacc_row / vclip_row  resize.js  _accumulateRow vertical-first LANCZOS partial sums
;;
;; Float32 lane arithmetic (f32x4.add/sub/div) is IEEE binary32 with round-to-nearest, the
;; same operations pdqhash's C++ `float` code performs, so no fround emulation is needed.
;; The integer LANCZOS sums use i32x4.dot_i16x8_s, which multiplies 16-bit lanes: Pillow's
;; 22-bit coefficients are split as k = hi*2048 + lo (lo in 0..2047) and the two exact sums
;; are recombined in 64-bit integers, so every output equals Pillow's int32 sum.
;;
;; Memory layout is the caller's (wasm.js): it hands in byte addresses; every buffer has
;; slack after it so that 16-byte loads and stores past a row's end stay inside memory.
(module
  (memory (export "memory") 1)

  ;; ---------------------------------------------------------------------------------------
;; luma_gray(src, luma, gray, n): n RGBA pixels (n a multiple of 16; the caller pads) to
  ;; float32 PDQ luma and 8-bit Pillow 'L'. Alpha is ignored by both. Everything is written
  ;; out inline (no calls in the loop), and the channels are picked out of the pixel bytes
  ;; with byte shuffles straight into 32-bit lanes; the int-to-float64 conversions are the
  ;; signed ones (the values are 0..255), which are single instructions where unsigned
  ;; conversions are not.
  (func (export "luma_gray") (param $src i32) (param $luma i32) (param $gray i32) (param $n i32)
    (local $end i32) (local $g v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $g (call $luma_gray4 (v128.load (local.get $src)) (local.get $luma)))
        (v128.store32_lane 0 (local.get $gray)
          (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_u (local.get $g) (local.get $g)) (local.get $g)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $luma (i32.add (local.get $luma) (i32.const 16)))
        (local.set $gray (i32.add (local.get $gray) (i32.const 4)))
        (br $next))))

  ;; gray_only(src, gray, n): the Pillow 'L' half of luma_gray (images too small for PDQ).
  (func (export "gray_only") (param $src i32) (param $gray i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (v128.store (local.get $gray)
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_u (call $gray4 (v128.load offset=0 (local.get $src)))
                                  (call $gray4 (v128.load offset=16 (local.get $src))))
            (i16x8.narrow_i32x4_u (call $gray4 (v128.load offset=32 (local.get $src)))
                                  (call $gray4 (v128.load offset=48 (local.get $src))))))
        (local.set $src (i32.add (local.get $src) (i32.const 64)))
        (local.set $gray (i32.add (local.get $gray) (i32.const 16)))
        (br $next))))

  ;; Four pixels (16 bytes RGBA): stores their PDQ luma at $out and returns their Pillow 'L'
  ;; values as i32 lanes. Luma: the products and the two sums in float64 in numpy's order
  ;; ((R*0.299 + G*0.587) + B*0.114), then one rounding to float32. Grey:
  ;; (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, Pillow's ImagingConvert (L24).
  (func $luma_gray4 (param $p v128) (param $out i32) (result v128)
    (local $z v128) (local $r v128) (local $g v128) (local $b v128)
    ;; byte k of each pixel into the low byte of a 32-bit lane (16..31 pick zero bytes)
    (local.set $r (i8x16.shuffle 0 16 16 16 4 16 16 16 8 16 16 16 12 16 16 16 (local.get $p) (local.get $z)))
    (local.set $g (i8x16.shuffle 1 16 16 16 5 16 16 16 9 16 16 16 13 16 16 16 (local.get $p) (local.get $z)))
    (local.set $b (i8x16.shuffle 2 16 16 16 6 16 16 16 10 16 16 16 14 16 16 16 (local.get $p) (local.get $z)))
    (v128.store (local.get $out)
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero
          (f64x2.add
            (f64x2.add
              (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $r)) (v128.const f64x2 0.299 0.299))
              (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $g)) (v128.const f64x2 0.587 0.587)))
            (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $b)) (v128.const f64x2 0.114 0.114))))
        (f32x4.demote_f64x2_zero
          (f64x2.add
            (f64x2.add
              (f64x2.mul (f64x2.convert_low_i32x4_s
                           (i8x16.shuffle 8 16 16 16 12 16 16 16 16 16 16 16 16 16 16 16 (local.get $p) (local.get $z)))
                         (v128.const f64x2 0.299 0.299))
              (f64x2.mul (f64x2.convert_low_i32x4_s
                           (i8x16.shuffle 9 16 16 16 13 16 16 16 16 16 16 16 16 16 16 16 (local.get $p) (local.get $z)))
                         (v128.const f64x2 0.587 0.587)))
            (f64x2.mul (f64x2.convert_low_i32x4_s
                         (i8x16.shuffle 10 16 16 16 14 16 16 16 16 16 16 16 16 16 16 16 (local.get $p) (local.get $z)))
                       (v128.const f64x2 0.114 0.114))))))
    (i32x4.shr_u
      (i32x4.add
        (i32x4.add
          (i32x4.mul (local.get $r) (v128.const i32x4 19595 19595 19595 19595))
          (i32x4.mul (local.get $g) (v128.const i32x4 38470 38470 38470 38470)))
        (i32x4.add
          (i32x4.mul (local.get $b) (v128.const i32x4 7471 7471 7471 7471))
          (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)))
      (i32.const 16)))

  ;; Pillow's RGB to L of four pixels, as i32 lanes (see $luma_gray4).
  (func $gray4 (param $p v128) (result v128)
    (local $z v128)
    (i32x4.shr_u
      (i32x4.add
        (i32x4.add
          (i32x4.mul (i8x16.shuffle 0 16 16 16 4 16 16 16 8 16 16 16 12 16 16 16 (local.get $p) (local.get $z))
                     (v128.const i32x4 19595 19595 19595 19595))
          (i32x4.mul (i8x16.shuffle 1 16 16 16 5 16 16 16 9 16 16 16 13 16 16 16 (local.get $p) (local.get $z))
                     (v128.const i32x4 38470 38470 38470 38470)))
        (i32x4.add
          (i32x4.mul (i8x16.shuffle 2 16 16 16 6 16 16 16 10 16 16 16 14 16 16 16 (local.get $p) (local.get $z))
                     (v128.const i32x4 7471 7471 7471 7471))
          (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)))
      (i32.const 16)))

  ;; ---------------------------------------------------------------------------------------
  ;; interleave4(s0, s1, s2, s3, dst, w): dst[4x + r] = row r [x] for x < w (rounded up to 4),
  ;; i.e. four float32 rows become one row of 4-lane vectors.
  (func (export "interleave4") (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32)
                               (param $dst i32) (param $w i32)
    (local $i i32) (local $end i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $end (i32.shl (local.get $w) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $end)))
        (local.set $a (v128.load (i32.add (local.get $s0) (local.get $i))))
        (local.set $b (v128.load (i32.add (local.get $s1) (local.get $i))))
        (local.set $c (v128.load (i32.add (local.get $s2) (local.get $i))))
        (local.set $d (v128.load (i32.add (local.get $s3) (local.get $i))))
        ;; a0 b0 a1 b1 / a2 b2 a3 b3 / c0 d0 c1 d1 / c2 d2 c3 d3
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d)))
        (v128.store offset=0
          (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=16
          (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=32
          (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=48
          (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; deinterleave4(src, d0, d1, d2, d3, w): the inverse of interleave4. Writes whole vectors,
  ;; so each destination row needs room for w rounded up to 4 floats.
  (func (export "deinterleave4") (param $src i32) (param $d0 i32) (param $d1 i32) (param $d2 i32)
                                 (param $d3 i32) (param $w i32)
    (local $i i32) (local $end i32) (local $s i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $end (i32.shl (local.get $w) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $end)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $a (v128.load offset=0 (local.get $s)))
        (local.set $b (v128.load offset=16 (local.get $s)))
        (local.set $c (v128.load offset=32 (local.get $s)))
        (local.set $d (v128.load offset=48 (local.get $s)))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d)))
        ;; Stores in lane order: when the caller passes the same row twice (a short last
        ;; block), the later lane carries the same values, so nothing is lost.
        (v128.store (i32.add (local.get $d0) (local.get $i))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store (i32.add (local.get $d1) (local.get $i))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store (i32.add (local.get $d2) (local.get $i))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store (i32.add (local.get $d3) (local.get $i))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; ---------------------------------------------------------------------------------------
  ;; box_rows4(inp, out, len, win, step): box1DFloat of pdq/cpp on four sequences at once, one
  ;; per lane: len 4-lane vectors, `step` bytes apart in inp and in out. With step 16 these are
  ;; four interleaved rows (the row passes); with step = a row's size in bytes they are four
  ;; adjacent columns of a row-major matrix (the last column pass). The four phases and the
  ;; float32 rounding after every add and subtract are those of the C++; sum / count is a
  ;; float32 division.
  (func (export "box_rows4") (param $inp i32) (param $out i32) (param $len i32) (param $win i32) (param $step i32)
    (local $half i32) (local $k i32) (local $count i32) (local $ri i32) (local $li i32)
    (local $sum v128) (local $div v128)
    (local.set $half (i32.shr_u (i32.add (local.get $win) (i32.const 2)) (i32.const 1)))
    (local.set $ri (local.get $inp))
    (local.set $li (local.get $inp))
    ;; phase 1: half-1 additions, no output
    (local.set $k (i32.sub (local.get $half) (i32.const 1)))
    (block $e1 (loop $l1
      (br_if $e1 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.add (local.get $sum) (v128.load (local.get $ri))))
      (local.set $ri (i32.add (local.get $ri) (local.get $step)))
      (local.set $count (i32.add (local.get $count) (i32.const 1)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l1)))
    ;; phase 2: win-half+1 additions, growing window
    (local.set $k (i32.add (i32.sub (local.get $win) (local.get $half)) (i32.const 1)))
    (block $e2 (loop $l2
      (br_if $e2 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.add (local.get $sum) (v128.load (local.get $ri))))
      (local.set $ri (i32.add (local.get $ri) (local.get $step)))
      (local.set $count (i32.add (local.get $count) (i32.const 1)))
      (v128.store (local.get $out)
        (f32x4.div (local.get $sum) (f32x4.splat (f32.convert_i32_u (local.get $count)))))
      (local.set $out (i32.add (local.get $out) (local.get $step)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l2)))
    ;; phase 3: len-win steps of a full window: add the right one, then subtract the left one
    (local.set $div (f32x4.splat (f32.convert_i32_u (local.get $count))))
    (local.set $k (i32.sub (local.get $len) (local.get $win)))
    (block $e3 (loop $l3
      (br_if $e3 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.sub (f32x4.add (local.get $sum) (v128.load (local.get $ri))) (v128.load (local.get $li))))
      (local.set $ri (i32.add (local.get $ri) (local.get $step)))
      (local.set $li (i32.add (local.get $li) (local.get $step)))
      (v128.store (local.get $out) (f32x4.div (local.get $sum) (local.get $div)))
      (local.set $out (i32.add (local.get $out) (local.get $step)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l3)))
    ;; phase 4: half-1 subtractions, shrinking window
    (local.set $k (i32.sub (local.get $half) (i32.const 1)))
    (block $e4 (loop $l4
      (br_if $e4 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.sub (local.get $sum) (v128.load (local.get $li))))
      (local.set $li (i32.add (local.get $li) (local.get $step)))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (v128.store (local.get $out)
        (f32x4.div (local.get $sum) (f32x4.splat (f32.convert_i32_u (local.get $count)))))
      (local.set $out (i32.add (local.get $out) (local.get $step)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l4))))

  ;; box_rows4_picked(inp, len, win, picks, npick, out, stride): box_rows4 on four interleaved
  ;; rows, but the output at column x is kept only where x is in the sorted list
  ;; picks[0..npick) (an i32 array; a column may appear more than once): for the p-th pick,
  ;; lane k (row k) goes to the float32 at out + k*stride + 4p, i.e. into row k of a
  ;; row-major matrix with one column per pick. The running sum still visits every column.
  (func (export "box_rows4_picked") (param $inp i32) (param $len i32) (param $win i32)
                                    (param $picks i32) (param $npick i32) (param $out i32) (param $stride i32)
    (local $half i32) (local $k i32) (local $count i32) (local $ri i32) (local $li i32)
    (local $x i32) (local $p i32) (local $next i32)
    (local $sum v128) (local $div v128)
    (local.set $half (i32.shr_u (i32.add (local.get $win) (i32.const 2)) (i32.const 1)))
    (local.set $ri (local.get $inp))
    (local.set $li (local.get $inp))
    (local.set $next (if (result i32) (i32.gt_s (local.get $npick) (i32.const 0))
                       (then (i32.load (local.get $picks))) (else (i32.const -1))))
    (local.set $k (i32.sub (local.get $half) (i32.const 1)))
    (block $e1 (loop $l1
      (br_if $e1 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.add (local.get $sum) (v128.load (local.get $ri))))
      (local.set $ri (i32.add (local.get $ri) (i32.const 16)))
      (local.set $count (i32.add (local.get $count) (i32.const 1)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l1)))
    (local.set $k (i32.add (i32.sub (local.get $win) (local.get $half)) (i32.const 1)))
    (block $e2 (loop $l2
      (br_if $e2 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.add (local.get $sum) (v128.load (local.get $ri))))
      (local.set $ri (i32.add (local.get $ri) (i32.const 16)))
      (local.set $count (i32.add (local.get $count) (i32.const 1)))
      (if (i32.eq (local.get $x) (local.get $next))
        (then
          (local.set $div (f32x4.div (local.get $sum) (f32x4.splat (f32.convert_i32_u (local.get $count)))))
          (local.set $p (call $store_picks (local.get $div) (local.get $x) (local.get $p)
                          (local.get $picks) (local.get $npick) (local.get $out) (local.get $stride)))
          (local.set $next (call $pick_at (local.get $picks) (local.get $p) (local.get $npick)))))
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l2)))
    (local.set $div (f32x4.splat (f32.convert_i32_u (local.get $count))))
    (local.set $k (i32.sub (local.get $len) (local.get $win)))
    (block $e3 (loop $l3
      (br_if $e3 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.sub (f32x4.add (local.get $sum) (v128.load (local.get $ri))) (v128.load (local.get $li))))
      (local.set $ri (i32.add (local.get $ri) (i32.const 16)))
      (local.set $li (i32.add (local.get $li) (i32.const 16)))
      (if (i32.eq (local.get $x) (local.get $next))
        (then
          (local.set $p (call $store_picks (f32x4.div (local.get $sum) (local.get $div)) (local.get $x) (local.get $p)
                          (local.get $picks) (local.get $npick) (local.get $out) (local.get $stride)))
          (local.set $next (call $pick_at (local.get $picks) (local.get $p) (local.get $npick)))))
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l3)))
    (local.set $k (i32.sub (local.get $half) (i32.const 1)))
    (block $e4 (loop $l4
      (br_if $e4 (i32.le_s (local.get $k) (i32.const 0)))
      (local.set $sum (f32x4.sub (local.get $sum) (v128.load (local.get $li))))
      (local.set $li (i32.add (local.get $li) (i32.const 16)))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (if (i32.eq (local.get $x) (local.get $next))
        (then
          (local.set $div (f32x4.div (local.get $sum) (f32x4.splat (f32.convert_i32_u (local.get $count)))))
          (local.set $p (call $store_picks (local.get $div) (local.get $x) (local.get $p)
                          (local.get $picks) (local.get $npick) (local.get $out) (local.get $stride)))
          (local.set $next (call $pick_at (local.get $picks) (local.get $p) (local.get $npick)))))
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br $l4))))

  ;; Store v for every pick equal to x from index p on; returns the next pick index.
  (func $store_picks (param $v v128) (param $x i32) (param $p i32) (param $picks i32) (param $npick i32)
                     (param $out i32) (param $stride i32) (result i32)
    (local $at i32)
    (block $done
      (loop $more
        (br_if $done (i32.ge_s (local.get $p) (local.get $npick)))
        (br_if $done (i32.ne (i32.load (i32.add (local.get $picks) (i32.shl (local.get $p) (i32.const 2)))) (local.get $x)))
        (local.set $at (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 2))))
        (v128.store32_lane 0 (local.get $at) (local.get $v))
        (v128.store32_lane 1 (i32.add (local.get $at) (local.get $stride)) (local.get $v))
        (v128.store32_lane 2 (i32.add (local.get $at) (i32.shl (local.get $stride) (i32.const 1))) (local.get $v))
        (v128.store32_lane 3 (i32.add (local.get $at) (i32.mul (local.get $stride) (i32.const 3))) (local.get $v))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $more)))
    (local.get $p))

  (func $pick_at (param $picks i32) (param $p i32) (param $npick i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $p) (local.get $npick))
      (then (i32.load (i32.add (local.get $picks) (i32.shl (local.get $p) (i32.const 2)))))
      (else (i32.const -1))))

  ;; ---------------------------------------------------------------------------------------
  ;; col_step(new, old, sums, out, w, count, mode): one row of the column pass of
  ;; box1DFloat, all columns at once (sums: the float32 running sums, one per column).
  ;;   mode 0: sums += new                       (phase 1: no output)
  ;;   mode 1: sums += new; out = sums / count   (phase 2)
  ;;   mode 2: sums = (sums + new) - old; out = sums / count   (phase 3)
  ;;   mode 3: sums -= old; out = sums / count   (phase 4)
  ;; count is the window size after this row (the caller keeps it, as the C++ does).
  (func (export "col_step") (param $new i32) (param $old i32) (param $sums i32) (param $out i32)
                            (param $w i32) (param $count i32) (param $mode i32)
    (local $i i32) (local $end i32) (local $s v128) (local $div v128)
    (local.set $end (i32.shl (local.get $w) (i32.const 2)))
    (local.set $div (f32x4.splat (f32.convert_i32_u (local.get $count))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $end)))
        (local.set $s (v128.load (i32.add (local.get $sums) (local.get $i))))
        (if (i32.eq (local.get $mode) (i32.const 2))
          (then
            (local.set $s (f32x4.sub (f32x4.add (local.get $s) (v128.load (i32.add (local.get $new) (local.get $i))))
                                     (v128.load (i32.add (local.get $old) (local.get $i))))))
          (else
            (if (i32.eq (local.get $mode) (i32.const 3))
              (then (local.set $s (f32x4.sub (local.get $s) (v128.load (i32.add (local.get $old) (local.get $i))))))
              (else (local.set $s (f32x4.add (local.get $s) (v128.load (i32.add (local.get $new) (local.get $i)))))))))
        (v128.store (i32.add (local.get $sums) (local.get $i)) (local.get $s))
        (if (local.get $mode)
          (then (v128.store (i32.add (local.get $out) (local.get $i)) (f32x4.div (local.get $s) (local.get $div)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; ---------------------------------------------------------------------------------------
  ;; lanczos_h4(src, sstride, dst, dstride, hi, lo, bounds, nout, kstride): Pillow's
  ;; horizontal 8-bit LANCZOS pass on four rows at once (row r at src + r*sstride, output r
  ;; at dst + r*dstride; a stride of 0 repeats one row). For output o, bounds[2o] is the
  ;; first input column and bounds[2o+1] the number of taps; its coefficients are
  ;; hi/lo[o*kstride ..], 16-bit, zero past the last tap and padded to a multiple of 8, so
  ;; the 8-pixel loads may run past the taps (the caller leaves 8 bytes of slack).
  ;; out = clip8((2^21 + sum(pixel * (hi*2048 + lo))) >> 22), the sum exact in 64 bits.
  (func (export "lanczos_h4") (param $src i32) (param $sstride i32) (param $dst i32) (param $dstride i32)
                              (param $hi i32) (param $lo i32) (param $bounds i32) (param $nout i32) (param $kstride i32)
    (local $o i32) (local $x i32) (local $n i32) (local $kh i32) (local $kl i32) (local $s1 i32) (local $s2 i32) (local $s3 i32)
    (local $kv v128) (local $lv v128) (local $px v128)
    (local $h0 v128) (local $l0 v128) (local $h1 v128) (local $l1 v128)
    (local $h2 v128) (local $l2 v128) (local $h3 v128) (local $l3 v128)
    (local.set $s1 (local.get $sstride))
    (local.set $s2 (i32.shl (local.get $sstride) (i32.const 1)))
    (local.set $s3 (i32.mul (local.get $sstride) (i32.const 3)))
    (block $odone
      (loop $onext
        (br_if $odone (i32.ge_s (local.get $o) (local.get $nout)))
        (local.set $x (i32.add (local.get $src) (i32.load (i32.add (local.get $bounds) (i32.shl (local.get $o) (i32.const 3))))))
        (local.set $n (i32.load offset=4 (i32.add (local.get $bounds) (i32.shl (local.get $o) (i32.const 3)))))
        (local.set $kh (i32.add (local.get $hi) (i32.shl (i32.mul (local.get $o) (local.get $kstride)) (i32.const 1))))
        (local.set $kl (i32.add (local.get $lo) (i32.shl (i32.mul (local.get $o) (local.get $kstride)) (i32.const 1))))
        (local.set $h0 (v128.const i32x4 0 0 0 0)) (local.set $l0 (v128.const i32x4 0 0 0 0))
        (local.set $h1 (v128.const i32x4 0 0 0 0)) (local.set $l1 (v128.const i32x4 0 0 0 0))
        (local.set $h2 (v128.const i32x4 0 0 0 0)) (local.set $l2 (v128.const i32x4 0 0 0 0))
        (local.set $h3 (v128.const i32x4 0 0 0 0)) (local.set $l3 (v128.const i32x4 0 0 0 0))
        (block $tdone
          (loop $tnext
            (br_if $tdone (i32.le_s (local.get $n) (i32.const 0)))
            (local.set $kv (v128.load (local.get $kh)))
            (local.set $lv (v128.load (local.get $kl)))
            (local.set $px (v128.load64_zero (local.get $x)))
            (local.set $px (i16x8.extend_low_i8x16_u (local.get $px)))
            (local.set $h0 (i32x4.add (local.get $h0) (i32x4.dot_i16x8_s (local.get $px) (local.get $kv))))
            (local.set $l0 (i32x4.add (local.get $l0) (i32x4.dot_i16x8_s (local.get $px) (local.get $lv))))
            (local.set $px (i16x8.extend_low_i8x16_u (v128.load64_zero (i32.add (local.get $x) (local.get $s1)))))
            (local.set $h1 (i32x4.add (local.get $h1) (i32x4.dot_i16x8_s (local.get $px) (local.get $kv))))
            (local.set $l1 (i32x4.add (local.get $l1) (i32x4.dot_i16x8_s (local.get $px) (local.get $lv))))
            (local.set $px (i16x8.extend_low_i8x16_u (v128.load64_zero (i32.add (local.get $x) (local.get $s2)))))
            (local.set $h2 (i32x4.add (local.get $h2) (i32x4.dot_i16x8_s (local.get $px) (local.get $kv))))
            (local.set $l2 (i32x4.add (local.get $l2) (i32x4.dot_i16x8_s (local.get $px) (local.get $lv))))
            (local.set $px (i16x8.extend_low_i8x16_u (v128.load64_zero (i32.add (local.get $x) (local.get $s3)))))
            (local.set $h3 (i32x4.add (local.get $h3) (i32x4.dot_i16x8_s (local.get $px) (local.get $kv))))
            (local.set $l3 (i32x4.add (local.get $l3) (i32x4.dot_i16x8_s (local.get $px) (local.get $lv))))
            (local.set $x (i32.add (local.get $x) (i32.const 8)))
            (local.set $kh (i32.add (local.get $kh) (i32.const 16)))
            (local.set $kl (i32.add (local.get $kl) (i32.const 16)))
            (local.set $n (i32.sub (local.get $n) (i32.const 8)))
            (br $tnext)))
        (i32.store8 (i32.add (local.get $dst) (local.get $o)) (call $clip8 (local.get $h0) (local.get $l0)))
        (i32.store8 (i32.add (i32.add (local.get $dst) (local.get $dstride)) (local.get $o))
          (call $clip8 (local.get $h1) (local.get $l1)))
        (i32.store8 (i32.add (i32.add (local.get $dst) (i32.shl (local.get $dstride) (i32.const 1))) (local.get $o))
          (call $clip8 (local.get $h2) (local.get $l2)))
        (i32.store8 (i32.add (i32.add (local.get $dst) (i32.mul (local.get $dstride) (i32.const 3))) (local.get $o))
          (call $clip8 (local.get $h3) (local.get $l3)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $onext))))

  ;; Pillow's clip8 of 2^21 + (sum of the hi lanes)*2048 + (sum of the lo lanes).
  (func $clip8 (param $h v128) (param $l v128) (result i32)
    (local $s i64)
    (local.set $s
      (i64.add
        (i64.add
          (i64.shl
            (i64.add
              (i64.add (i64.extend_i32_s (i32x4.extract_lane 0 (local.get $h))) (i64.extend_i32_s (i32x4.extract_lane 1 (local.get $h))))
              (i64.add (i64.extend_i32_s (i32x4.extract_lane 2 (local.get $h))) (i64.extend_i32_s (i32x4.extract_lane 3 (local.get $h)))))
            (i64.const 11))
          (i64.add
            (i64.add (i64.extend_i32_s (i32x4.extract_lane 0 (local.get $l))) (i64.extend_i32_s (i32x4.extract_lane 1 (local.get $l))))
            (i64.add (i64.extend_i32_s (i32x4.extract_lane 2 (local.get $l))) (i64.extend_i32_s (i32x4.extract_lane 3 (local.get $l))))))
        (i64.const 0x200000)))
    (local.set $s (i64.shr_s (local.get $s) (i64.const 22)))
    (if (result i32) (i64.lt_s (local.get $s) (i64.const 0))
      (then (i32.const 0))
      (else (if (result i32) (i64.gt_s (local.get $s) (i64.const 255))
              (then (i32.const 255))
              (else (i32.wrap_i64 (local.get $s)))))))

  ;; ---------------------------------------------------------------------------------------
  ;; vacc_row(src, acc, w, k): acc[x] += src[x] * k for x < w rounded up to 16 (src: 8-bit
  ;; pixels, acc: int32 sums): one input row's share of one output row of the vertical-first
  ;; LANCZOS pass. Pillow sums these in int32 too, and |sum| stays below 2^31.
  (func (export "vacc_row") (param $src i32) (param $acc i32) (param $w i32) (param $k i32)
    (local $end i32) (local $kv v128) (local $p v128) (local $q v128)
    (local.set $end (i32.add (local.get $src) (local.get $w)))
    (local.set $kv (i32x4.splat (local.get $k)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $p (v128.load (local.get $src)))
        (local.set $q (i16x8.extend_low_i8x16_u (local.get $p)))
        (v128.store offset=0 (local.get $acc)
          (i32x4.add (v128.load offset=0 (local.get $acc)) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $q)) (local.get $kv))))
        (v128.store offset=16 (local.get $acc)
          (i32x4.add (v128.load offset=16 (local.get $acc)) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $q)) (local.get $kv))))
        (local.set $q (i16x8.extend_high_i8x16_u (local.get $p)))
        (v128.store offset=32 (local.get $acc)
          (i32x4.add (v128.load offset=32 (local.get $acc)) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $q)) (local.get $kv))))
        (v128.store offset=48 (local.get $acc)
          (i32x4.add (v128.load offset=48 (local.get $acc)) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $q)) (local.get $kv))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 64)))
        (br $next))))

  ;; vclip_row(acc, dst, w): dst[x] = clip8(2^21 + acc[x]) for x < w rounded up to 16: the
  ;; intermediate 8-bit image of the vertical-first pass.
  (func (export "vclip_row") (param $acc i32) (param $dst i32) (param $w i32)
    (local $end i32) (local $half v128)
    (local.set $end (i32.add (local.get $dst) (local.get $w)))
    (local.set $half (v128.const i32x4 0x200000 0x200000 0x200000 0x200000))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        ;; arithmetic shift, then the saturating narrows clamp to 0..255 exactly as clip8
        (v128.store (local.get $dst)
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s (i32x4.add (v128.load offset=0 (local.get $acc)) (local.get $half)) (i32.const 22))
              (i32x4.shr_s (i32x4.add (v128.load offset=16 (local.get $acc)) (local.get $half)) (i32.const 22)))
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s (i32x4.add (v128.load offset=32 (local.get $acc)) (local.get $half)) (i32.const 22))
              (i32x4.shr_s (i32x4.add (v128.load offset=48 (local.get $acc)) (local.get $half)) (i32.const 22)))))
        (local.set $acc (i32.add (local.get $acc) (i32.const 64)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next))))

  ;; ---------------------------------------------------------------------------------------
  ;; dct16(a, d, dt, t, out): pdq/cpp's dct64To16, B = D A D^T, on a 64x64 float32 matrix a
  ;; (row-major). d is the 16x64 DCT matrix, dt its transpose (64x16), t room for 16x64
  ;; floats, out 16x16. Each dot product is accumulated in float32 in the reference's index
  ;; order k = 0..63, four neighbouring outputs in the four lanes:
  ;;   T[i][j] = sum_k D[i][k] * A[k][j];  B[i][j] = sum_k T[i][k] * D[j][k] = sum_k T[i][k] * DT[k][j]
  (func (export "dct16") (param $a i32) (param $d i32) (param $dt i32) (param $t i32) (param $out i32)
    (local $i i32) (local $j i32) (local $k i32) (local $acc v128)
    (local.set $i (i32.const 0))
    (loop $li
      (local.set $j (i32.const 0))
      (loop $lj
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $lk
          (local.set $acc
            (f32x4.add (local.get $acc)
              (f32x4.mul
                (f32x4.splat (f32.load (i32.add (local.get $d) (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 6)) (local.get $k)) (i32.const 2)))))
                (v128.load (i32.add (local.get $a) (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 6)) (local.get $j)) (i32.const 2)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $lk (i32.lt_s (local.get $k) (i32.const 64))))
        (v128.store (i32.add (local.get $t) (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 6)) (local.get $j)) (i32.const 2)))
          (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br_if $lj (i32.lt_s (local.get $j) (i32.const 64))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $li (i32.lt_s (local.get $i) (i32.const 16))))
    (local.set $i (i32.const 0))
    (loop $mi
      (local.set $j (i32.const 0))
      (loop $mj
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $mk
          (local.set $acc
            (f32x4.add (local.get $acc)
              (f32x4.mul
                (f32x4.splat (f32.load (i32.add (local.get $t) (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 6)) (local.get $k)) (i32.const 2)))))
                (v128.load (i32.add (local.get $dt) (i32.shl (i32.add (i32.shl (local.get $k) (i32.const 4)) (local.get $j)) (i32.const 2)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $mk (i32.lt_s (local.get $k) (i32.const 64))))
        (v128.store (i32.add (local.get $out) (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 4)) (local.get $j)) (i32.const 2)))
          (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br_if $mj (i32.lt_s (local.get $j) (i32.const 16))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $mi (i32.lt_s (local.get $i) (i32.const 16)))))

  ;; vpass_row(src, sstride, coefs, n, dst, w): one output row of Pillow's vertical 8-bit
  ;; LANCZOS pass: dst[x] = clip8((2^21 + sum_t src[t*sstride + x] * coefs[t]) >> 22) for
  ;; x < w rounded up to 16 (coefs: n int32 fixed-point coefficients; the sums are int32
  ;; as in Pillow). Bytes past w are garbage that the next row, or the slack, absorbs.
  (func (export "vpass_row") (param $src i32) (param $sstride i32) (param $coefs i32) (param $n i32)
                             (param $dst i32) (param $w i32)
    (local $x i32) (local $t i32) (local $p i32) (local $kv v128) (local $q v128) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (block $xdone
      (loop $xnext
        (br_if $xdone (i32.ge_s (local.get $x) (local.get $w)))
        (local.set $a0 (v128.const i32x4 0x200000 0x200000 0x200000 0x200000))
        (local.set $a1 (local.get $a0)) (local.set $a2 (local.get $a0)) (local.set $a3 (local.get $a0))
        (local.set $p (i32.add (local.get $src) (local.get $x)))
        (local.set $t (i32.const 0))
        (block $tdone
          (loop $tnext
            (br_if $tdone (i32.ge_s (local.get $t) (local.get $n)))
            (local.set $kv (i32x4.splat (i32.load (i32.add (local.get $coefs) (i32.shl (local.get $t) (i32.const 2))))))
            (local.set $v (v128.load (local.get $p)))
            (local.set $q (i16x8.extend_low_i8x16_u (local.get $v)))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $q)) (local.get $kv))))
            (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $q)) (local.get $kv))))
            (local.set $q (i16x8.extend_high_i8x16_u (local.get $v)))
            (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $q)) (local.get $kv))))
            (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $q)) (local.get $kv))))
            (local.set $p (i32.add (local.get $p) (local.get $sstride)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $tnext)))
        (v128.store (i32.add (local.get $dst) (local.get $x))
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
            (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $xnext))))
)
