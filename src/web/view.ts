/// <reference lib="dom" />
// The page's drawings: inline-SVG line charts and the prediction gallery (canvas), no libraries.
import { DIGIT_SCENE_CLASSES } from '../data/digit-scenes.js';
import { IGNORE_INDEX } from '../data/seg-metrics.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 140;
const PAD = { l: 34, r: 8, t: 8, b: 18 };

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draw y over x = 1…n into `svg` (viewBox 320×140); the y axis spans `lo`…`hi` (default: the data's range). */
export function lineChart(svg: SVGSVGElement, ys: readonly number[], opts: { lo?: number; hi?: number } = {}): void {
  svg.replaceChildren();
  const x0 = PAD.l;
  const x1 = W - PAD.r;
  const y0 = H - PAD.b;
  const y1 = PAD.t;
  svg.append(
    el('line', { class: 'axis', x1: x0, y1: y0, x2: x1, y2: y0 }),
    el('line', { class: 'axis', x1: x0, y1: y0, x2: x0, y2: y1 }),
  );
  if (ys.length === 0) return;
  let lo = opts.lo ?? Math.min(...ys);
  let hi = opts.hi ?? Math.max(...ys);
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const px = (i: number): number => (ys.length === 1 ? (x0 + x1) / 2 : x0 + ((x1 - x0) * i) / (ys.length - 1));
  const py = (v: number): number => y0 - ((y0 - y1) * (v - lo)) / (hi - lo);
  const pts = ys.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
  svg.append(el('polyline', { class: 'line', points: pts }));
  if (ys.length === 1) svg.append(el('circle', { cx: px(0), cy: py(ys[0]!), r: 2.5, fill: '#1f5fa8' }));
  svg.append(
    el('text', { x: 2, y: y1 + 8 }, hi.toPrecision(3)),
    el('text', { x: 2, y: y0 }, lo.toPrecision(3)),
    el('text', { x: x1 - 2, y: H - 4, 'text-anchor': 'end' }, String(ys.length)),
  );
}

/** 11 class colours: background dark, digits 0–9 distinct hues; the ignored rim grey. */
function classColour(c: number): [number, number, number] {
  if (c === IGNORE_INDEX) return [128, 128, 128];
  if (c === 0) return [20, 20, 28];
  const h = ((c - 1) / (DIGIT_SCENE_CLASSES - 1)) * 360;
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (0.55 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

function canvasOf(side: number, label: string, paint: (px: Uint8ClampedArray) => void): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = side;
  c.height = side;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(side, side);
  paint(img.data);
  ctx.putImageData(img, 0, 0);
  return c;
}

/** One gallery entry: the scene's pixels (grey), the prediction and the ground truth (class colours). */
export function galleryItem(
  index: number,
  side: number,
  image: Float32Array,
  predicted: Uint8Array,
  truth: Uint8Array,
): HTMLElement {
  const fig = document.createElement('figure');
  const grey = (px: Uint8ClampedArray): void => {
    for (let q = 0; q < image.length; q++) {
      const v = Math.round(255 * image[q]!);
      px.set([v, v, v, 255], q * 4);
    }
  };
  const classes =
    (labels: Uint8Array) =>
    (px: Uint8ClampedArray): void => {
      for (let q = 0; q < labels.length; q++) px.set([...classColour(labels[q]!), 255], q * 4);
    };
  fig.append(
    canvasOf(side, `validation scene ${index}`, grey),
    canvasOf(side, `scene ${index}: predicted classes`, classes(predicted)),
    canvasOf(side, `scene ${index}: true classes`, classes(truth)),
  );
  const cap = document.createElement('figcaption');
  const correct = predicted.reduce((a, p, q) => a + (truth[q] !== IGNORE_INDEX && p === truth[q] ? 1 : 0), 0);
  const counted = truth.reduce((a, t) => a + (t !== IGNORE_INDEX ? 1 : 0), 0);
  cap.textContent = `scene ${index}: ${((100 * correct) / Math.max(1, counted)).toFixed(1)} % of pixels right`;
  fig.append(cap);
  return fig;
}
