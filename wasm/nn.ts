// Pooling, bilinear upsample and elementwise kernels (AssemblyScript, SIMD where the data is contiguous); convolution
// lives in ./conv.
export * from "./conv";

// ---- pooling (NCHW planes; PyTorch semantics, see src/kernels/ref/nn.ts) ----

/** Max pool: −∞ padding, first maximum wins, NaN wins and stops the scan; argmax = index in the h·w plane. */
export function maxPool2dForward(
  out: usize, argmax: usize, x: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, outH: i32, outW: i32,
): void {
  let o: usize = 0;
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * h * w) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - ph;
      const hs = max(h0, 0), he = min(h0 + kh, h);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * sw - pw;
        const ws = max(w0, 0), we = min(w0 + kw, w);
        let best: f32 = -Infinity;
        let idx = hs * w + ws;
        for (let ih = hs; ih < he; ih++) {
          const row = xp + (<usize>(ih * w) << 2);
          for (let iw = ws; iw < we; iw++) {
            const v = load<f32>(row + (<usize>iw << 2));
            if (v > best || v != v) {
              best = v;
              idx = ih * w + iw;
              if (v != v) break;
            }
          }
          if (best != best) break;
        }
        store<f32>(out + (o << 2), best);
        store<i32>(argmax + (o << 2), idx);
        o++;
      }
    }
  }
}

/** dx = 0, then dx[plane][argmax] += dy. */
export function maxPool2dBackward(dx: usize, dy: usize, argmax: usize, planes: i32, hw: i32, outHW: i32): void {
  memory.fill(dx, 0, <usize>(planes * hw) << 2);
  let o: usize = 0;
  for (let p = 0; p < planes; p++) {
    const dp = dx + (<usize>(p * hw) << 2);
    for (let q = 0; q < outHW; q++) {
      const d = dp + (<usize>load<i32>(argmax + (o << 2)) << 2);
      store<f32>(d, load<f32>(d) + load<f32>(dy + (o << 2)));
      o++;
    }
  }
}

/** count_include_pad = true: divide by the window clipped to the padded input (PyTorch). */
export function avgPool2d(
  backward: bool, out: usize, x: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, outH: i32, outW: i32,
): void {
  // forward: out ← x; backward: x is dx (zeroed here), out is dy.
  if (backward) memory.fill(x, 0, <usize>(planes * h * w) << 2);
  let o: usize = 0;
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * h * w) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - ph;
      const h1 = min(h0 + kh, h + ph);
      const hs = max(h0, 0), he = min(h1, h);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * sw - pw;
        const w1 = min(w0 + kw, w + pw);
        const ws = max(w0, 0), we = min(w1, w);
        const inv: f32 = 1 / <f32>((h1 - h0) * (w1 - w0));
        if (backward) {
          const d = load<f32>(out + (o << 2)) * inv;
          for (let ih = hs; ih < he; ih++) {
            const row = xp + (<usize>(ih * w) << 2);
            for (let iw = ws; iw < we; iw++) store<f32>(row + (<usize>iw << 2), load<f32>(row + (<usize>iw << 2)) + d);
          }
        } else {
          let acc: f32 = 0;
          for (let ih = hs; ih < he; ih++) {
            const row = xp + (<usize>(ih * w) << 2);
            for (let iw = ws; iw < we; iw++) acc += load<f32>(row + (<usize>iw << 2));
          }
          store<f32>(out + (o << 2), acc * inv);
        }
        o++;
      }
    }
  }
}

// ---- bilinear upsample, align_corners = false ----

/** PyTorch's source index in float32: src = max(scale·(dst + 0.5) − 0.5, 0), scale = in/out. */
// @ts-ignore: decorator
@inline
function srcIndex(dst: i32, scale: f32): f32 {
  return max<f32>(scale * (<f32>dst + 0.5) - 0.5, 0);
}

// Separable path: per output column its left source column (byte offset) and weight, tabulated once per call; a
// row tmp holds the vertical blend of two input rows (forward) or the horizontal gather of a dy row (backward).
const MAXW: i32 = 4096;
const COL0: usize = memory.data(MAXW * 4, 16);
const COL1: usize = memory.data(MAXW * 4, 16);
const COLW: usize = memory.data(MAXW * 4, 16);
const ROW: usize = memory.data(MAXW * 4, 16);

