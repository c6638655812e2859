// `syncbn run`'s multi-node flags (--nnodes, --node-rank, --master-addr, --master-port) as spawnProcesses options.
import type { LaunchOptions } from '../comm/launch.js';

export const NODE_FLAGS = ['--nnodes', '--node-rank', '--master-addr', '--master-port'] as const;

type NodeValues = { nnodes?: string; 'node-rank'?: string; 'master-addr'?: string; 'master-port'?: string };

/** The launch options of the multi-node flags; null when none is given; a string is the usage error to print. */
export function nodeOptions(
  v: NodeValues,
): Pick<LaunchOptions, 'nnodes' | 'nodeRank' | 'masterAddr' | 'masterPort'> | string | null {
  if (
    v.nnodes === undefined &&
    v['node-rank'] === undefined &&
    v['master-addr'] === undefined &&
    v['master-port'] === undefined
  )
    return null;
  const int = (flag: string, s: string | undefined, lo: number, hi: number): number | string | undefined => {
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s) || Number(s) < lo || Number(s) > hi)
      return `${flag} must be an integer in [${lo}, ${hi}], received ${JSON.stringify(s)}`;
    return Number(s);
  };
  const nnodes = int('--nnodes', v.nnodes, 1, 65536);
  if (typeof nnodes === 'string') return nnodes;
  const nodeRank = int('--node-rank', v['node-rank'], 0, (nnodes ?? 1) - 1);
  if (typeof nodeRank === 'string') return nodeRank;
  const masterPort = int('--master-port', v['master-port'], 1, 65535);
  if (typeof masterPort === 'string') return masterPort;
  const masterAddr = v['master-addr'];
  if (masterAddr === '') return '--master-addr must not be empty';
  if ((nnodes ?? 1) > 1) {
    const missing = [
      nodeRank === undefined && '--node-rank',
      masterAddr === undefined && '--master-addr',
      masterPort === undefined && '--master-port',
    ].filter(Boolean);
    if (missing.length > 0)
      return `--nnodes ${nnodes} also needs ${missing.join(', ')} (the same address and port on every node)`;
  }
  return { nnodes, nodeRank, masterAddr, masterPort };
}
