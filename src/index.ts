// syncbn's root API: what training code is written with. Specialised parts live under subpaths: syncbn/autograd
// (custom ops), syncbn/kernels (raw-array kernels), syncbn/comm (collectives' extras), syncbn/data, syncbn/models,
// syncbn/onnx. Functional ops are the namespace `F` (torch.nn.functional), initializers the namespace `init`.

// The host-independent part (src/core.ts: the browser build exports it too): errors, tensors, layers, losses, `F`,
// `init`, optimizers, SyncBatchNorm, DDP, the sampler, process groups, the model registry.
export * from './core.js';
export { CheckpointMismatchError } from './io/checkpoint.js';

// Launchers (processes and threads), checkpoints, tensors on disk (.npy, safetensors), ONNX export.
export { spawnThreads, spawnProcesses, type LaunchOptions, type RankFn } from './comm/launch.js';
export { launch, type SuperviseOptions, type LaunchResult } from './comm/supervise.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  loadLatestCheckpoint,
  type CheckpointState,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
  type LoadCheckpointOptions,
  type CheckpointManifest,
} from './io/checkpoint.js';
export {
  captureTrainingState,
  restoreTrainingState,
  type CapturedTrainingState,
  type TrainingParts,
  type TrainingProgress,
  type RestoredProgress,
} from './io/checkpoint-state.js';
export { readNpy, writeNpy, parseNpy, formatNpy, type NpyArray, type NpyDtype } from './io/npy.js';
export {
  saveSafetensors,
  loadSafetensors,
  encodeSafetensors,
  decodeSafetensors,
  saveModule,
  loadModule,
} from './io/safetensors.js';
export { exportOnnx, type ExportOnnxOptions, type ExportableModule } from './onnx/export.js';
