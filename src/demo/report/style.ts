// The report page's stylesheet: light, readable on a phone (tables scroll inside their box), print-friendly.

/** CSS inlined into index.html (the page loads nothing else). */
export const STYLE = `
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --line: #dadce0; --soft: #f6f7f9; --accent: #1f77b4; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 62rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0 0.25rem; }
h2 { font-size: 1.25rem; margin: 2.25rem 0 0.5rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 0.5rem; }
p { margin: 0.5rem 0; max-width: 48rem; }
a { color: var(--accent); }
.meta { color: var(--muted); margin: 0 0 1rem; }
.banner { background: #fff4d6; border: 1px solid #e8c872; border-radius: 6px; padding: 0.6rem 0.9rem; max-width: none; }
.finding { background: var(--soft); border-left: 4px solid var(--accent); padding: 0.75rem 1rem;
  border-radius: 0 6px 6px 0; }
nav ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; padding: 0; margin: 0.5rem 0; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 0.9rem; padding: 0 0 0.4rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.4rem 0.7rem; text-align: right; vertical-align: top; }
th { font-weight: 600; }
thead th { border-bottom: 2px solid var(--ink); white-space: nowrap; vertical-align: bottom; }
thead th.group { text-align: center; border-bottom: 1px solid var(--line); font-weight: 500; color: var(--muted); }
th[scope="row"], .left { text-align: left; }
tbody tr:nth-child(even) { background: var(--soft); }
tfoot td, tfoot th { font-style: italic; color: var(--muted); border-bottom: none; }
.sub { display: block; font-weight: 400; font-size: 0.8rem; color: var(--muted); }
.cell-miou { font-weight: 600; white-space: nowrap; }
.cell-pix { display: block; font-size: 0.8rem; color: var(--muted); white-space: nowrap; }
.missing { color: var(--muted); }
.note { color: var(--muted); font-size: 0.9rem; margin-top: -0.5rem; }
.runs { font-size: 0.9rem; }
.runs td, .runs th { white-space: nowrap; padding: 0.3rem 0.45rem; }
.runs caption { white-space: normal; }
.kvs { display: flex; flex-wrap: wrap; gap: 0 2.5rem; align-items: flex-start; }
.kv th { text-align: left; font-weight: 500; color: var(--muted); }
.kv td { text-align: left; overflow-wrap: anywhere; }
figure { margin: 1rem 0; }
figcaption { color: var(--muted); font-size: 0.9rem; max-width: 48rem; }
img.chart { display: block; max-width: 100%; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: 0.35rem 1rem; list-style: none; padding: 0; font-size: 0.9rem; }
.swatch { display: inline-block; width: 0.95rem; height: 0.95rem; border: 1px solid #999; vertical-align: -0.15rem;
  margin-right: 0.35rem; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.scene { border: 1px solid var(--line); border-radius: 8px; padding: 0.5rem 0.75rem; margin: 1rem 0;
  break-inside: avoid; }
.scene-inputs { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.scene figure, .preds td figure { margin: 0; }
.scene figcaption { font-size: 0.8rem; text-align: center; }
.preds td, .preds th { text-align: center; padding: 0.3rem 0.4rem; }
.preds th[scope="row"] { text-align: left; font-size: 0.9rem; }
img.px { image-rendering: pixelated; image-rendering: crisp-edges; display: block; margin: 0 auto;
  border: 1px solid var(--line); max-width: 100%; height: auto; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 3rem; }
@media (max-width: 40rem) {
  main { padding: 0.75rem 0.6rem 2rem; }
  h1 { font-size: 1.35rem; }
  th, td { padding: 0.35rem 0.4rem; }
  table { font-size: 0.9rem; }
  .cell-pix, .results thead th { white-space: normal; }
  th, td { padding: 0.3rem 0.3rem; }
  .results th[scope="row"] .sub { display: none; }
}
@media print {
  main { max-width: none; padding: 0; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; }
  figure, table, .scene { break-inside: avoid; }
  .scroll { overflow: visible; }
  tbody tr:nth-child(even) { background: none; }
}
`;
