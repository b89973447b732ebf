/**
 * Dependency-free SVG charts of one bench run: committed tx/s over time (warm-up shaded, faults
 * marked) and the latency percentile distribution on a "nines" scale. Each chart is a standalone
 * file that any browser opens as it is; every piece of text in it is escaped for XML. The tolerant
 * reading of a result (NaN and null where a number failed) and number formatting the charts need
 * are exported for the summary and the comparison, so all three show the same numbers.
 */
import type { BenchResult } from './result.ts';

const WIDTH = 920;
const MARGIN_LEFT = 84;
const MARGIN_RIGHT = 150;
const PLOT_TOP = 78;
const PLOT_HEIGHT = 320;
const AXIS_SPACE = 58;
const LEGEND_LINE = 17;
const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const FONT_SIZE = 12;
/** Rough advance of one character at `FONT_SIZE`, to keep labels apart without measuring text. */
const CHAR_WIDTH = 6.2;
const COLOURS = {
  text: '#1f2328',
  muted: '#57606a',
  grid: '#e5e7eb',
  axis: '#6b7280',
  series: '#2563eb',
  area: '#dbeafe',
  warmup: '#f3f4f6',
  mean: '#059669',
  bound: '#9333ea',
  fault: '#dc2626',
  point: '#ea580c',
};

// ---------------------------------------------------------------------------------------------
// Text, numbers and ticks

/** `text` safe inside an XML element or attribute: markup escaped, characters XML forbids dropped. */
export function escapeXml(text: string): string {
  let out = '';
  for (const char of String(text).toWellFormed()) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) continue;
    if (code === 0xfffe || code === 0xffff) continue;
    if (char === '&') out += '&amp;';
    else if (char === '<') out += '&lt;';
    else if (char === '>') out += '&gt;';
    else if (char === '"') out += '&quot;';
    else if (char === "'") out += '&apos;';
    else out += char;
  }
  return out;
}

