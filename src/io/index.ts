// I/O public API: safetensors checkpoints.
export { encodeSafetensors, decodeSafetensors, saveSafetensors, loadSafetensors, saveModule, loadModule } from './safetensors.js';
