// `npm run bench [-- --json] [-- --only kernels,floor,gemm,comm,train,syncbn,demo,onnx,web]`: every benchmark section,
// ratios inside one run.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Reporter } from './util.js';

const SECTIONS = ['kernels', 'floor', 'gemm', 'comm', 'train', 'syncbn', 'demo', 'onnx', 'web'] as const;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const onlyIdx = argv.indexOf('--only');
  const only = onlyIdx >= 0 ? new Set((argv[onlyIdx + 1] ?? '').split(',')) : null;
  const rep = new Reporter(json);
  for (const name of SECTIONS) {
    if (only && !only.has(name)) continue;
    const file = new URL(`./${name}.js`, import.meta.url);
    if (!existsSync(fileURLToPath(file))) continue;
    rep.say(`\n## ${name}`);
    const mod = (await import(file.href)) as { run(rep: Reporter, argv: string[]): Promise<void> };
    await mod.run(rep, argv);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
