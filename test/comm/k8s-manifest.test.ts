// examples/k8s/syncbn-job.yaml: parses, is an Indexed Job + headless Service, sets only variables initProcessGroup()
// reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { INIT_ENV_VARS, rankFromEnv, rendezvousFromEnv } from '../../src/comm/init.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MANIFEST = join(ROOT, 'examples/k8s/syncbn-job.yaml');

// Parsed YAML: shapes are asserted field by field below.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- navigating untyped YAML; every field read is asserted
type Obj = Record<string, any>;

function load(): { service: Obj; job: Obj } {
  const docs = parseAllDocuments(readFileSync(MANIFEST, 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, [], `YAML errors in ${MANIFEST}`);
  const objs = docs.map((d) => d.toJS() as Obj);
  assert.deepEqual(
    objs.map((o) => `${o.apiVersion} ${o.kind}`),
    ['v1 Service', 'batch/v1 Job'],
  );
  return { service: objs[0]!, job: objs[1]! };
}

test(
  'the Kubernetes manifest: an Indexed Job (parallelism = completions = WORLD_SIZE) behind a headless ' + 'Service',
  () => {
    const { service, job } = load();
    assert.equal(service.spec.clusterIP, 'None');
    assert.equal(service.spec.publishNotReadyAddresses, true);
    assert.deepEqual(service.spec.selector, { 'job-name': job.metadata.name });
    assert.equal(job.spec.completionMode, 'Indexed');
    const pod = job.spec.template.spec;
    assert.equal(pod.subdomain, service.metadata.name);
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.containers.length, 1);
    const env = Object.fromEntries(
      (pod.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
    );
    const world = Number(env.WORLD_SIZE);
    assert.ok(Number.isInteger(world) && world > 1, `WORLD_SIZE=${env.WORLD_SIZE}`);
    assert.equal(job.spec.completions, world);
    assert.equal(job.spec.parallelism, world);
    // Every variable the manifest sets is one initProcessGroup() reads (a typo would be silently ignored otherwise).
    const known = new Set<string>(INIT_ENV_VARS);
    for (const name of Object.keys(env))
      assert.ok(known.has(name), `the manifest sets ${name}, which initProcessGroup() does not read`);
    assert.ok(!('RANK' in env), 'the rank comes from JOB_COMPLETION_INDEX, not a fixed RANK');
    // Rank 0 is pod <job>-0 under the Service's subdomain; the port is the Service's.
    assert.equal(env.MASTER_ADDR, `${job.metadata.name}-0.${service.metadata.name}`);
    assert.equal(Number(env.MASTER_PORT), service.spec.ports[0].port);
    // The token is a file from a Secret volume that only its owner can read.
    const mount = pod.containers[0].volumeMounts.find((m: Obj) => env.SYNCBN_TOKEN_FILE?.startsWith(`${m.mountPath}/`));
    assert.ok(mount !== undefined, `SYNCBN_TOKEN_FILE=${env.SYNCBN_TOKEN_FILE} is not inside a mounted volume`);
    const vol = pod.volumes.find((v: Obj) => v.name === mount.name);
    assert.equal(typeof vol.secret?.secretName, 'string');
    assert.equal(
      vol.secret.defaultMode & 0o077,
      0,
      `defaultMode ${vol.secret.defaultMode} lets group/others read the token`,
    );
    // What a pod with completion index 3 would resolve, through the same functions initProcessGroup() uses.
    for (const index of [0, world - 1]) {
      const podEnv = { ...env, JOB_COMPLETION_INDEX: String(index) };
      assert.deepEqual(rankFromEnv(podEnv), { rank: index, size: world, localRank: 0, source: 'kubernetes' });
      assert.deepEqual(rendezvousFromEnv('kubernetes', podEnv), {
        masterAddr: env.MASTER_ADDR,
        masterPort: Number(env.MASTER_PORT),
      });
    }
    // The container runs a script the image builds.
    const cmd = pod.containers[0].command as string[];
    assert.equal(cmd[0], 'node');
    assert.match(cmd[1]!, /^dist\/examples\/(.+)\.js$/);
    readFileSync(join(ROOT, cmd[1]!.replace(/^dist\//, '').replace(/\.js$/, '.ts'))); // exists in the sources
    assert.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), /^RUN npm run build$/m);
  },
);
