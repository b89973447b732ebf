/**
 * The bench report: the files writeReport makes (CSV that parses back to the result's numbers,
 * well-formed SVG charts with a marker per fault), loadResult's checks, and run comparison.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareRuns, compareRunsJson } from '../src/bench/compare.ts';
import { statistics } from '../src/bench/measure.ts';
import { loadResult, REPORT_FILES, reproduceCommand, writeReport } from '../src/bench/report.ts';
import { BENCH_RESULT_VERSION, type BenchResult } from '../src/bench/result.ts';
import { escapeXml, latencyChart, niceTicks, throughputChart } from '../src/bench/svg.ts';
import { MedledgerError } from '../src/errors.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures

/** A plausible real-mode run of 4 validators: 5 s warm-up, 20 s measured, 3 s drain, three faults. */
function fixture(overrides: Partial<BenchResult> = {}): BenchResult {
  const buckets: Array<{ t_s: number; txs: number }> = [];
  for (let t = 0; t < 28; t++) {
    const txs = t >= 10 && t < 12 ? 0 : t < 25 ? 180 + ((t * 37) % 50) : Math.max(0, 90 - (t - 25) * 40);
    buckets.push({ t_s: t, txs });
  }
  const distribution: Array<{ percentile: number; value_ms: number }> = [];
  for (const percentile of [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100]) {
    distribution.push({ percentile, value_ms: 8 + percentile ** 2 / 400 + (percentile >= 99.9 ? 300 : 0) });
  }
  const result: BenchResult = {
    version: BENCH_RESULT_VERSION,
    scenario: {
      name: 'crash-primary',
      description: 'Crash the primary mid-run and restart it.',
      mode: 'real',
      validators: 4,
      f: 1,
      load: {
        rate_tps: 250,
        clients: null,
        batch: 10,
        txBytes: 512,
        mix: { note: 1 },
        signers: 4,
        patients: 0,
        practitioners: 8,
        recordsPerPatient: 1,
        run: 1,
        pinned: false,
      },
      consensus: {
        batchMaxTxs: 500,
        window: 4,
        batchDelay_ms: 20,
        requestTimeout_ms: 1000,
        viewChangeTimeout_ms: 2000,
      },
      signatureThreads: 0,
      duration_s: 20,
      warmup_s: 5,
      drain_s: 3,
      seed: 7,
      faults: [],
    },
    seed: 42,
    clock: 'wall',
    startedAt: '2025-01-02T03:04:05.000Z',
    duration_s: 20,
    warmup_s: 5,
    wall_s: 31.5,
    versions: { medledger: '0.1.0', node: 'v24.9.0', commit: '0123456789abcdef0123456789abcdef01234567' },
    machine: {
      cpus: 8,
      cpuModel: 'Test CPU @ 3.0GHz',
      memory_bytes: 16 * 2 ** 30,
      platform: 'linux',
      release: '6.1.0',
      arch: 'x64',
    },
    signatureBound: { verifiesPerSecond: 150, cores: 8, validators: 4, bound_txps: 300 },
    load: {
      submittedTxs: 6250,
      measuredSubmittedTxs: 5000,
      failedSubmissions: 12,
      meanTxBytes: 530,
      offered_txps: 250,
    },
    throughput: { buckets, mean_txps: 187.5, peak_txps: 229, ratioToBound: 0.625 },
    latency: {
      count: 4980,
      uncommitted: 20,
      p50_ms: 14.25,
      p90_ms: 28.5,
      p99_ms: 32.5,
      p99_9_ms: 333,
      max_ms: 341,
      mean_ms: 17.1,
      distribution,
    },
    faults: [
      {
        at_s: 10,
        kind: 'crash',
        description: 'crash validator 0 (primary of view 0)',
        nextCommitAfter_ms: 2150.5,
      },
      { at_s: 15, kind: 'restart', description: 'restart validator 0', nextCommitAfter_ms: 12 },
      {
        at_s: 18,
        kind: 'partition',
        description: 'partition {0,1} | {2,3}, "split brain" <test> & more',
        nextCommitAfter_ms: null,
      },
    ],
    viewChanges: 3,
    maxView: 1,
    messages: { perBlock: 48.5, bytesPerBlock: 20_480, total: 9700, totalBytes: 4_096_000 },
    validators: [0, 1, 2, 3].map((index) => ({
      index,
      cpu_percent: 40 + index * 5,
      cpu_s: 12 + index,
      maxRss_bytes: (120 + index * 10) * 2 ** 20,
      restarts: index === 0 ? 1 : 0,
    })),
    committedTxs: 4960,
    committedBlocks: 200,
    violations: [],
    notes: [],
  };
  return { ...result, ...overrides };
}

