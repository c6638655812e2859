// The kernel contract: one interface, two implementations (plain TypeScript reference, WebAssembly SIMD).
//
// Conventions for every kernel:
// - outputs first, then inputs, then geometry/options;
// - big activations are float32 (`Float32Array`); the fast backend runs on them in place when they
//   live in the wasm heap (src/kernels/wasm/heap.ts) and stages a copy otherwise (correct, slower);
// - per-channel statistics are float64 (`Float64Array`, length C) and every reduction accumulates
//   in float64, so N shards merged equal one batch up to float32 rounding of the inputs;
// - kernels validate nothing: the layer/op that calls them validates shapes once (src/nn, src/tensor).

/**
 * A batch-norm activation seen as (n, c, s): n samples, c channels, s = product of spatial dims.
 * channelsLast = false: (N, C, *) element (i, ch, j) is at (i*c + ch)*s + j.
 * channelsLast = true:  (N, *, C) element (i, ch, j) is at (i*s + j)*c + ch.
 * The per-channel count is n*s.
 */
export interface BNGeom {
  readonly n: number;
  readonly c: number;
  readonly s: number;
  readonly channelsLast: boolean;
}

/** Batch-norm kernels: per-channel statistics, their merge across shards, normalization and its backward. */
export interface BatchNormKernels {
  /** Local statistics per channel: mean[c] and m2[c] = Σ(x − mean)². Count is n*s (mean=m2=0 when 0). */
  batchNormStats(mean: Float64Array, m2: Float64Array, x: Float32Array, g: BNGeom): void;
  /** The explainer's form: sum[c] = Σx and sumSq[c] = Σx², float64. */
  batchNormSums(sum: Float64Array, sumSq: Float64Array, x: Float32Array, g: BNGeom): void;
  /**
   * Chan's parallel merge of k shards, each (count_k, mean_k[C], m2_k[C]) packed as
   * shards[k] = { count, mean, m2 }. Exact for unequal counts and count-0 shards.
   * Writes mean, biased var (m2/N), unbiased var (m2/(N−1), NaN when N ≤ 1), invstd = 1/sqrt(var + eps).
   * Returns the total count N.
   */
  batchNormGatherStats(
    mean: Float64Array,
    varBiased: Float64Array,
    varUnbiased: Float64Array,
    invstd: Float64Array,
    shards: ReadonlyArray<{ count: number; mean: Float64Array; m2: Float64Array }>,
    eps: number,
  ): number;
  /** y = (x − mean)·invstd·weight + bias; weight/bias null ⇒ 1/0; relu ⇒ y = max(y, 0). */
  batchNormElemt(
    out: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    invstd: Float64Array,
    weight: Float32Array | null,
    bias: Float32Array | null,
    g: BNGeom,
    relu: boolean,
  ): void;
  /**
   * Backward reduction per channel: sumDy[c] = Σdy, sumDyXmu[c] = Σdy·(x − mean[c]).
   * With y (the fused-ReLU forward output) given, dy counts only where y > 0.
   * Then dβ = sumDy and dγ = sumDyXmu·invstd.
   */
  batchNormBackwardReduce(
    sumDy: Float64Array,
    sumDyXmu: Float64Array,
    dy: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    g: BNGeom,
    y: Float32Array | null,
  ): void;
  /**
   * dx = w·invstd·(dy − sumDy/N − (x − mean)·invstd²·sumDyXmu/N), w = weight[c] or 1, N = the global
   * count (all ranks); sumDy/sumDyXmu are the global reductions. With y given, dy is masked by y > 0.
   */
  batchNormBackwardElemt(
    dx: Float32Array,
    dy: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    invstd: Float64Array,
    weight: Float32Array | null,
    sumDy: Float64Array,
    sumDyXmu: Float64Array,
    count: number,
    g: BNGeom,
    y: Float32Array | null,
  ): void;
  /**
   * Running statistics (PyTorch semantics): momentum m ⇒ r = (1 − m)·r + m·batch; momentum null ⇒
   * cumulative average with factor 1/numBatchesTracked (numBatchesTracked already incremented).
   * runningVar takes the unbiased batch variance.
   */
  batchNormUpdateRunning(
    runningMean: Float32Array,
    runningVar: Float32Array,
    mean: Float64Array,
    varUnbiased: Float64Array,
    momentum: number | null,
    numBatchesTracked: number,
  ): void;
}