/** `value` when it is a finite number, else null (JSON turns NaN and Infinity into null). */
export function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A human number: thousands separated, at most `digits` decimals, "–" for a missing value. */
export function formatNumber(value: unknown, digits = 1): string {
  const n = finite(value);
  if (n === null) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Bytes in binary units: "512 B", "45.6 KiB", "1.2 GiB". */
export function formatBytes(value: unknown): string {
  const n = finite(value);
  if (n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let scaled = n;
  let unit = 0;
  while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${formatNumber(scaled, unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** `text` cut to at most `max` characters, with an ellipsis when cut. */
export function shorten(text: string, max: number): string {
  const flat = String(text).replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

/** A fault in one line: "2. at 15 s restart: restart validator 0 (next commit after 12 ms)". */
function faultLine(fault: Fault, index: number): string {
  const next =
    fault.nextCommitAfter_ms === null
      ? 'no commit after it'
      : `next commit after ${formatNumber(fault.nextCommitAfter_ms)} ms`;
  const what = fault.description ? `: ${fault.description}` : '';
  return `${index + 1}. at ${formatNumber(fault.at_s, 3)} s  ${fault.kind}${what}  (${next})`;
}

/** The 1, 2 or 5 times a power of ten nearest to `raw` (on a log scale). */
function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice =
    fraction >= Math.sqrt(50) ? 10 : fraction >= Math.sqrt(10) ? 5 : fraction >= Math.sqrt(2) ? 2 : 1;
  return nice * power;
}

export interface Ticks {
  min: number;
  max: number;
  step: number;
  values: number[];
}

/**
 * Round tick values (steps of 1, 2 or 5 times a power of ten) covering [min, max] with about
 * `target` intervals. An empty or non-finite range becomes [0, 1].
 */
export function niceTicks(min: number, max: number, target = 5): Ticks {
  let lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : lo + 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    if (lo === 0) hi = 1;
    else {
      const pad = Math.abs(lo) / 2;
      lo -= pad;
      hi += pad;
    }
  }
  const step = niceStep((hi - lo) / Math.max(1, target));
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const values: number[] = [];
  for (let i = 0; i <= 1000; i++) {
    const value = Number((first + i * step).toFixed(Math.min(20, decimals)));
    if (value > last + step / 2) break;
    values.push(value);
  }
  return { min: values[0] ?? first, max: values[values.length - 1] ?? last, step, values };
}

/** A coordinate as short, finite SVG text. */
function c(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 100) / 100) : '0';
}

/** The largest of `values` and `floor` (no spread: a long run has many thousands of buckets). */
function maxOf(values: Iterable<number>, floor: number): number {
  let max = floor;
  for (const value of values) if (value > max) max = value;
  return max;
}

function textWidth(text: string, fontSize = FONT_SIZE): number {
  return [...text].length * CHAR_WIDTH * (fontSize / FONT_SIZE);
}

// ---------------------------------------------------------------------------------------------
// Frame: document, title, axes

interface Plot {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where both charts draw their data. */
const PLOT: Plot = {
  x: MARGIN_LEFT,
  y: PLOT_TOP,
  width: WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
  height: PLOT_HEIGHT,
};

interface Axis {
  min: number;
  max: number;
  ticks: Array<{ value: number; label: string }>;
  title: string;
}

function scale(axis: Axis, from: number, length: number, flip: boolean): (value: number) => number {
  const span = axis.max - axis.min || 1;
  return (value) => {
    const t = (value - axis.min) / span;
    return flip ? from + length - t * length : from + t * length;
  };
}

function text(
  x: number,
  y: number,
  content: string,
  attributes: Record<string, string | number> = {},
): string {
  const attrs = Object.entries(attributes)
    .map(([name, value]) => ` ${name}="${escapeXml(String(value))}"`)
    .join('');
  return `<text x="${c(x)}" y="${c(y)}"${attrs}>${escapeXml(content)}</text>`;
}

function documentStart(height: number, title: string, subtitle: string, description: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${c(height)}" viewBox="0 0 ${WIDTH} ${c(height)}" font-family="${escapeXml(FONT)}" font-size="${FONT_SIZE}" fill="${COLOURS.text}">`,
    `<title>${escapeXml(title)}</title>`,
    `<desc>${escapeXml(description)}</desc>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${c(height)}" fill="#ffffff"/>`,
    text(MARGIN_LEFT, 28, shorten(title, 100), { class: 'title', 'font-size': 16, 'font-weight': 600 }),
    text(MARGIN_LEFT, 48, shorten(subtitle, 130), { class: 'subtitle', fill: COLOURS.muted }),
  ];
}

function axes(plot: Plot, x: Axis, y: Axis): string[] {
  const sx = scale(x, plot.x, plot.width, false);
  const sy = scale(y, plot.y, plot.height, true);
  const bottom = plot.y + plot.height;
  const out: string[] = ['<g class="grid" stroke-width="1">'];
  for (const tick of y.ticks) {
    out.push(
      `<line x1="${c(plot.x)}" y1="${c(sy(tick.value))}" x2="${c(plot.x + plot.width)}" y2="${c(sy(tick.value))}" stroke="${COLOURS.grid}"/>`,
    );
  }
  out.push('</g>');
  out.push(`<g class="axis x-axis" stroke="${COLOURS.axis}">`);
  out.push(`<line x1="${c(plot.x)}" y1="${c(bottom)}" x2="${c(plot.x + plot.width)}" y2="${c(bottom)}"/>`);
  for (const tick of x.ticks) {
    const px = sx(tick.value);
    out.push(`<line x1="${c(px)}" y1="${c(bottom)}" x2="${c(px)}" y2="${c(bottom + 5)}"/>`);
    out.push(
      text(px, bottom + 19, tick.label, { 'text-anchor': 'middle', stroke: 'none', fill: COLOURS.muted }),
    );
  }
  out.push(
    text(plot.x + plot.width / 2, bottom + 42, x.title, {
      class: 'axis-label',
      'text-anchor': 'middle',
      stroke: 'none',
      fill: COLOURS.text,
    }),
  );
  out.push('</g>');
  out.push(`<g class="axis y-axis" stroke="${COLOURS.axis}">`);
  out.push(`<line x1="${c(plot.x)}" y1="${c(plot.y)}" x2="${c(plot.x)}" y2="${c(bottom)}"/>`);
  for (const tick of y.ticks) {
    const py = sy(tick.value);
    out.push(`<line x1="${c(plot.x - 5)}" y1="${c(py)}" x2="${c(plot.x)}" y2="${c(py)}"/>`);
    out.push(
      text(plot.x - 8, py + 4, tick.label, { 'text-anchor': 'end', stroke: 'none', fill: COLOURS.muted }),
    );
  }
  const labelX = 22;
  const labelY = plot.y + plot.height / 2;
  out.push(
    text(labelX, labelY, y.title, {
      class: 'axis-label',
      'text-anchor': 'middle',
      transform: `rotate(-90 ${c(labelX)} ${c(labelY)})`,
      stroke: 'none',
      fill: COLOURS.text,
    }),
  );
  out.push('</g>');
  return out;
}

function noData(plot: Plot, message: string): string {
  return text(plot.x + plot.width / 2, plot.y + plot.height / 2, message, {
    class: 'no-data',
    'text-anchor': 'middle',
    fill: COLOURS.muted,
    'font-size': 14,
  });
}

function linearAxis(min: number, max: number, title: string, target: number): Axis {
  const ticks = niceTicks(min, max, target);
  const digits = Math.max(0, -Math.floor(Math.log10(ticks.step)));
  return {
    min: ticks.min,
    max: ticks.max,
    title,
    ticks: ticks.values.map((value) => ({ value, label: formatNumber(value, digits) })),
  };
}

// ---------------------------------------------------------------------------------------------
// Shared reading of a result (tolerant: a result read from disk may hold nulls where NaN was)

/** The scenario's name, mode and validator count, tolerating a hand-edited or partial result. */
export function scenarioFacts(result: BenchResult): {
  name: string;
  mode: string;
  validators: number | null;
  f: number | null;
} {
  const scenario = (result.scenario ?? {}) as Partial<BenchResult['scenario']>;
  const name = typeof scenario.name === 'string' && scenario.name !== '' ? scenario.name : 'unnamed scenario';
  const mode = typeof scenario.mode === 'string' ? scenario.mode : 'unknown';
  const validators = finite(scenario.validators) ?? finite(result.signatureBound?.validators);
  const f = finite(scenario.f) ?? (validators !== null ? Math.floor((validators - 1) / 3) : null);
  return { name, mode, validators, f };
}

export interface Bucket {
  t_s: number;
  txs: number;
}

/** The throughput buckets with finite times and counts, in time order. */
export function cleanBuckets(result: BenchResult): Bucket[] {
  const raw = (result.throughput as { buckets?: unknown } | undefined)?.buckets;
  if (!Array.isArray(raw)) return [];
  const out: Bucket[] = [];
  for (const bucket of raw as Array<{ t_s?: unknown; txs?: unknown }>) {
    const t_s = finite(bucket?.t_s);
    const txs = finite(bucket?.txs);
    if (t_s !== null && txs !== null) out.push({ t_s, txs });
  }
  return out.sort((a, b) => a.t_s - b.t_s);
}

/** The width of one throughput bucket: the result's own if it states one, else 1 s. */
export function bucketWidth_s(result: BenchResult): number {
  const stated = finite((result.throughput as { bucket_s?: unknown } | undefined)?.bucket_s);
  return stated !== null && stated > 0 ? stated : 1;
}

export interface Fault {
  at_s: number | null;
  kind: string;
  description: string;
  nextCommitAfter_ms: number | null;
  resumedAfter_ms: number | null;
  latencyRecoveredAfter_ms: number | null;
}

/** The faults, with missing fields made explicit. */
export function cleanFaults(result: BenchResult): Fault[] {
  const raw = (result as { faults?: unknown }).faults;
  if (!Array.isArray(raw)) return [];
  return (raw as Array<Record<string, unknown> | null>).map((fault) => ({
    at_s: finite(fault?.at_s),
    kind: typeof fault?.kind === 'string' && fault.kind !== '' ? fault.kind : 'fault',
    description: typeof fault?.description === 'string' ? fault.description : '',
    nextCommitAfter_ms: finite(fault?.nextCommitAfter_ms),
    resumedAfter_ms: finite(fault?.resumedAfter_ms),
    latencyRecoveredAfter_ms: finite(fault?.latencyRecoveredAfter_ms),
  }));
}

// ---------------------------------------------------------------------------------------------
// Throughput over time

/**
 * Committed tx/s per bucket over time as a step line, with the warm-up shaded, the mean and (when it
 * is on a comparable scale) the signature-verification bound drawn as horizontal lines, and each
 * fault as a dashed vertical line labelled with its kind and listed with its description below.
 */
export function throughputChart(result: BenchResult): string {
  const facts = scenarioFacts(result);
  const buckets = cleanBuckets(result);
  const width_s = bucketWidth_s(result);
  const faults = cleanFaults(result);
  const warmup_s = Math.max(0, finite(result.warmup_s) ?? 0);
  const duration_s = Math.max(0, finite(result.duration_s) ?? 0);
  const mean_txps = finite(result.throughput?.mean_txps);
  const peak_txps = finite(result.throughput?.peak_txps);
  // Virtual time is not bound by this machine's CPU: the bound means nothing on a simulated run.
  const bound_txps = result.clock === 'virtual' ? null : finite(result.signatureBound?.bound_txps);
  const ratio = finite(result.throughput?.ratioToBound);
  const clock = typeof result.clock === 'string' ? result.clock : 'unknown';

  const rates = buckets.map((b) => ({ t_s: b.t_s, txps: b.txs / width_s }));
  const maxRate = maxOf([...rates.map((r) => r.txps), peak_txps ?? 0, mean_txps ?? 0], 0);
  const showBound = bound_txps !== null && bound_txps > 0 && bound_txps <= Math.max(maxRate, 1) * 2;
  const yMax = Math.max(maxRate, showBound ? bound_txps : 0);
  const lastBucketEnd = rates.length > 0 ? rates[rates.length - 1]!.t_s + width_s : 0;
  const lastFault = maxOf(
    faults.map((f) => f.at_s ?? 0),
    0,
  );
  const windowEnd_s = warmup_s + duration_s;
  const xMax = Math.max(windowEnd_s, lastBucketEnd, lastFault);
  const xMin = -maxOf(
    rates.map((r) => -r.t_s),
    0,
  );

  const x = linearAxis(xMin, xMax, 'time (s)', 8);
  const y = linearAxis(0, yMax, `committed tx/s (per ${formatNumber(width_s, 3)} s bucket)`, 5);
  const plot = PLOT;
  const sx = scale(x, plot.x, plot.width, false);
  const sy = scale(y, plot.y, plot.height, true);
  const bottom = plot.y + plot.height;
  const legendTop = bottom + AXIS_SPACE + 8;
  const height = legendTop + (faults.length > 0 ? (faults.length + 1) * LEGEND_LINE : 0) + 12;

  const title = `${facts.name}: committed throughput (${facts.mode}, ${clock} clock)`;
  const subtitle = [
    facts.validators !== null ? `n = ${facts.validators}` : null,
    `mean ${formatNumber(mean_txps)} tx/s`,
    `peak ${formatNumber(peak_txps)} tx/s`,
    bound_txps !== null
      ? `signature bound ${formatNumber(bound_txps)} tx/s${showBound ? '' : ' (off scale)'}`
      : null,
    ratio !== null ? `${formatNumber(ratio * 100)}% of bound` : null,
    `${faults.length} fault${faults.length === 1 ? '' : 's'}`,
    `seed ${String(result.seed ?? '–')}`,
  ]
    .filter((part) => part !== null)
    .join(' · ');
  const out = documentStart(
    height,
    title,
    subtitle,
    `Committed transactions per second over time for the bench scenario ${facts.name}. ${subtitle}.`,
  );

  // Warm-up and drain (outside the measured window) are shaded under everything else.
  // Their labels go on top of the series, once it is drawn.
  const shadeLabels: string[] = [];
  const shade = (cls: string, from_s: number, to_s: number, label: string): void => {
    const x0 = sx(Math.max(x.min, from_s));
    const x1 = sx(Math.min(x.max, to_s));
    if (!(x1 > x0)) return;
    out.push(
      `<rect class="${cls}" x="${c(x0)}" y="${c(plot.y)}" width="${c(x1 - x0)}" height="${c(plot.height)}" fill="${COLOURS.warmup}"/>`,
    );
    if (x1 - x0 > textWidth(label) + 8) {
      shadeLabels.push(
        text(x0 + 5, bottom - 8, label, {
          class: `${cls}-label`,
          fill: COLOURS.muted,
          'font-style': 'italic',
        }),
      );
    }
  };
  if (warmup_s > 0) shade('warmup', 0, warmup_s, 'warm-up');
  if (x.max > windowEnd_s) shade('drain', windowEnd_s, x.max, 'drain');
  out.push(...axes(plot, x, y));

  if (rates.length === 0) {
    out.push(noData(plot, 'no committed transactions recorded'));
  } else {
    const points: Array<[number, number]> = [];
    let previousEnd: number | null = null;
    for (const rate of rates) {
      if (previousEnd !== null && rate.t_s > previousEnd + 1e-9) {
        points.push([previousEnd, 0], [rate.t_s, 0]);
      }
      points.push([rate.t_s, rate.txps], [rate.t_s + width_s, rate.txps]);
      previousEnd = rate.t_s + width_s;
    }
    const line = points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${c(sx(t))},${c(sy(v))}`).join(' ');
    const first = points[0]!;
    const last = points[points.length - 1]!;
    const area = `M${c(sx(first[0]))},${c(sy(0))} ${line.replace(/^M/, 'L')} L${c(sx(last[0]))},${c(sy(0))} Z`;
    out.push(
      `<g class="series">`,
      `<path class="series-area" d="${area}" fill="${COLOURS.area}" fill-opacity="0.7" stroke="none"/>`,
      `<path class="series-line" d="${line}" fill="none" stroke="${COLOURS.series}" stroke-width="2" stroke-linejoin="round"/>`,
      '</g>',
    );
  }

  out.push(...shadeLabels);

  const levels: Array<{
    value: number;
    label: string;
    colour: string;
    cls: string;
    dash: string;
    from_s: number;
    to_s: number;
  }> = [];
  if (mean_txps !== null && rates.length > 0) {
    levels.push({
      value: mean_txps,
      label: `mean ${formatNumber(mean_txps)} tx/s`,
      colour: COLOURS.mean,
      cls: 'mean',
      dash: '6 4',
      from_s: warmup_s,
      to_s: windowEnd_s,
    });
  }
  if (showBound && bound_txps !== null) {
    levels.push({
      value: bound_txps,
      label: `bound ${formatNumber(bound_txps)} tx/s`,
      colour: COLOURS.bound,
      cls: 'bound',
      dash: '2 3',
      from_s: x.min,
      to_s: x.max,
    });
  }
  let lastLabelY = Number.NEGATIVE_INFINITY;
  for (const level of [...levels].sort((a, b) => b.value - a.value)) {
    const py = sy(level.value);
    const labelY = Math.max(py + 4, lastLabelY + 14);
    lastLabelY = labelY;
    out.push(
      `<g class="${level.cls}">`,
      `<line x1="${c(sx(Math.max(x.min, level.from_s)))}" y1="${c(py)}" x2="${c(sx(Math.min(x.max, level.to_s)))}" y2="${c(py)}" stroke="${level.colour}" stroke-width="1.5" stroke-dasharray="${level.dash}"/>`,
      text(plot.x + plot.width + 6, labelY, level.label, { fill: level.colour }),
      '</g>',
    );
  }

  // Faults: a dashed line each, labelled at the top in the first row where the label does not
  // overlap another (shortened to its kind, then its number, when crowded). Drawn right to left, so
  // a label lies over the lines of the faults after it.
  const rows: Array<Array<[number, number]>> = [];
  const rowCount = 5;
  const labelEnd = plot.x + plot.width + MARGIN_RIGHT - 8;
  const placed = faults
    .map((fault, index) => ({ fault, index, px: sx(Math.min(x.max, Math.max(x.min, fault.at_s ?? x.min))) }))
    .sort((p, q) => p.px - q.px || p.index - q.index)
    .map(({ fault, index, px }) => {
      const number = String(index + 1);
      const candidates = [
        `${number} ${fault.kind}${fault.description ? `: ${shorten(fault.description, 24)}` : ''}`,
        `${number} ${fault.kind}`,
        number,
      ];
      const span = (label: string): [number, number] => {
        const width = textWidth(label, 11) + 8;
        const start = px + 4 + width <= labelEnd ? px + 4 : px - 4 - width;
        return [start, start + width];
      };
      const free = (row: Array<[number, number]>, [a, b]: [number, number]): boolean =>
        row.every(([c0, c1]) => b + 2 <= c0 || a >= c1 + 2);
      let choice: { label: string; row: number; at: [number, number] } | null = null;
      for (const label of candidates) {
        const at = span(label);
        for (let row = 0; row < rowCount && choice === null; row++) {
          if (free(rows[row] ?? [], at)) choice = { label, row, at };
        }
        if (choice) break;
      }
      if (choice === null) {
        // Every row is taken here: the number alone, in the row whose last label ends first.
        const ends = Array.from({ length: rowCount }, (_, row) =>
          Math.max(0, ...(rows[row] ?? []).map((r) => r[1])),
        );
        choice = { label: number, row: ends.indexOf(Math.min(...ends)), at: span(number) };
      }
      rows[choice.row] = [...(rows[choice.row] ?? []), choice.at];
      return { fault, index, px, ...choice };
    });
  for (const { fault, index, px, label, row, at } of [...placed].reverse()) {
    const labelY = plot.y + 14 + row * 17;
    out.push(
      `<g class="fault" data-index="${index + 1}" data-kind="${escapeXml(fault.kind)}">`,
      `<title>${escapeXml(faultLine(fault, index))}</title>`,
      `<line x1="${c(px)}" y1="${c(plot.y)}" x2="${c(px)}" y2="${c(bottom)}" stroke="${COLOURS.fault}" stroke-width="1.5" stroke-dasharray="5 4"/>`,
      `<rect x="${c(at[0])}" y="${c(labelY - 11)}" width="${c(at[1] - at[0])}" height="15" rx="2" fill="#ffffff" fill-opacity="0.85"/>`,
      text(at[0] + 4, labelY, label, { class: 'fault-label', fill: COLOURS.fault, 'font-size': 11 }),
      '</g>',
    );
  }

  if (faults.length > 0) {
    out.push('<g class="fault-legend">', text(MARGIN_LEFT, legendTop, 'faults', { 'font-weight': 600 }));
    faults.forEach((fault, index) => {
      const line = faultLine(fault, index);
      out.push(
        text(MARGIN_LEFT, legendTop + (index + 1) * LEGEND_LINE, shorten(line, 125), {
          fill: COLOURS.muted,
        }),
      );
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Latency distribution

/** The deepest percentile the latency chart shows apart from the maximum: 99.999999%. */
const MAX_NINES = 8;

/** How many nines `percentile` has: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3 (at most MAX_NINES). */
function nines(percentile: number): number {
  return Math.min(MAX_NINES, -Math.log10(1 - percentile / 100));
}

/** The percentile at `k` nines as a label: 0 → "0%", 1 → "90%", 3 → "99.9%". */
function ninesLabel(k: number): string {
  if (k === 0) return '0%';
  return `${(100 - 10 ** (2 - k)).toFixed(Math.max(0, k - 2))}%`;
}

/**
 * The latency percentile distribution on a log "nines" x axis (0%, 90%, 99%, 99.9%, 99.99%, …, then
 * the maximum), latency in ms up the y axis, with p50, p90, p99, p99.9 and the maximum annotated.
 */
export function latencyChart(result: BenchResult): string {
  const facts = scenarioFacts(result);
  const clock = typeof result.clock === 'string' ? result.clock : 'unknown';
  const latency = (result.latency ?? {}) as Partial<BenchResult['latency']>;
  const rawDistribution = Array.isArray(latency.distribution) ? latency.distribution : [];
  const distribution = rawDistribution
    .map((point) => ({ percentile: finite(point?.percentile), value_ms: finite(point?.value_ms) }))
    .filter(
      (point): point is { percentile: number; value_ms: number } =>
        point.percentile !== null &&
        point.value_ms !== null &&
        point.percentile >= 0 &&
        point.percentile <= 100,
    )
    .sort((a, b) => a.percentile - b.percentile);
  const marks = [
    { name: 'p50', percentile: 50, value_ms: finite(latency.p50_ms) },
    { name: 'p90', percentile: 90, value_ms: finite(latency.p90_ms) },
    { name: 'p99', percentile: 99, value_ms: finite(latency.p99_ms) },
    { name: 'p99.9', percentile: 99.9, value_ms: finite(latency.p99_9_ms) },
  ].filter((mark): mark is { name: string; percentile: number; value_ms: number } => mark.value_ms !== null);
  const max_ms = finite(latency.max_ms) ?? distribution.find((p) => p.percentile >= 100)?.value_ms ?? null;

  // Without a distribution, the summary percentiles are the line.
  const line = distribution.filter((p) => p.percentile < 100);
  if (line.length === 0) line.push(...marks.map((m) => ({ percentile: m.percentile, value_ms: m.value_ms })));
  const deepest = maxOf(
    [...line, ...marks].map((p) => nines(p.percentile)),
    0,
  );
  const topNines = Math.min(MAX_NINES, Math.max(4, Math.ceil(deepest - 1e-9)));
  const maxAt = max_ms !== null ? topNines + 0.5 : null;
  const ticks = Array.from({ length: topNines + 1 }, (_, k) => ({ value: k, label: ninesLabel(k) }));
  if (maxAt !== null) ticks.push({ value: maxAt, label: 'max' });
  const x: Axis = {
    min: 0,
    max: maxAt ?? topNines,
    ticks,
    title: 'percentile (log scale: each step right adds a nine)',
  };
  const values = [...line.map((p) => p.value_ms), ...marks.map((m) => m.value_ms), max_ms ?? 0];
  const y = linearAxis(0, maxOf(values, 0), 'commit latency (ms)', 5);
  const plot = PLOT;
  const sx = scale(x, plot.x, plot.width, false);
  const sy = scale(y, plot.y, plot.height, true);
  const height = plot.y + plot.height + AXIS_SPACE + 12;

  const count = finite(latency.count);
  const title = `${facts.name}: commit latency distribution (${facts.mode}, ${clock} clock)`;
  const ms = (value: unknown): string => (finite(value) === null ? '–' : `${formatNumber(value, 2)} ms`);
  const subtitle = [
    `${formatNumber(count, 0)} sample${count === 1 ? '' : 's'}`,
    `mean ${ms(latency.mean_ms)}`,
    `p50 ${ms(latency.p50_ms)}`,
    `p99 ${ms(latency.p99_ms)}`,
    `max ${ms(max_ms)}`,
    `seed ${String(result.seed ?? '–')}`,
  ].join(' · ');
  const out = documentStart(
    height,
    title,
    subtitle,
    `Commit latency by percentile for the bench scenario ${facts.name}. ${subtitle}.`,
  );
  out.push(...axes(plot, x, y));

  if (line.length === 0 && max_ms === null) {
    out.push(noData(plot, 'no latency samples recorded'));
    out.push('</svg>');
    return `${out.join('\n')}\n`;
  }

  const curve: Array<[number, number]> = line.map((p) => [sx(nines(p.percentile)), sy(p.value_ms)]);
  if (curve.length > 0) {
    out.push(
      `<g class="series">`,
      `<path class="series-line" d="${curve.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${c(px)},${c(py)}`).join(' ')}" fill="none" stroke="${COLOURS.series}" stroke-width="2" stroke-linejoin="round"/>`,
    );
    if (curve.length === 1) {
      out.push(`<circle cx="${c(curve[0]![0])}" cy="${c(curve[0]![1])}" r="3" fill="${COLOURS.series}"/>`);
    }
    out.push('</g>');
  }
  if (maxAt !== null && max_ms !== null) {
    const last = curve[curve.length - 1];
    if (last) {
      out.push(
        `<line class="to-max" x1="${c(last[0])}" y1="${c(last[1])}" x2="${c(sx(maxAt))}" y2="${c(sy(max_ms))}" stroke="${COLOURS.series}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
      );
    }
  }

  const annotated = [...marks];
  if (max_ms !== null && maxAt !== null) annotated.push({ name: 'max', percentile: 100, value_ms: max_ms });
  out.push('<g class="annotations">');
  for (const mark of annotated) {
    const px = mark.name === 'max' && maxAt !== null ? sx(maxAt) : sx(nines(mark.percentile));
    const py = sy(mark.value_ms);
    const label = `${mark.name} ${formatNumber(mark.value_ms, 2)} ms`;
    // The curve rises to the right, so below-right of a point is clear of it, and above-left too.
    const labelWidth = textWidth(label, 11);
    const fitsRight = px + 6 + labelWidth <= WIDTH - 8;
    const fitsLeft = px - 6 - labelWidth >= plot.x + 4;
    const fitsBelow = py + 18 <= plot.y + plot.height - 4;
    const anchorEnd = fitsBelow ? !fitsRight : fitsLeft || !fitsRight;
    const labelY = fitsBelow ? py + 18 : py - 9 < plot.y + 10 ? py + 18 : py - 9;
    out.push(
      `<g class="percentile-mark" data-percentile="${escapeXml(mark.name)}">`,
      `<circle cx="${c(px)}" cy="${c(py)}" r="4" fill="${COLOURS.point}" stroke="#ffffff" stroke-width="1.5"/>`,
      text(anchorEnd ? px - 6 : px + 6, labelY, label, {
        fill: COLOURS.point,
        'font-size': 11,
        'font-weight': 600,
        'text-anchor': anchorEnd ? 'end' : 'start',
      }),
      '</g>',
    );
  }
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