/** A run that measured nothing: no buckets, no faults, no latency samples, NaN where numbers fail. */
function emptyFixture(): BenchResult {
  const base = fixture();
  return {
    ...base,
    scenario: { ...base.scenario, mode: 'sim', name: 'empty' },
    clock: 'virtual',
    throughput: { buckets: [], mean_txps: 0, peak_txps: 0, ratioToBound: null },
    latency: {
      count: 0,
      uncommitted: 0,
      p50_ms: Number.NaN,
      p90_ms: Number.NaN,
      p99_ms: Number.NaN,
      p99_9_ms: Number.NaN,
      max_ms: Number.NaN,
      mean_ms: Number.NaN,
      distribution: [],
    },
    faults: [],
    validators: [],
    messages: { perBlock: Number.NaN, bytesPerBlock: Number.NaN, total: 0, totalBytes: 0 },
  };
}

// ---------------------------------------------------------------------------------------------
// A minimal XML reader: enough to prove the charts are well-formed and to query them.

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: Array<XmlElement | string>;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkEntities(text: string, where: string): void {
  if (text.replace(ENTITY, '').includes('&')) throw new Error(`unescaped & in ${where}: ${text}`);
}

function decode(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Parses `xml` strictly (one root, balanced tags, quoted attributes, escaped text) or throws. */
function parseXml(xml: string): XmlElement {
  // Characters XML 1.0 forbids.
  for (const char of xml) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d)
      throw new Error(`control char ${code}`);
  }
  const tokens = xml.match(/<[^<>]*>|[^<>]+|[<>]/g) ?? [];
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  for (const token of tokens) {
    if (token === '<' || token === '>') throw new Error(`stray ${token}`);
    if (token.startsWith('<?') || token.startsWith('<!--')) {
      if (stack.length > 0 || root) throw new Error(`unexpected ${token}`);
      continue;
    }
    if (token.startsWith('</')) {
      const name = token.slice(2, -1).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
      continue;
    }
    if (token.startsWith('<')) {
      const selfClosing = token.endsWith('/>');
      const inner = token.slice(1, selfClosing ? -2 : -1);
      const nameMatch = /^([A-Za-z_][\w:.-]*)/.exec(inner);
      if (!nameMatch) throw new Error(`bad tag ${token}`);
      const attributes: Record<string, string> = {};
      let rest = inner.slice(nameMatch[1]!.length);
      const attribute = /^\s+([A-Za-z_][\w:.-]*)="([^"<]*)"/;
      for (let m = attribute.exec(rest); m; m = attribute.exec(rest)) {
        if (m[1]! in attributes) throw new Error(`duplicate attribute ${m[1]} in ${token}`);
        checkEntities(m[2]!, `attribute ${m[1]}`);
        attributes[m[1]!] = decode(m[2]!);
        rest = rest.slice(m[0].length);
      }
      if (rest.trim() !== '') throw new Error(`bad attributes in ${token}`);
      const element: XmlElement = { name: nameMatch[1]!, attributes, children: [] };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(element);
      else if (root) throw new Error('more than one root element');
      else root = element;
      if (!selfClosing) stack.push(element);
      continue;
    }
    checkEntities(token, 'text');
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(decode(token));
    else if (token.trim() !== '') throw new Error(`text outside the root: ${token}`);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

function all(element: XmlElement, test: (e: XmlElement) => boolean): XmlElement[] {
  const found = test(element) ? [element] : [];
  for (const child of element.children) if (typeof child !== 'string') found.push(...all(child, test));
  return found;
}

function textOf(element: XmlElement): string {
  return element.children
    .map((child) => (typeof child === 'string' ? child : textOf(child)))
    .join('')
    .trim();
}

function hasClass(element: XmlElement, name: string): boolean {
  return (element.attributes.class ?? '').split(/\s+/).includes(name);
}

/** Parses a chart and checks what every chart must be. */
function chart(svg: string): XmlElement {
  const root = parseXml(svg);
  expect(root.name).toBe('svg');
  expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  return root;
}

// ---------------------------------------------------------------------------------------------
// CSV

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += char;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

