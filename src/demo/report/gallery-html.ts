// HTML of the gallery: the class legend and, per scene, input · ground truth · each configuration's prediction.
import {
  CLASS_NAMES,
  IGNORE_COLOR,
  IGNORE_INDEX,
  PALETTE,
  type Picture,
  type PredictionKey,
  type Scene,
  hex,
} from './gallery.js';
import { esc } from './escape.js';
import { type Column, NORMS, NORM_LABEL, type Summary, columnLabel, pct } from './summary.js';

/** Display size of a picture: nearest-neighbour upscaled to about 112 px, never shrunk. */
function shown(size: number): number {
  return size * Math.max(1, Math.round(112 / size));
}

function img(p: Picture, alt: string): string {
  const s = shown(p.size);
  return `<img class="px" src="${esc(p.file)}" width="${s}" height="${s}" alt="${esc(alt)}">`;
}

function legend(): string {
  const items = PALETTE.map(
    (c, i) =>
      `<li><span class="swatch" style="background:${hex(c)}"></span>` + `${esc(`${i} · ${CLASS_NAMES[i]}`)}</li>`,
  );
  items.push(
    `<li><span class="swatch" style="background:${hex(IGNORE_COLOR)}"></span>` +
      `${IGNORE_INDEX} · ignored (digit rim)</li>`,
  );
  return `<ul class="legend" aria-label="Colours of the label maps">${items.join('')}</ul>`;
}

/** The column (global batch) of a prediction key: 1 × N·b for the big batch, N × b otherwise. */
function globalBatch(k: PredictionKey, workers: number | null): number | null {
  if (k.norm === 'bigbatch') return k.batchPerWorker;
  return workers === null ? null : workers * k.batchPerWorker;
}

function predictionFigure(scene: Scene, key: string, caption: string): string {
  const p = scene.predictions.get(key)!;
  const acc = p.accuracy === null ? '' : ` (pixel accuracy ${pct(p.accuracy)} %)`;
  const alt =
    `Prediction of ${NORM_LABEL[p.key.norm]} with ${p.key.batchPerWorker} images per worker, ` +
    `scene ${scene.index}${acc}`;
  return `<figure>${img(p.picture, alt)}<figcaption>${esc(caption)}${
    p.accuracy === null ? '' : `<br>${pct(p.accuracy)} %`
  }</figcaption></figure>`;
}

function sceneHtml(scene: Scene, summary: Summary): string {
  const placed = new Set<string>();
  const cols = summary.columns;
  const rows = NORMS.map((norm) => {
    const tds = cols.map((c) => {
      const key = [...scene.predictions.values()].find(
        (p) => p.key.norm === norm && globalBatch(p.key, summary.workers) === c.globalBatch,
      )?.key.key;
      if (key === undefined) return null;
      placed.add(key);
      return `<td>${predictionFigure(
        scene,
        key,
        `${norm === 'bigbatch' ? '1' : summary.workers} × ` + `${scene.predictions.get(key)!.key.batchPerWorker}`,
      )}</td>`;
    });
    if (tds.every((t) => t === null)) return '';
    return `<tr><th scope="row">${esc(NORM_LABEL[norm])}</th>${tds.map((t) => t ?? '<td>—</td>').join('')}</tr>`;
  }).filter((r) => r !== '');
  const colHead = (c: Column): string => (c.perWorker !== null ? `b = ${c.perWorker}` : columnLabel(c));
  const heads = cols.map((c) => `<th scope="col">${esc(colHead(c))}</th>`).join('');
  const inputAlt = `Input image of validation scene ${scene.index}: handwritten digits on a textured background`;
  const truthAlt = `Ground-truth labels of validation scene ${scene.index}`;
  const table =
    rows.length === 0
      ? ''
      : `<div class="scroll"><table class="preds">
<caption>Predictions for scene ${scene.index}</caption>
<thead><tr><th scope="col">normalization</th>${heads}</tr></thead>
<tbody>${rows.join('\n')}</tbody></table></div>`;
  const rest = [...scene.predictions.keys()]
    .filter((k) => !placed.has(k))
    .sort()
    .map((k) => predictionFigure(scene, k, k))
    .join('');
  return `<section class="scene" aria-labelledby="scene-${scene.index}-h">
<h3 id="scene-${scene.index}-h">Scene ${scene.index}</h3>
<div class="scene-inputs">
<figure>${img(scene.input, inputAlt)}<figcaption>input</figcaption></figure>
<figure>${img(scene.truth, truthAlt)}<figcaption>ground truth</figcaption></figure>
${rest}
</div>
${table}
</section>`;
}

/** The gallery section's content; a sentence instead when there are no scenes. */
export function galleryHtml(scenes: readonly Scene[], summary: Summary): string {
  if (scenes.length === 0) return '<p>No validation scenes were saved with this run.</p>';
  const intro =
    '<p>Validation scenes with the prediction of each configuration (first seed), coloured by class; ' +
    'each prediction is labelled with its pixel accuracy on that scene.</p>';
  return `${intro}\n${legend()}\n${scenes.map((s) => sceneHtml(s, summary)).join('\n')}`;
}
