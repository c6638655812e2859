// syncbn/comm: process groups over worker threads (shared memory) and TCP, rendezvous, launchers, flight recorder.
export type * from './types.js';
export {
  initProcessGroup,
  rankFromEnv,
  expandHostlist,
  INIT_ENV_VARS,
  type InitOptions,
  type RankEnv,
} from './init.js';
export { spawnThreads, spawnProcesses, type LaunchOptions, type RankFn } from './launch.js';
export { launch, type SuperviseOptions, type LaunchResult, type RestartEvent, type StartFailure } from './supervise.js';
export { type StopPolicy } from './stop.js';
export type { EnvSource } from './cluster-env.js';
export { rootCause, formatRankError, type RankError, type RankOutcome } from './outcome.js';
export { DEFAULT_TIMEOUT_MS } from './group.js';
export { TCPStore, type TCPStoreOptions } from './tcp/store.js';
export { FLIGHT_ENTRIES, flightOf, formatFlightSummary, readFlightDir } from './flight.js';
export type { FlightDump, FlightEntry } from './flight.js';
