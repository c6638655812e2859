// The report's "Trained model" line: links to the files the run left next to index.html (model.safetensors, .onnx).
import { ValueError, describe } from '../../errors.js';
import type { DemoArtifact } from '../types.js';
import { esc } from './escape.js';

/** A relative href for `path`: each segment percent-encoded (no scheme can sneak in), then attribute-escaped. */
const href = (path: string): string => esc(path.split('/').map(encodeURIComponent).join('/'));

/** `<p id="trained-model">` linking every artifact with its note; '' when there is none. */
export function artifactsHtml(artifacts: readonly DemoArtifact[] | undefined): string {
  if (artifacts === undefined || artifacts.length === 0) return '';
  const items = artifacts.map(
    (a) =>
      `<a href="${href(a.path)}" download>${esc(a.name)}</a>` +
      (a.note === undefined ? '' : ` <span class="sub">(${esc(a.note)})</span>`),
  );
  return `<p class="note" id="trained-model"><strong>Trained model:</strong> ${items.join(' · ')}</p>`;
}

/** ValueError naming the first malformed entry: each needs a name and a relative path inside the report directory. */
export function validateArtifacts(artifacts: unknown): void {
  if (artifacts === undefined) return;
  if (!Array.isArray(artifacts)) {
    throw new ValueError(`writeReport: report.artifacts must be an array, received ${describe(artifacts)}`);
  }
  artifacts.forEach((a: Partial<DemoArtifact> | null, i) => {
    const at = `report.artifacts[${i}]`;
    if (typeof a?.name !== 'string' || a.name === '') {
      throw new ValueError(`writeReport: ${at}.name must be a non-empty string, received ${describe(a?.name)}`);
    }
    const p = a.path;
    if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.split('/').includes('..')) {
      throw new ValueError(
        `writeReport: ${at}.path must be a relative path inside the report directory, received ${describe(p)}`,
      );
    }
    if (a.note !== undefined && typeof a.note !== 'string') {
      throw new ValueError(`writeReport: ${at}.note must be a string, received ${describe(a.note)}`);
    }
  });
}