// ---------------------------------------------------------------------------------------------

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'medledger-bench-report-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('fault recovery', () => {
  // 100 tx/s; a 20 ms latency, then a fault at 10 s: nothing commits until 10.8 s, and the latency
  // of later submissions falls back to 20 ms from 11.5 s on. The first half second of submissions
  // whose median is back is the one from 11.3 s (60% of it is submitted from 11.5 s on).
  const txs = Array.from({ length: 2000 }, (_, i) => {
    const submitted_s = i / 100;
    let committed_s = submitted_s + 0.02;
    if (submitted_s >= 9.99 && submitted_s < 11.5) committed_s = Math.max(10.8, submitted_s) + 0.3;
    return { submitted_s, committed_s, bytes: 200 };
  });
  const faults = [{ at_s: 10, kind: 'crash', description: 'crash validator 0' }];

  it('times the next commit, the first commit of a later submission, and latency back near its median', () => {
    const [fault] = statistics(
      { txs, failedSubmissions: 0, faults },
      { warmup_s: 1, duration_s: 18 },
      null,
    ).faults;
    expect(fault!.nextCommitAfter_ms).toBe(1100);
    expect(fault!.resumedAfter_ms).toBe(1100);
    expect(fault!.latencyRecoveredAfter_ms).toBe(1300);
  });

  it('says null when latency never comes back', () => {
    const slow = txs.map((tx) => (tx.submitted_s >= 10 ? { ...tx, committed_s: tx.submitted_s + 1 } : tx));
    const [fault] = statistics(
      { txs: slow, failedSubmissions: 0, faults },
      { warmup_s: 1, duration_s: 18 },
      null,
    ).faults;
    expect(fault!.latencyRecoveredAfter_ms).toBeNull();
  });
});

describe('writeReport', () => {
  it('writes every report file and returns their paths', async () => {
    const dir = join(await tempDir(), 'run', 'nested');
    const paths = await writeReport(fixture(), dir);
    expect(paths).toEqual(REPORT_FILES.map((name) => join(dir, name)));
    for (const path of paths) expect(existsSync(path)).toBe(true);
    const back = JSON.parse(await readFile(join(dir, 'result.json'), 'utf8'));
    expect(back).toEqual(fixture());
  });

  it('writes CSV files that parse back to the numbers of the result', async () => {
    const result = fixture();
    const dir = await tempDir();
    await writeReport(result, dir);

    const throughput = parseCsv(await readFile(join(dir, 'throughput.csv'), 'utf8'));
    expect(throughput[0]).toEqual(['t_s', 'txs', 'txps']);
    expect(throughput.slice(1).map((row) => row.map(Number))).toEqual(
      result.throughput.buckets.map((b) => [b.t_s, b.txs, b.txs]),
    );

    const latency = parseCsv(await readFile(join(dir, 'latency.csv'), 'utf8'));
    expect(latency[0]).toEqual(['percentile', 'value_ms']);
    expect(latency.slice(1).map((row) => row.map(Number))).toEqual(
      result.latency.distribution.map((p) => [p.percentile, p.value_ms]),
    );

    const faults = parseCsv(await readFile(join(dir, 'faults.csv'), 'utf8'));
    expect(faults[0]).toEqual([
      'at_s',
      'kind',
      'description',
      'next_commit_after_ms',
      'resumed_after_ms',
      'latency_recovered_after_ms',
    ]);
    const cell = (ms: number | null | undefined) => (ms === null || ms === undefined ? '' : String(ms));
    expect(faults.slice(1)).toEqual(
      result.faults.map((f) => [
        String(f.at_s),
        f.kind,
        f.description,
        cell(f.nextCommitAfter_ms),
        cell(f.resumedAfter_ms),
        cell(f.latencyRecoveredAfter_ms),
      ]),
    );
  });

  it('summarises the run with the command that repeats it', async () => {
    const dir = await tempDir();
    await writeReport(fixture(), dir);
    const summary = await readFile(join(dir, 'summary.md'), 'utf8');
    for (const expected of [
      'crash-primary',
      'n = 4, f = 1',
      '187.5 tx/s',
      '229 tx/s',
      '0.625',
      'p50 14.25 ms',
      'p99.9 333 ms',
      '2,150.5 ms',
      'no commit followed',
      'Test CPU @ 3.0GHz',
      'v24.9.0',
      'medledger bench crash-primary --seed 42',
    ]) {
      expect(summary).toContain(expected);
    }
    // A pipe in a description does not break the table.
    expect(summary).toContain('partition {0,1} \\| {2,3}');
  });

  it('takes the scenario file for the reproduce command from the result when it records one', () => {
    const result = { ...fixture(), scenarioPath: 'bench/scenarios/crash primary.json' } as BenchResult;
    expect(reproduceCommand(result)).toBe("medledger bench 'bench/scenarios/crash primary.json' --seed 42");
  });

  it('writes a report of a run that measured nothing', async () => {
    const dir = await tempDir();
    const paths = await writeReport(emptyFixture(), dir);
    expect(paths).toHaveLength(REPORT_FILES.length);
    expect(parseCsv(await readFile(join(dir, 'throughput.csv'), 'utf8'))).toEqual([['t_s', 'txs', 'txps']]);
    expect(parseCsv(await readFile(join(dir, 'faults.csv'), 'utf8'))).toHaveLength(1);
    chart(await readFile(join(dir, 'throughput.svg'), 'utf8'));
    chart(await readFile(join(dir, 'latency.svg'), 'utf8'));
    const summary = await readFile(join(dir, 'summary.md'), 'utf8');
    expect(summary).not.toMatch(/NaN|undefined/);
  });
});