/** row[0..w) = a·mh + b·lh (SIMD, scalar tail). */
// @ts-ignore: decorator
@inline
function blendRows(row: usize, a: usize, b: usize, mh: f32, lh: f32, w: i32): void {
  const vm = f32x4.splat(mh), vl = f32x4.splat(lh);
  const w4 = <usize>(w & ~3) << 2, end = <usize>w << 2;
  let o: usize = 0;
  for (; o < w4; o += 16) {
    v128.store(row + o, f32x4.add(f32x4.mul(vm, v128.load(a + o)), f32x4.mul(vl, v128.load(b + o))));
  }
  for (; o < end; o += 4) store<f32>(row + o, mh * load<f32>(a + o) + lh * load<f32>(b + o));
}

/** dst[0..w) += row·m (SIMD, scalar tail). */
// @ts-ignore: decorator
@inline
function addScaled(dst: usize, row: usize, m: f32, w: i32): void {
  const vm = f32x4.splat(m);
  const w4 = <usize>(w & ~3) << 2, end = <usize>w << 2;
  let o: usize = 0;
  for (; o < w4; o += 16) v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(vm, v128.load(row + o))));
  for (; o < end; o += 4) store<f32>(dst + o, load<f32>(dst + o) + m * load<f32>(row + o));
}

function upsampleSeparable(
  backward: bool, out: usize, x: usize, planes: i32, h: i32, w: i32, outH: i32, outW: i32,
): void {
  const scaleH: f32 = <f32>h / <f32>outH;
  const scaleW: f32 = <f32>w / <f32>outW;
  for (let ow = 0; ow < outW; ow++) {
    const sW = srcIndex(ow, scaleW);
    const w0 = <i32>sW;
    const t = <usize>ow << 2;
    store<i32>(COL0 + t, w0 << 2);
    store<i32>(COL1 + t, (w0 < w - 1 ? w0 + 1 : w0) << 2);
    store<f32>(COLW + t, sW - <f32>w0);
  }
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * h * w) << 2);
    const op = out + (<usize>(p * outH * outW) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const sH = srcIndex(oh, scaleH);
      const h0 = <i32>sH;
      const h1 = h0 < h - 1 ? h0 + 1 : h0;
      const lh: f32 = sH - <f32>h0;
      const mh: f32 = <f32>1 - lh;
      const r0 = xp + (<usize>(h0 * w) << 2);
      const r1 = xp + (<usize>(h1 * w) << 2);
      const q = op + (<usize>(oh * outW) << 2);
      if (backward) {
        memory.fill(ROW, 0, <usize>w << 2);
        for (let ow = 0; ow < outW; ow++) {
          const t = <usize>ow << 2;
          const d = load<f32>(q + t), lw = load<f32>(COLW + t);
          const a = ROW + <usize>load<i32>(COL0 + t), b = ROW + <usize>load<i32>(COL1 + t);
          store<f32>(a, load<f32>(a) + (<f32>1 - lw) * d);
          store<f32>(b, load<f32>(b) + lw * d);
        }
        addScaled(r0, ROW, mh, w);
        addScaled(r1, ROW, lh, w);
      } else {
        blendRows(ROW, r0, r1, mh, lh, w);
        for (let ow = 0; ow < outW; ow++) {
          const t = <usize>ow << 2;
          const lw = load<f32>(COLW + t);
          const a = load<f32>(ROW + <usize>load<i32>(COL0 + t)), b = load<f32>(ROW + <usize>load<i32>(COL1 + t));
          store<f32>(q + t, (<f32>1 - lw) * a + lw * b);
        }
      }
    }
  }
}