/**
 * A group-norm activation (N, C, *) seen as (n, c, s), s = product of spatial dims, with `groups`
 * dividing c: group (i, g) is the contiguous run of M = (c/groups)·s elements starting at
 * (i·groups + g)·M. Per-group statistics are Float64Array of length n·groups, index i·groups + g;
 * per-plane backward sums are Float64Array of length n·c, index i·c + ch.
 */
export interface GNGeom {
  readonly n: number;
  readonly c: number;
  readonly s: number;
  readonly groups: number;
}

/** Group-norm kernels: per-(sample, group) statistics, normalization and its backward. */
export interface GroupNormKernels {
  /**
   * Per-(sample, group) statistics over its M = (c/groups)·s elements, float64: mean and
   * invstd = 1/sqrt(biased var + eps). With M = 0: mean 0, invstd 1/sqrt(eps).
   */
  groupNormStats(mean: Float64Array, invstd: Float64Array, x: Float32Array, g: GNGeom, eps: number): void;
  /** y = (x − mean[i,g])·invstd[i,g]·weight[ch] + bias[ch]; weight/bias null ⇒ 1/0. */
  groupNormElemt(
    out: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    invstd: Float64Array,
    weight: Float32Array | null,
    bias: Float32Array | null,
    g: GNGeom,
  ): void;
  /**
   * Backward reduction per (sample, channel) plane: sumDy[i·c+ch] = Σ_s dy and
   * sumDyXmu[i·c+ch] = Σ_s dy·(x − mean[i,g]). Then dβ[ch] = Σ_i sumDy, dγ[ch] = Σ_i sumDyXmu·invstd[i,g].
   */
  groupNormBackwardReduce(
    sumDy: Float64Array,
    sumDyXmu: Float64Array,
    dy: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    g: GNGeom,
  ): void;
  /**
   * dx = invstd·(γ·dy − A/M) − (x − mean)·invstd³·B/M per group (i, g), with the group sums
   * A = Σ_ch γ_ch·sumDy[i,ch] and B = Σ_ch γ_ch·sumDyXmu[i,ch]: the per-group form of
   * dx = invstd·(g − mean(g) − x̂·mean(g·x̂)), g = γ·dy, x̂ = (x − mean)·invstd. weight null ⇒ γ = 1.
   */
  groupNormBackwardElemt(
    dx: Float32Array,
    dy: Float32Array,
    x: Float32Array,
    mean: Float64Array,
    invstd: Float64Array,
    weight: Float32Array | null,
    sumDy: Float64Array,
    sumDyXmu: Float64Array,
    g: GNGeom,
  ): void;
}

/** 2-D convolution geometry, NCHW activations, OIHW weights (PyTorch layout), groups divide C and O. */
export interface ConvGeom {
  readonly n: number;
  readonly cIn: number;
  readonly h: number;
  readonly w: number;
  readonly cOut: number;
  readonly kh: number;
  readonly kw: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly groups: number;
  /** output size: floor((h + 2·padH − dilationH·(kh − 1) − 1)/strideH) + 1, same for W */
  readonly outH: number;
  readonly outW: number;
}

/** 2-D pooling geometry over NCHW (max and average; average counts padding like PyTorch's count_include_pad=true). */
export interface PoolGeom {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly kh: number;
  readonly kw: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly outH: number;
  readonly outW: number;
}