describe('throughputChart', () => {
  it('is well-formed SVG with axes, title and one labelled marker per fault', () => {
    const result = fixture();
    const root = chart(throughputChart(result));
    const texts = all(root, (e) => e.name === 'text').map(textOf);
    expect(texts).toContain('time (s)');
    expect(texts.some((t) => t.startsWith('committed tx/s'))).toBe(true);
    expect(texts.some((t) => t.includes('crash-primary') && t.includes('real') && t.includes('wall'))).toBe(
      true,
    );
    const markers = all(root, (e) => e.name === 'g' && hasClass(e, 'fault'));
    expect(markers).toHaveLength(result.faults.length);
    markers.forEach((marker) => {
      const fault = result.faults[Number(marker.attributes['data-index']) - 1]!;
      expect(marker.attributes['data-kind']).toBe(fault.kind);
      expect(all(marker, (e) => e.name === 'line')).toHaveLength(1);
      expect(all(marker, (e) => e.name === 'line')[0]!.attributes['stroke-dasharray']).toBeTruthy();
      expect(textOf(marker)).toContain(fault.kind);
    });
    // The description with markup characters survives escaping intact.
    expect(texts.some((t) => t.includes('"split brain" <test> & more'))).toBe(true);
    expect(all(root, (e) => hasClass(e, 'warmup'))).toHaveLength(1);
    expect(texts).toContain('warm-up');
    expect(all(root, (e) => hasClass(e, 'series-line'))).toHaveLength(1);
  });

  it('draws axes and a message, not a broken path, when there is nothing to plot', () => {
    const root = chart(throughputChart(emptyFixture()));
    expect(all(root, (e) => hasClass(e, 'fault'))).toHaveLength(0);
    expect(all(root, (e) => hasClass(e, 'series-line'))).toHaveLength(0);
    expect(all(root, (e) => hasClass(e, 'no-data')).map(textOf)).toEqual([
      'no committed transactions recorded',
    ]);
    expect(all(root, (e) => e.name === 'text').map(textOf)).toContain('time (s)');
  });

  it('handles zero throughput, a single bucket, nulls and hostile text', () => {
    const base = fixture();
    const cases: BenchResult[] = [
      {
        ...base,
        throughput: { ...base.throughput, buckets: base.throughput.buckets.map((b) => ({ ...b, txs: 0 })) },
      },
      { ...base, throughput: { ...base.throughput, buckets: [{ t_s: 3, txs: 17 }] }, faults: [] },
      {
        ...base,
        duration_s: Number.NaN,
        warmup_s: null as unknown as number,
        throughput: {
          buckets: [{ t_s: 0, txs: Number.NaN }, { t_s: 1, txs: 5 }, null as never],
          mean_txps: null as unknown as number,
          peak_txps: Number.POSITIVE_INFINITY,
          ratioToBound: null,
        },
        faults: [{ at_s: Number.NaN, kind: '', description: '\u0001<x>&amp;', nextCommitAfter_ms: null }],
      },
      { ...base, scenario: { ...base.scenario, name: 'a<b>&"c\'\u0000\u0007 \ud800' } },
      {
        ...base,
        faults: Array.from({ length: 12 }, (_, i) => ({
          at_s: 12 + i * 0.01,
          kind: i % 2 === 0 ? 'drop' : 'duplicate',
          description: `fault number ${i}`,
          nextCommitAfter_ms: i,
        })),
      },
    ];
    for (const result of cases) {
      const root = chart(throughputChart(result));
      expect(all(root, (e) => hasClass(e, 'fault'))).toHaveLength(result.faults.length);
    }
    const hostile = chart(throughputChart(cases[3]!));
    expect(textOf(all(hostile, (e) => e.name === 'title')[0]!)).toContain('a<b>&"c\'');
  });
});