/** Forward (out ← x) or backward (x is dx, zeroed here, gets the scatter of out = dy), per plane. */
export function upsampleBilinear(
  backward: bool, out: usize, x: usize, planes: i32, h: i32, w: i32, outH: i32, outW: i32,
): void {
  if (backward) memory.fill(x, 0, <usize>(planes * h * w) << 2);
  if (w <= MAXW && outW <= MAXW) {
    upsampleSeparable(backward, out, x, planes, h, w, outH, outW);
    return;
  }
  const scaleH: f32 = <f32>h / <f32>outH;
  const scaleW: f32 = <f32>w / <f32>outW;
  for (let p = 0; p < planes; p++) {
    const xp = x + (<usize>(p * h * w) << 2);
    const op = out + (<usize>(p * outH * outW) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const sH = srcIndex(oh, scaleH);
      const h0 = <i32>sH;
      const h1 = h0 < h - 1 ? h0 + 1 : h0;
      const lh: f32 = sH - <f32>h0;
      const mh: f32 = <f32>1 - lh;
      const r0 = xp + (<usize>(h0 * w) << 2);
      const r1 = xp + (<usize>(h1 * w) << 2);
      for (let ow = 0; ow < outW; ow++) {
        const sW = srcIndex(ow, scaleW);
        const w0 = <i32>sW;
        const w1 = w0 < w - 1 ? w0 + 1 : w0;
        const lw: f32 = sW - <f32>w0;
        const mw: f32 = <f32>1 - lw;
        const o0 = <usize>w0 << 2, o1 = <usize>w1 << 2;
        const q = op + (<usize>(oh * outW + ow) << 2);
        if (backward) {
          const d = load<f32>(q);
          const top = mh * d, bot = lh * d;
          store<f32>(r0 + o0, load<f32>(r0 + o0) + mw * top);
          store<f32>(r0 + o1, load<f32>(r0 + o1) + lw * top);
          store<f32>(r1 + o0, load<f32>(r1 + o0) + mw * bot);
          store<f32>(r1 + o1, load<f32>(r1 + o1) + lw * bot);
        } else {
          const top = mw * load<f32>(r0 + o0) + lw * load<f32>(r0 + o1);
          const bot = mw * load<f32>(r1 + o0) + lw * load<f32>(r1 + o1);
          store<f32>(q, mh * top + lh * bot);
        }
      }
    }
  }
}

// ---- softmax over channel planes (cross-entropy) ----

const EXP_LO: f32 = -87.33654; // e^x below this is under float32's smallest normal: the kernel returns 0 there

/**
 * e^x on four lanes (Cephes expf): x = n·ln2 + r with n = round(x/ln2), |r| ≤ ln2/2, ln2 split in two parts so
 * n·ln2 is exact; e^r = 1 + r + r²·P(r) (degree 5, ≈ 1 ulp); 2^n from the exponent bits. NaN stays NaN.
 */
// @ts-ignore: decorator
@inline
function exp4(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(EXP_LO));
  const xc = f32x4.max(x, f32x4.splat(EXP_LO));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let q = f32x4.splat(1.9875691500e-4);
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(1.3981999507e-3));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(8.3334519073e-3));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(4.1665795894e-2));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(1.6666665459e-1));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(5.0000001201e-1));
  q = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q, r), r), r), f32x4.splat(1));
  const two = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(q, two), under);
}

/**
 * Per sample i and position j of (n, k, s) logits: p[i, c, j] = e^(x − m)/z over the k planes, m = max_c x,
 * z = Σ_c e^(x − m), both written to mz[i, j] and mz[n·s + i·s + j] (the caller's loss is m + ln z − x[target]).
 */
export function softmaxPlanes(p: usize, mz: usize, x: usize, n: i32, k: i32, s: i32): void {
  if (k <= 0) return;
  const plane = <usize>s << 2;
  const s4 = <usize>(s & ~3) << 2;
  for (let i = 0; i < n; i++) {
    const xi = x + <usize>i * <usize>k * plane, pi = p + <usize>i * <usize>k * plane;
    const mi = mz + <usize>i * plane, zi = mz + (<usize>n + <usize>i) * plane;
    let j: usize = 0;
    for (; j < s4; j += 16) {
      let m = v128.load(xi + j);
      for (let c = 1; c < k; c++) m = f32x4.max(m, v128.load(xi + <usize>c * plane + j));
      let z = f32x4.splat(0);
      for (let c = 0; c < k; c++) {
        const o = <usize>c * plane + j;
        const e = exp4(f32x4.sub(v128.load(xi + o), m));
        v128.store(pi + o, e);
        z = f32x4.add(z, e);
      }
      const inv = f32x4.div(f32x4.splat(1), z);
      for (let c = 0; c < k; c++) {
        const o = pi + <usize>c * plane + j;
        v128.store(o, f32x4.mul(v128.load(o), inv));
      }
      v128.store(mi + j, m);
      v128.store(zi + j, z);
    }
    for (; j < plane; j += 4) {
      let m = load<f32>(xi + j);
      for (let c = 1; c < k; c++) m = max<f32>(m, load<f32>(xi + <usize>c * plane + j));
      let z: f32 = 0;
      for (let c = 0; c < k; c++) {
        const o = <usize>c * plane + j;
        const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(xi + o) - m)), 0);
        store<f32>(pi + o, e);
        z += e;
      }
      const inv: f32 = <f32>1 / z;
      for (let c = 0; c < k; c++) {
        const o = pi + <usize>c * plane + j;
        store<f32>(o, load<f32>(o) * inv);
      }
      store<f32>(mi + j, m);
      store<f32>(zi + j, z);
    }
  }
}

