// nn kernels (AssemblyScript, SIMD). Filled by the owning issue.
export const nn_version: i32 = 0;