describe('latencyChart', () => {
  it('is well-formed SVG on a nines scale with the percentiles annotated', () => {
    const root = chart(latencyChart(fixture()));
    const texts = all(root, (e) => e.name === 'text').map(textOf);
    expect(texts.some((t) => t.startsWith('percentile'))).toBe(true);
    expect(texts).toContain('commit latency (ms)');
    for (const tick of ['0%', '90%', '99%', '99.9%', '99.99%', 'max']) expect(texts).toContain(tick);
    const marks = all(root, (e) => hasClass(e, 'percentile-mark'));
    expect(marks.map((m) => m.attributes['data-percentile'])).toEqual(['p50', 'p90', 'p99', 'p99.9', 'max']);
    expect(textOf(marks[0]!)).toBe('p50 14.25 ms');
    expect(textOf(marks[3]!)).toBe('p99.9 333 ms');
  });

  it('handles no samples, a single point and NaN values', () => {
    const empty = chart(latencyChart(emptyFixture()));
    expect(all(empty, (e) => hasClass(e, 'no-data')).map(textOf)).toEqual(['no latency samples recorded']);
    const base = fixture();
    const single = {
      ...base,
      latency: {
        ...emptyFixture().latency,
        count: 1,
        p50_ms: 5,
        distribution: [{ percentile: 50, value_ms: 5 }],
      },
    };
    expect(all(chart(latencyChart(single)), (e) => hasClass(e, 'percentile-mark'))).toHaveLength(1);
    const zero = {
      ...base,
      latency: {
        ...base.latency,
        p50_ms: 0,
        p90_ms: 0,
        p99_ms: 0,
        p99_9_ms: 0,
        max_ms: 0,
        distribution: [
          { percentile: 0, value_ms: 0 },
          { percentile: Number.NaN, value_ms: 3 },
          { percentile: 100, value_ms: 0 },
        ],
      },
    };
    chart(latencyChart(zero));
  });
});

