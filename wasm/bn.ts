// bn kernels (AssemblyScript, SIMD). Filled by the owning issue.
export const bn_version: i32 = 0;
