// gemm kernels (AssemblyScript, SIMD). Filled by the owning issue.
export const gemm_version: i32 = 0;
