// syncbn for browsers (the package's "browser" export): the root API's portable part, spawnThreads over Web Workers.
// Left out, as Node-only: spawnProcesses and launch (processes), checkpoints, .npy/safetensors files, ONNX export.

// The host-independent API, as the package root has it (src/core.ts).
export * from '../core.js';
export { rootCause, formatRankError, type RankError, type RankOutcome } from '../comm/outcome.js';
export { spawnThreads, startThreads, type WebLaunch, type WebLaunchOptions } from './launch.js';
export type { RankBody, RankContext } from './protocol.js';

// The demo's data (the digits must be given: unpackDigits of the /digits.bin `syncbn web` serves).
export * from '../data/digit-scenes.js';
export { SegMetrics, IGNORE_INDEX, argmaxClasses } from '../data/seg-metrics.js';
export { DIGIT_SIDE, packDigits, unpackDigits, type DigitClass } from '../data/digits.js';
