// ONNX public API: exportOnnx (trace → ONNX bytes), the structural checker, and the ONNX Runtime loader.
export { exportOnnx, ONNX_OPSETS, type ExportOnnxOptions, type ExportableModule } from './export.js';
export { EXPORTABLE_OPS } from './ops.js';
export { checkOnnxModel, type OnnxModelInfo } from './check.js';
export { OnnxSession, loadOnnxRuntime, type OnnxSessionOptions } from './runtime.js';
