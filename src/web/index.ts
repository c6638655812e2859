// syncbn for browsers (the package's "browser" export): the portable core, and spawnThreads over Web Workers.
export * from '../errors.js';
export * from '../kernels/index.js';
export * from '../tensor/index.js';
export * from '../autograd/index.js';
export * from '../nn/index.js';
export * from '../optim/index.js';
export * from '../parallel/index.js';
export * from '../models/index.js';
export * from '../data/digit-scenes.js';
export { SegMetrics, IGNORE_INDEX, argmaxClasses } from '../data/seg-metrics.js';
export { DIGIT_SIDE, packDigits, unpackDigits, type DigitClass } from '../data/digits.js';
export type * from '../comm/types.js';
export { initProcessGroup, type InitOptions } from '../comm/init.js';
export { rootCause, formatRankError, type RankError, type RankOutcome } from '../comm/outcome.js';
export { DEFAULT_TIMEOUT_MS } from '../comm/group.js';
export { FLIGHT_ENTRIES, flightOf, type FlightDump, type FlightEntry } from '../comm/flight.js';
export { spawnThreads, startThreads, type WebLaunch, type WebLaunchOptions } from './launch.js';
export type { RankBody, RankContext } from './protocol.js';
