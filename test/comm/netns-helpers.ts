// Network namespaces on one bridge for multi-host tests: n "hosts" with their own addresses, never leaving this
// machine.
import { execFileSync, spawnSync } from 'node:child_process';

/** Why namespaces cannot be used here, or null when they can. */
export function netnsSkipReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (`ip`) is not installed';
  return null;
}

export function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Hosts 0…n−1 (namespaces `${tag}n${r}`, address addrOf(r)/24 on a veth) joined by a bridge in `${tag}nbr`. */
export class Hosts {
  constructor(
    readonly tag: string,
    readonly n: number,
    readonly addrOf: (r: number) => string,
  ) {}

  ns(r: number | 'br'): string {
    return `${this.tag}n${r}`;
  }

  /** The bridge-side end of host r's cable (set it down to cut the cable). */
  cable(r: number): string {
    return `${this.tag}b${r}`;
  }

  setup(): void {
    const { tag } = this;
    ip('netns', 'add', this.ns('br'));
    ip('-n', this.ns('br'), 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.ns('br'), 'link', 'set', 'br0', 'up');
    for (let r = 0; r < this.n; r++) {
      ip('netns', 'add', this.ns(r));
      ip(
        'link',
        'add',
        `${tag}v${r}`,
        'netns',
        this.ns(r),
        'type',
        'veth',
        'peer',
        'name',
        this.cable(r),
        'netns',
        this.ns('br'),
      );
      ip('-n', this.ns('br'), 'link', 'set', this.cable(r), 'master', 'br0');
      ip('-n', this.ns('br'), 'link', 'set', this.cable(r), 'up');
      ip('-n', this.ns(r), 'addr', 'add', `${this.addrOf(r)}/24`, 'dev', `${tag}v${r}`);
      ip('-n', this.ns(r), 'link', 'set', `${tag}v${r}`, 'up');
      ip('-n', this.ns(r), 'link', 'set', 'lo', 'up');
    }
  }

  /** The processes running in host r's namespace. */
  pids(r: number | 'br'): string[] {
    return (spawnSync('ip', ['netns', 'pids', this.ns(r)], { encoding: 'utf8' }).stdout ?? '')
      .split(/\s+/)
      .filter(Boolean);
  }

  /** SIGKILL everything still running in host r (a dead machine, or leftovers of a failed test). */
  kill(r: number | 'br'): void {
    for (const p of this.pids(r)) spawnSync('kill', ['-9', p]);
  }

  teardown(): void {
    for (const r of [...Array(this.n).keys(), 'br' as const]) {
      this.kill(r);
      spawnSync('ip', ['netns', 'del', this.ns(r)], { stdio: 'ignore' });
    }
  }
}