/**
 * Cross-entropy's input gradient: dx[i, c, j] = (p[i, c, j] − [c = t]) · w[i, j] with t = tgt[i, j]; a negative t
 * (an ignored position) makes the whole column exactly 0, whatever p holds.
 */
export function softmaxPlanesBackward(dx: usize, p: usize, w: usize, tgt: usize, n: i32, k: i32, s: i32): void {
  const plane = <usize>s << 2;
  const s4 = <usize>(s & ~3) << 2;
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  for (let i = 0; i < n; i++) {
    const pi = p + <usize>i * <usize>k * plane, di = dx + <usize>i * <usize>k * plane;
    const wi = w + <usize>i * plane, ti = tgt + <usize>i * plane;
    let j: usize = 0;
    for (; j < s4; j += 16) {
      const t = v128.load(ti + j), wv = v128.load(wi + j);
      const ignored = i32x4.lt_s(t, i32x4.splat(0));
      for (let c = 0; c < k; c++) {
        const o = <usize>c * plane + j;
        const d = v128.bitselect(one, zero, i32x4.eq(t, i32x4.splat(c)));
        v128.store(di + o, v128.andnot(f32x4.mul(f32x4.sub(v128.load(pi + o), d), wv), ignored));
      }
    }
    for (; j < plane; j += 4) {
      const t = load<i32>(ti + j), wv = load<f32>(wi + j);
      for (let c = 0; c < k; c++) {
        const o = <usize>c * plane + j;
        store<f32>(di + o, t < 0 ? 0 : (load<f32>(pi + o) - (c == t ? <f32>1 : 0)) * wv);
      }
    }
  }
}

// ---- elementwise (four lanes at a time, scalar tail) ----

/**
 * op 0: out = a + b; 1: out = a·alpha + b (axpy with out = b); 2: out = a·alpha; 3: out = max(a, 0);
 * 4: out = b where a > 0 else 0.
 */
export function elementwise(op: i32, out: usize, a: usize, b: usize, alpha: f32, n: i32): void {
  // One loop per op (the op test stays out of the loop); f32x4.max and f32.max propagate NaN like torch.relu.
  const va = f32x4.splat(alpha);
  const zero = f32x4.splat(0);
  const n4 = <usize>(n & ~3) << 2;
  const end = <usize>n << 2;
  let o: usize = 0;
  if (op == 0) {
    for (; o < n4; o += 16) v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    for (; o < end; o += 4) store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  } else if (op == 1) {
    for (; o < n4; o += 16) v128.store(out + o, f32x4.add(v128.load(b + o), f32x4.mul(va, v128.load(a + o))));
    for (; o < end; o += 4) store<f32>(out + o, load<f32>(b + o) + alpha * load<f32>(a + o));
  } else if (op == 2) {
    for (; o < n4; o += 16) v128.store(out + o, f32x4.mul(v128.load(a + o), va));
    for (; o < end; o += 4) store<f32>(out + o, load<f32>(a + o) * alpha);
  } else if (op == 3) {
    for (; o < n4; o += 16) v128.store(out + o, f32x4.max(v128.load(a + o), zero));
    for (; o < end; o += 4) store<f32>(out + o, max<f32>(load<f32>(a + o), 0));
  } else {
    for (; o < n4; o += 16) v128.store(out + o, v128.and(v128.load(b + o), f32x4.gt(v128.load(a + o), zero)));
    for (; o < end; o += 4) store<f32>(out + o, load<f32>(a + o) > 0 ? load<f32>(b + o) : 0);
  }
}