describe('chart helpers', () => {
  it('picks ticks in steps of 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks(0, 229).values).toEqual([0, 50, 100, 150, 200, 250]);
    expect(niceTicks(0, 0).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 0.37).values).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(niceTicks(0, 28).values).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(niceTicks(Number.NaN, Number.NaN).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    for (const [lo, hi] of [
      [0, 1],
      [0, 7],
      [3, 3],
      [0, 123_456],
      [-5, 17],
    ] as const) {
      const { step, values } = niceTicks(lo, hi);
      const mantissa = step / 10 ** Math.floor(Math.log10(step));
      expect([1, 2, 5]).toContain(Math.round(mantissa));
      expect(values[0]!).toBeLessThanOrEqual(lo);
      expect(values[values.length - 1]!).toBeGreaterThanOrEqual(hi);
    }
  });

  it('escapes markup and drops characters XML forbids', () => {
    expect(escapeXml(`<a href="x">&'\u0000b\u001f`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;b');
  });
});

describe('loadResult', () => {
  it('reads a result back from its file or its run directory', async () => {
    const dir = await tempDir();
    await writeReport(fixture(), dir);
    expect(await loadResult(dir)).toEqual(fixture());
    expect(await loadResult(join(dir, 'result.json'))).toEqual(fixture());
  });

  async function failure(pathOrDir: string): Promise<MedledgerError> {
    const error = await loadResult(pathOrDir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MedledgerError);
    expect((error as MedledgerError).code).toBe('BENCH_RESULT_INVALID');
    return error as MedledgerError;
  }

  it('fails with BENCH_RESULT_INVALID on a missing file, bad JSON or another version', async () => {
    const dir = await tempDir();
    expect((await failure(join(dir, 'nothing-here'))).message).toContain('nothing-here');
    expect((await failure(dir)).message).toContain('result.json');

    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"version": 1,');
    expect((await failure(bad)).message).toContain('not valid JSON');

    const other = join(dir, 'other.json');
    await writeFile(other, JSON.stringify({ ...fixture(), version: BENCH_RESULT_VERSION + 1 }));
    expect((await failure(other)).message).toContain(`version ${BENCH_RESULT_VERSION + 1}`);

    const none = join(dir, 'none.json');
    const { version: _, ...unversioned } = fixture();
    await writeFile(none, JSON.stringify(unversioned));
    expect((await failure(none)).message).toContain('"version"');

    const array = join(dir, 'array.json');
    await writeFile(array, '[1, 2]');
    await failure(array);

    const partial = join(dir, 'partial.json');
    await writeFile(partial, JSON.stringify({ version: BENCH_RESULT_VERSION, scenario: { name: 'x' } }));
    expect((await failure(partial)).message).toContain('throughput');
  });
});

describe('compareRuns', () => {
  it('shows both values and the relative change of a changed metric', () => {
    const a = fixture();
    const b = fixture({
      throughput: { ...a.throughput, mean_txps: 234.375 },
      latency: { ...a.latency, p99_ms: 65 },
    });
    const text = compareRuns(a, b);
    const mean = text.split('\n').find((line) => line.startsWith('mean throughput'))!;
    expect(mean).toContain('187.5 tx/s');
    expect(mean).toContain('234.4 tx/s');
    expect(mean).toContain('+46.9 tx/s');
    expect(mean).toContain('+25%');
    expect(mean).toContain('better');
    const p99 = text.split('\n').find((line) => line.startsWith('p99 latency'))!;
    expect(p99).toContain('32.5 ms');
    expect(p99).toContain('65 ms');
    expect(p99).toContain('+100%');
    expect(p99).toContain('worse');
    expect(text).not.toContain('WARNING');

    const data = compareRunsJson(a, b);
    expect(data.likeForLike).toBe(true);
    const row = data.metrics.find((m) => m.key === 'throughput.mean_txps')!;
    expect(row).toMatchObject({ a: 187.5, b: 234.375, change: 46.875, change_pct: 25, verdict: 'better' });
    expect(data.metrics.find((m) => m.key === 'viewChanges')).toMatchObject({ change: 0, verdict: 'same' });
  });

  it('warns when the runs are not like-for-like', () => {
    const a = fixture();
    const b = fixture({
      scenario: { ...a.scenario, name: 'partition-heal' },
      machine: { ...a.machine, cpuModel: 'Other CPU', cpus: 4 },
    });
    const text = compareRuns(a, b);
    const warning = text.split('\n').find((line) => line.startsWith('WARNING'))!;
    expect(warning).toContain('scenario differs: crash-primary vs partition-heal');
    expect(warning).toContain('CPU model');
    expect(warning).toContain('CPU count');
    expect(compareRunsJson(a, b).likeForLike).toBe(false);
  });

  it('matches faults by index and kind', () => {
    const a = fixture();
    const b = fixture({
      faults: [
        { ...a.faults[0]!, nextCommitAfter_ms: 1075.25 },
        { ...a.faults[1]!, kind: 'heal' },
      ],
    });
    const data = compareRunsJson(a, b);
    const faultRows = data.metrics.filter((m) => m.key.startsWith('faults['));
    expect(faultRows.map((m) => m.key)).toEqual([
      'faults[0].nextCommitAfter_ms',
      'faults[2].nextCommitAfter_ms',
    ]);
    expect(faultRows[0]).toMatchObject({ a: 2150.5, b: 1075.25, change_pct: -50, verdict: 'better' });
    expect(faultRows[1]).toMatchObject({ a: null, b: null, change: null, verdict: null });
    expect(data.warnings).toContain('fault timelines differ: 3 vs 2 faults');
    expect(data.warnings).toContain('fault 2 differs in kind: restart vs heal');
    expect(compareRuns(a, b)).toContain('fault 1 (crash at 10 s): next commit after');
  });

  it('counts no commit after a fault as worse than any time to the next commit', () => {
    const a = fixture();
    const b = fixture({ faults: [{ ...a.faults[0]!, nextCommitAfter_ms: null }, ...a.faults.slice(1)] });
    const row = compareRunsJson(a, b).metrics.find((m) => m.key === 'faults[0].nextCommitAfter_ms')!;
    expect(row).toMatchObject({ a: 2150.5, b: null, verdict: 'worse', noCommit: { a: false, b: true } });
    const line = compareRuns(a, b)
      .split('\n')
      .find((l) => l.startsWith('fault 1'))!;
    expect(line).toContain('no commit');
    expect(line).toContain('worse');
  });

  it('compares runs that measured nothing without NaN', () => {
    const text = compareRuns(emptyFixture(), emptyFixture());
    expect(text).not.toMatch(/NaN|undefined/);
    expect(compareRunsJson(emptyFixture(), emptyFixture()).likeForLike).toBe(true);
  });
});
