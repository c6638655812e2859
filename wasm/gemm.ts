// GEMM (AssemblyScript, 128-bit SIMD): a 4×8 register-blocked micro-kernel on strided A and B, and the general
// row-major sgemm over it.

// The micro-kernel computes a 4×8 tile of C = init + A·B over kc steps of the reduction:
//   row r of A is read at a_r + p·aks (bytes), so one kernel serves A row-major (aks = 4, rows K·4 apart),
//   A transposed (aks = M·4, rows 4 apart) and im2col blocks;
//   B row p is 8 contiguous floats at b + p·ldb (two v128 loads), or, with an offset table (tab ≠ 0),
//   at b + tab[p] (bytes, i32): the direct convolution reads shifted rows of a padded image that way.
// 8 f32x4 accumulators + 2 B vectors + 1 splatted A value = 11 of the 16 vector registers, so nothing spills.
// No FMA in base SIMD: mul then add (two roundings, like PyTorch's non-FMA paths).
// Everything down to the tile is @inline: a function call per 4×8 tile cost ≈ 20 % on the tiny-CNN convs.
// TILE, BPACK and the conv geometry are module state: one module instance per thread (as src/kernels loads it).

/** A 4×8 scratch tile for edges (partial rows/columns) and an 8-wide packed B panel for transposed/edge B. */
const TILE: usize = memory.data(4 * 8 * 4, 16);
export const KC: i32 = 256;
const BPACK: usize = memory.data(KC * 8 * 4, 16);

/**
 * C[r][0..8) = alpha·(init_r + Σ_p A[r][p]·B[p][0..8)) + beta·C[r][0..8) for r < 4 (beta = 0 ⇒ C is not read).
 * c rows are ldc bytes apart.
 */
// @ts-ignore: decorator
@inline
export function kernel4x8(
  kc: i32, a0: usize, a1: usize, a2: usize, a3: usize, aks: usize, b: usize, ldb: usize, tab: usize, indirect: bool,
  c: usize, ldc: usize, init0: f32, init1: f32, init2: f32, init3: f32, alpha: f32, beta: f32,
): void {
  let c00 = f32x4.splat(init0), c01 = c00;
  let c10 = f32x4.splat(init1), c11 = c10;
  let c20 = f32x4.splat(init2), c21 = c20;
  let c30 = f32x4.splat(init3), c31 = c30;
  for (let p = 0; p < kc; p++) {
    const bp: usize = indirect ? b + <usize>load<i32>(tab) : b;
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(a0);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(a1);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(a2);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(a3);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    a0 += aks;
    a1 += aks;
    a2 += aks;
    a3 += aks;
    if (indirect) tab += 4;
    else b += ldb;
  }
  const va = f32x4.splat(alpha);
  if (beta == 0) {
    v128.store(c, f32x4.mul(va, c00));
    v128.store(c, f32x4.mul(va, c01), 16);
    v128.store(c + ldc, f32x4.mul(va, c10));
    v128.store(c + ldc, f32x4.mul(va, c11), 16);
    v128.store(c + 2 * ldc, f32x4.mul(va, c20));
    v128.store(c + 2 * ldc, f32x4.mul(va, c21), 16);
    v128.store(c + 3 * ldc, f32x4.mul(va, c30));
    v128.store(c + 3 * ldc, f32x4.mul(va, c31), 16);
  } else {
    const vb = f32x4.splat(beta);
    storeRow(c, va, vb, c00, c01);
    storeRow(c + ldc, va, vb, c10, c11);
    storeRow(c + 2 * ldc, va, vb, c20, c21);
    storeRow(c + 3 * ldc, va, vb, c30, c31);
  }
}

// @ts-ignore: decorator
@inline
function storeRow(c: usize, va: v128, vb: v128, x0: v128, x1: v128): void {
  v128.store(c, f32x4.add(f32x4.mul(va, x0), f32x4.mul(vb, v128.load(c))));
  v128.store(c, f32x4.add(f32x4.mul(va, x1), f32x4.mul(vb, v128.load(c, 16))), 16);
}

/**
 * One 4×8 block of C with mr ≤ 4 valid rows and nr ≤ 8 valid columns; A rows at a0..a3 (callers repeat
 * the last valid row for missing ones: their results are dropped). Full blocks go straight to C; partial
 * ones compute into TILE and copy the valid part out. B must be readable for 8 columns. init (≠ 0):
 * per-row starting values (the bias), read for valid rows only.
 */
