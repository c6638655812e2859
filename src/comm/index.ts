// Collectives: process groups over worker threads (shared memory) and TCP, rendezvous, launcher support. OWNER: issue 3.
export type * from './types.js';
