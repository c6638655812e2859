// Semantic-segmentation metrics from a confusion matrix: pixel accuracy and mean IoU, ignoring the ignore index.

/** Label of pixels left out of the loss and the metrics (Pascal VOC's boundary value). */
export const IGNORE_INDEX = 255;

/** A confusion matrix over `numClasses` classes (rows: label, columns: prediction); IGNORE_INDEX labels skipped. */
export class SegMetrics {
  readonly k: number;
  /** k×k counts, row-major: confusion[label · k + prediction]. */
  readonly confusion: Float64Array;
  constructor(numClasses: number) {
    this.k = numClasses;
    this.confusion = new Float64Array(numClasses * numClasses);
  }
  /** Count one prediction per pixel against its label (labels equal to IGNORE_INDEX are skipped). */
  add(pred: ArrayLike<number>, label: ArrayLike<number>): void {
    for (let i = 0; i < label.length; i++) {
      const t = label[i]!;
      if (t === IGNORE_INDEX) continue;
      this.confusion[t * this.k + pred[i]!]!++;
    }
  }
  /** Correct / counted pixels (0 when none were counted). */
  pixelAccuracy(): number {
    let ok = 0;
    let all = 0;
    for (let t = 0; t < this.k; t++) {
      for (let p = 0; p < this.k; p++) {
        all += this.confusion[t * this.k + p]!;
        if (t === p) ok += this.confusion[t * this.k + p]!;
      }
    }
    return all === 0 ? 0 : ok / all;
  }
  /** Mean over the classes present in labels or predictions of TP / (TP + FP + FN) (0 when none are). */
  meanIoU(): number {
    let sum = 0;
    let classes = 0;
    for (let c = 0; c < this.k; c++) {
      const tp = this.confusion[c * this.k + c]!;
      let fp = 0;
      let fn = 0;
      for (let o = 0; o < this.k; o++) {
        if (o === c) continue;
        fp += this.confusion[o * this.k + c]!;
        fn += this.confusion[c * this.k + o]!;
      }
      if (tp + fp + fn === 0) continue;
      sum += tp / (tp + fp + fn);
      classes++;
    }
    return classes === 0 ? 0 : sum / classes;
  }
}

/** Per-pixel argmax of logits (n, k, hw) into class indices (n·hw). */
export function argmaxClasses(logits: ArrayLike<number>, n: number, k: number, hw: number): Uint8Array {
  const out = new Uint8Array(n * hw);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < hw; p++) {
      let best = 0;
      let bv = -Infinity;
      for (let c = 0; c < k; c++) {
        const v = logits[(i * k + c) * hw + p]!;
        if (v > bv) {
          bv = v;
          best = c;
        }
      }
      out[i * hw + p] = best;
    }
  }
  return out;
}
