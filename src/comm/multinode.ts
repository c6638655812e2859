// Multi-node launching in the torchrun style: which global ranks this launcher starts, and the options it needs.
import { UsageError, describe } from '../errors.js';

/** This launcher's share of the world: global ranks base … base+n−1 of a world of `world`. */
export interface NodeLayout {
  base: number;
  world: number;
}

/** Validate nnodes / nodeRank / masterPort of spawnProcesses' options (eagerly, before anything starts). */
export function checkNodes(
  where: string,
  o: { nnodes?: number; nodeRank?: number; masterPort?: number; masterAddr?: string },
): void {
  const nnodes = o.nnodes ?? 1;
  if (!Number.isInteger(nnodes) || nnodes < 1)
    throw new UsageError(`${where}: nnodes must be a positive integer, received ${describe(o.nnodes)}`);
  const nodeRank = o.nodeRank ?? 0;
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes)
    throw new UsageError(
      `${where}: nodeRank must be an integer in [0, nnodes=${nnodes}), received ${describe(o.nodeRank)}`,
    );
  if (o.masterPort !== undefined && (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535))
    throw new UsageError(`${where}: masterPort must be an integer in [1, 65535], received ${describe(o.masterPort)}`);
  // Every node must find the same rendezvous: nothing can be picked locally.
  if (nnodes > 1 && o.masterPort === undefined)
    throw new UsageError(`${where}: with nnodes=${nnodes} the masterPort must be given (the same on every node)`);
  if (nnodes > 1 && o.masterAddr === undefined)
    throw new UsageError(
      `${where}: with nnodes=${nnodes} the masterAddr must be given (the host of node 0, the same on every node)`,
    );
}

/** Global ranks of this launcher: nodeRank·n … nodeRank·n+n−1 of nnodes·n. */
export function nodeLayout(n: number, o: { nnodes?: number; nodeRank?: number }): NodeLayout {
  const nnodes = o.nnodes ?? 1;
  return { base: (o.nodeRank ?? 0) * n, world: nnodes * n };
}
