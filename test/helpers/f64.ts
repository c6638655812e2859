// Float64 twins of the ops (plain loops, written from the definitions) for finite-difference gradient checks.

export interface A {
  d: Float64Array;
  s: number[];
}
const mk = (s: number[]): A => ({ d: new Float64Array(s.reduce((a, b) => a * b, 1)), s });

export function conv2d(x: A, w: A, b: A | null, st: number, pad: number, dil: number, groups: number): A {
  const [n, c, h, wd] = x.s as [number, number, number, number];
  const [o, cg, kh, kw] = w.s as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad - dil * (kh - 1) - 1) / st) + 1;
  const ow = Math.floor((wd + 2 * pad - dil * (kw - 1) - 1) / st) + 1;
  const y = mk([n, o, oh, ow]);
  const og = o / groups;
  for (let i = 0; i < n; i++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let p = 0; p < oh; p++)
        for (let q = 0; q < ow; q++) {
          let s = b ? b.d[oc]! : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let a = 0; a < kh; a++)
              for (let bb = 0; bb < kw; bb++) {
                const r = p * st - pad + a * dil;
                const cc = q * st - pad + bb * dil;
                if (r < 0 || r >= h || cc < 0 || cc >= wd) continue;
                s += x.d[((i * c + g * cg + ci) * h + r) * wd + cc]! * w.d[((oc * cg + ci) * kh + a) * kw + bb]!;
              }
          y.d[((i * o + oc) * oh + p) * ow + q] = s;
        }
    }
  return y;
}

/** Training-mode batch norm over (N, C, H, W): biased batch variance. */
export function batchNorm(x: A, g: A, b: A, eps: number): A {
  const [n, c] = x.s as [number, number];
  const s = x.d.length / (n * c);
  const y = mk(x.s);
  for (let ch = 0; ch < c; ch++) {
    let m = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) m += x.d[(i * c + ch) * s + j]!;
    m /= n * s;
    let v = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < s; j++) v += (x.d[(i * c + ch) * s + j]! - m) ** 2;
    v /= n * s;
    const inv = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < s; j++) {
        const k = (i * c + ch) * s + j;
        y.d[k] = (x.d[k]! - m) * inv * g.d[ch]! + b.d[ch]!;
      }
  }
  return y;
}

export function relu(x: A): A {
  const y = mk(x.s);
  for (let i = 0; i < y.d.length; i++) y.d[i] = Math.max(0, x.d[i]!);
  return y;
}

export function pool(x: A, k: number, st: number, pad: number, kind: 'max' | 'avg'): A {
  const [n, c, h, w] = x.s as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad - k) / st) + 1;
  const ow = Math.floor((w + 2 * pad - k) / st) + 1;
  const y = mk([n, c, oh, ow]);
  for (let pl = 0; pl < n * c; pl++)
    for (let p = 0; p < oh; p++)
      for (let q = 0; q < ow; q++) {
        let acc = kind === 'max' ? -Infinity : 0;
        for (let a = 0; a < k; a++)
          for (let b = 0; b < k; b++) {
            const r = p * st - pad + a;
            const cc = q * st - pad + b;
            if (r < 0 || r >= h || cc < 0 || cc >= w) continue;
            const v = x.d[(pl * h + r) * w + cc]!;
            acc = kind === 'max' ? Math.max(acc, v) : acc + v;
          }
        y.d[(pl * oh + p) * ow + q] = kind === 'max' ? acc : acc / (k * k);
      }
  return y;
}

/** Bilinear, align_corners=false: src = max(0, (dst + ½)·in/out − ½). */
export function upsample(x: A, oh: number, ow: number): A {
  const [n, c, h, w] = x.s as [number, number, number, number];
  const y = mk([n, c, oh, ow]);
  const src = (d: number, inS: number, outS: number): [number, number, number] => {
    const s = Math.max(0, ((d + 0.5) * inS) / outS - 0.5);
    const i0 = Math.min(Math.floor(s), inS - 1);
    return [i0, Math.min(i0 + 1, inS - 1), s - i0];
  };
  for (let pl = 0; pl < n * c; pl++)
    for (let p = 0; p < oh; p++) {
      const [r0, r1, lr] = src(p, h, oh);
      for (let q = 0; q < ow; q++) {
        const [c0, c1, lc] = src(q, w, ow);
        const at = (r: number, cc: number): number => x.d[(pl * h + r) * w + cc]!;
        y.d[(pl * oh + p) * ow + q] =
          (1 - lr) * ((1 - lc) * at(r0, c0) + lc * at(r0, c1)) + lr * ((1 - lc) * at(r1, c0) + lc * at(r1, c1));
      }
    }
  return y;
}

export function concat1(a: A, b: A): A {
  const [n, ca, h, w] = a.s as [number, number, number, number];
  const cb = b.s[1]!;
  const y = mk([n, ca + cb, h, w]);
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    y.d.set(a.d.subarray(i * ca * hw, (i + 1) * ca * hw), i * (ca + cb) * hw);
    y.d.set(b.d.subarray(i * cb * hw, (i + 1) * cb * hw), (i * (ca + cb) + ca) * hw);
  }
  return y;
}

export function globalAvg(x: A): A {
  const [n, c] = x.s as [number, number];
  const s = x.d.length / (n * c);
  const y = mk([n, c]);
  for (let p = 0; p < n * c; p++) {
    let t = 0;
    for (let j = 0; j < s; j++) t += x.d[p * s + j]!;
    y.d[p] = t / s;
  }
  return y;
}

export function linear(x: A, w: A, b: A): A {
  const [n, i] = x.s as [number, number];
  const o = w.s[0]!;
  const y = mk([n, o]);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < o; j++) {
      let s = b.d[j]!;
      for (let k = 0; k < i; k++) s += x.d[r * i + k]! * w.d[j * i + k]!;
      y.d[r * o + j] = s;
    }
  return y;
}

/** Mean cross-entropy over non-ignored positions of (N, K, *) logits. */
export function crossEntropy(x: A, t: ArrayLike<number>, ignore: number): number {
  const [n, k] = x.s as [number, number];
  const s = x.d.length / (n * k);
  let tot = 0;
  let cnt = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < s; j++) {
      const tg = t[i * s + j]!;
      if (tg === ignore) continue;
      let mx = -Infinity;
      for (let c = 0; c < k; c++) mx = Math.max(mx, x.d[(i * k + c) * s + j]!);
      let z = 0;
      for (let c = 0; c < k; c++) z += Math.exp(x.d[(i * k + c) * s + j]! - mx);
      tot += mx + Math.log(z) - x.d[(i * k + tg) * s + j]!;
      cnt++;
    }
  return tot / cnt;
}