// @ts-ignore: decorator
@inline
export function block4x8(
  kc: i32, mr: i32, nr: i32, a0: usize, a1: usize, a2: usize, a3: usize, aks: usize, b: usize, ldb: usize, tab: usize,
  c: usize, ldc: usize, init: usize, alpha: f32, beta: f32,
): void {
  let i0: f32 = 0, i1: f32 = 0, i2: f32 = 0, i3: f32 = 0;
  if (init != 0) {
    i0 = load<f32>(init);
    if (mr > 1) i1 = load<f32>(init, 4);
    if (mr > 2) i2 = load<f32>(init, 8);
    if (mr > 3) i3 = load<f32>(init, 12);
  }
  const full = mr == 4 && nr == 8;
  const cc = full ? c : TILE;
  const lc: usize = full ? ldc : 32;
  if (tab != 0)
    kernel4x8(kc, a0, a1, a2, a3, aks, b, ldb, tab, true, cc, lc, i0, i1, i2, i3, full ? alpha : 1, full ? beta : 0);
  else kernel4x8(kc, a0, a1, a2, a3, aks, b, ldb, 0, false, cc, lc, i0, i1, i2, i3, full ? alpha : 1, full ? beta : 0);
  if (full) return;
  for (let r = 0; r < mr; r++) {
    const crow = c + <usize>r * ldc;
    for (let j = 0; j < nr; j++) {
      const t = alpha * load<f32>(TILE + ((<usize>r * 8 + <usize>j) << 2));
      const dst = crow + (<usize>j << 2);
      store<f32>(dst, beta == 0 ? t : t + beta * load<f32>(dst));
    }
  }
}

/** block4x8 with A rows ars bytes apart starting at a (rows past mr repeat the last valid one). */
// @ts-ignore: decorator
@inline
export function blockStrided(
  kc: i32, mr: i32, nr: i32, a: usize, ars: usize, aks: usize, b: usize, ldb: usize, tab: usize,
  c: usize, ldc: usize, init: usize, alpha: f32, beta: f32,
): void {
  block4x8(kc, mr, nr, a,
    a + <usize>min(1, mr - 1) * ars, a + <usize>min(2, mr - 1) * ars, a + <usize>min(3, mr - 1) * ars,
    aks, b, ldb, tab, c, ldc, init, alpha, beta);
}

/**
 * Copy a kc×nr block of B (element (p, j) at b + p·ps + j·js bytes) into dst as kc rows of 8 floats,
 * zero-padded (dst = 0 ⇒ the static panel, kc ≤ KC). Returns the panel's address.
 */
export function packPanel(kc: i32, nr: i32, b: usize, ps: usize, js: usize, dst0: usize): usize {
  const panel = dst0 == 0 ? BPACK : dst0;
  if (nr == 8 && js == 4) {
    for (let p = 0; p < kc; p++) {
      const dst = panel + (<usize>p << 5);
      const src = b + <usize>p * ps;
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
    }
    return panel;
  }
  for (let p = 0; p < kc; p++) {
    const dst = panel + (<usize>p << 5);
    const src = b + <usize>p * ps;
    for (let j = 0; j < 8; j++) store<f32>(dst + (<usize>j << 2), j < nr ? load<f32>(src + <usize>j * js) : 0);
  }
  return panel;
}

/**
 * C[M×N] = alpha·op(A)·op(B) + beta·C, all row-major
 * (BLAS semantics: beta = 0 never reads C, alpha = 0 never reads A, B).
 */
export function sgemm(
  c: usize, a: usize, b: usize, m: i32, n: i32, k: i32, transA: bool, transB: bool, alpha: f32, beta: f32,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0) {
    for (let i = 0; i < m * n; i++) {
      const p = c + (<usize>i << 2);
      store<f32>(p, beta == 0 ? 0 : beta * load<f32>(p));
    }
    return;
  }
  const ldc = <usize>n << 2;
  // op(A)[i][p] at a + i·ars + p·aks; op(B)[p][j] at b + p·bps + j·bjs.
  const ars: usize = transA ? 4 : <usize>k << 2;
  const aks: usize = transA ? <usize>m << 2 : 4;
  const bps: usize = transB ? 4 : <usize>n << 2;
  const bjs: usize = transB ? <usize>k << 2 : 4;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = min(KC, k - p0);
    const bt = beta;
    const be: f32 = p0 == 0 ? bt : 1;
    for (let j = 0; j < n; j += 8) {
      const nr = min(8, n - j);
      let bp = b + <usize>p0 * bps + <usize>j * bjs;
      let ldb = bps;
      // Pack when B is not 8 contiguous floats per row, or when enough row blocks reuse the contiguous copy
      // (strided rows of a wide B touch a new cache line and TLB page per step).
      if (transB || nr < 8 || m >= 16) {
        bp = packPanel(kc, nr, bp, bps, bjs, 0);
        ldb = 32;
      }
      for (let i = 0; i < m; i += 4) {
        const mr = min(4, m - i);
        blockStrided(kc, mr, nr, a + <usize>i * ars + <usize>p0 * aks, ars, aks, bp, ldb, 0,
          c + <usize>i * ldc + (<usize>j << 2), ldc, 0, alpha, be);
      }
    }
  }
}