/** The rest of the training stack's kernels: GEMM, convolution, pooling, resize, softmax cross-entropy, elementwise. */
export interface NNKernels {
  /** Row-major C[M×N] = alpha·op(A)·op(B) + beta·C; op(A) is M×K (A is K×M if transA), op(B) K×N. */
  gemm(
    c: Float32Array,
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    alpha: number,
    beta: number,
  ): void;
  /** out[N,O,oh,ow] = conv(x[N,C,H,W], w[O,C/g,kh,kw]) + bias[O] (bias may be null). */
  conv2dForward(out: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array | null, g: ConvGeom): void;
  /** dx[N,C,H,W] = convᵀ(dy, w). Overwrites dx. */
  conv2dBackwardInput(dx: Float32Array, dy: Float32Array, weight: Float32Array, g: ConvGeom): void;
  /** dw += correlation(x, dy) (accumulates, like autograd); dbias += Σ dy over N, oh, ow when dbias given. */
  conv2dBackwardWeight(
    dw: Float32Array,
    dbias: Float32Array | null,
    dy: Float32Array,
    x: Float32Array,
    g: ConvGeom,
  ): void;
  /** Max pool; argmax[i] = flat index within the (h·w) plane of the chosen input, for backward. */
  maxPool2dForward(out: Float32Array, argmax: Int32Array, x: Float32Array, g: PoolGeom): void;
  /** dx (zeroed by the kernel) gets dy scattered to argmax positions. */
  maxPool2dBackward(dx: Float32Array, dy: Float32Array, argmax: Int32Array, g: PoolGeom): void;
  /** Average pool (padding counted in the divisor, like count_include_pad=true); out[N,C,oh,ow]. */
  avgPool2dForward(out: Float32Array, x: Float32Array, g: PoolGeom): void;
  /** dx (zeroed by the kernel) gets each dy spread evenly over its window. */
  avgPool2dBackward(dx: Float32Array, dy: Float32Array, g: PoolGeom): void;
  /** Bilinear resize NCHW (align_corners = false, PyTorch's source-index rule). */
  upsampleBilinearForward(
    out: Float32Array,
    x: Float32Array,
    n: number,
    c: number,
    h: number,
    w: number,
    outH: number,
    outW: number,
  ): void;
  /** The adjoint of upsampleBilinearForward: dx (zeroed by the kernel) accumulates dy through the same weights. */
  upsampleBilinearBackward(
    dx: Float32Array,
    dy: Float32Array,
    n: number,
    c: number,
    h: number,
    w: number,
    outH: number,
    outW: number,
  ): void;
  /**
   * Softmax over the k channel planes of (n, k, s) logits (cross-entropy): p[i, c, j] = e^(x − m)/z with
   * m = max_c x[i, c, j] and z = Σ_c e^(x − m), written to mz[i·s + j] and mz[n·s + i·s + j] (length 2·n·s),
   * so the loss at j is m + ln z − x[i, target, j].
   */
  softmaxPlanes(p: Float32Array, mz: Float32Array, x: Float32Array, n: number, k: number, s: number): void;
  /**
   * Cross-entropy's input gradient over (n, k, s): dx[i, c, j] = (p[i, c, j] − [c = t])·w[i·s + j], t = tgt[i·s + j];
   * t < 0 (ignored) ⇒ dx is exactly 0 at every class of that position.
   */
  softmaxPlanesBackward(
    dx: Float32Array,
    p: Float32Array,
    w: Float32Array,
    tgt: Int32Array,
    n: number,
    k: number,
    s: number,
  ): void;
  /** out = a + b (same length). */
  add(out: Float32Array, a: Float32Array, b: Float32Array): void;
  /** y += alpha·x */
  axpy(y: Float32Array, alpha: number, x: Float32Array): void;
  /** out = x·alpha */
  scale(out: Float32Array, x: Float32Array, alpha: number): void;
  /** out = max(x, 0) */
  reluForward(out: Float32Array, x: Float32Array): void;
  /** dx = dy where y > 0 else 0 */
  reluBackward(dx: Float32Array, dy: Float32Array, y: Float32Array): void;
  /** Σ x[start..end) in float64 (the whole array by default; a range avoids a subarray view per call) */
  sum(x: Float32Array, start?: number, end?: number): number;
}

/** A complete backend: every kernel, plus the backend's name. */
export type KernelSet = BatchNormKernels & GroupNormKernels & NNKernels & { readonly name: 'reference' | 'wasm' };
