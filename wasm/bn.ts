// Batch-norm kernels in AssemblyScript with 128-bit SIMD: f32x4 loads widened to f64x2 for reductions, f32x4
// elementwise.
//
// Pointers are byte offsets into the shared memory; counts are i32. Layouts (see src/kernels/types.ts):
// channels-first ("planes": n·c runs of s contiguous values, vectorized along the run) and
// channels-last ("rows": n·s rows of c contiguous values, vectorized across channels).
// Per-channel f32 constants arrive as blocks of c4 = roundup(c, 4) floats, so a row's vector loads of
// the constants never read past their block.


export * from "./bn-reduce";
export * from "./bn-elemt";
