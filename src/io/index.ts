// I/O public API: safetensors files, atomic writes, training checkpoints.
export {
  encodeSafetensors,
  decodeSafetensors,
  saveSafetensors,
  loadSafetensors,
  saveModule,
  loadModule,
} from './safetensors.js';
export { writeFileAtomic, removeStaleTemps, tempPathFor, STALE_TEMP_MS } from './atomic.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  loadLatestCheckpoint,
  CheckpointMismatchError,
  type CheckpointState,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
  type LoadCheckpointOptions,
  type CheckpointManifest,
} from './checkpoint.js';
export {
  captureTrainingState,
  restoreTrainingState,
  type TrainingParts,
  type TrainingProgress,
  type RestoredProgress,
} from './checkpoint-state.js';
