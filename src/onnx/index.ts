// ONNX public API: exportOnnx (trace → ONNX bytes), the structural checker, and the ONNX Runtime loader.
export { exportOnnx, ONNX_OPSETS, type ExportOnnxOptions, type ExportableModule } from './export.js';
export { EXPORTABLE_OPS } from './ops.js';
