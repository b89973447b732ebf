/**
 * The report of one bench run, written into its run directory: result.json (everything), CSV files
 * of throughput, latency and faults for other tools, a short human summary (summary.md) and two SVG
 * charts; and the reading back of a result.json, checked, for reports and comparisons.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MedledgerError } from '../errors.ts';
import { BENCH_RESULT_VERSION, type BenchResult, refusedCodesText, refusedNote } from './result.ts';
import {
  bucketWidth_s,
  cleanBuckets,
  cleanFaults,
  finite,
  formatBytes,
  formatNumber,
  latencyChart,
  scenarioFacts,
  throughputChart,
} from './svg.ts';

export const REPORT_FILES = [
  'result.json',
  'throughput.csv',
  'latency.csv',
  'faults.csv',
  'blocks.csv',
  'summary.md',
  'throughput.svg',
  'latency.svg',
] as const;

/** Writes every report file of `result` into `outDir` (created if needed); returns the paths written. */
export async function writeReport(result: BenchResult, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const contents: Record<(typeof REPORT_FILES)[number], string> = {
    'result.json': `${JSON.stringify(result, null, 2)}\n`,
    'throughput.csv': throughputCsv(result),
    'latency.csv': latencyCsv(result),
    'faults.csv': faultsCsv(result),
    'blocks.csv': blocksCsv(result),
    'summary.md': summaryMarkdown(result),
    'throughput.svg': throughputChart(result),
    'latency.svg': latencyChart(result),
  };
  const written: string[] = [];
  for (const name of REPORT_FILES) {
    const path = join(outDir, name);
    await writeFile(path, contents[name]);
    written.push(path);
  }
  return written;
}

function invalid(message: string, cause?: unknown): MedledgerError {
  return new MedledgerError('BENCH_RESULT_INVALID', message, cause === undefined ? undefined : { cause });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a bench result: `pathOrDir` is a result.json or the run directory holding one. Fails with
 * BENCH_RESULT_INVALID when the file is missing, is not JSON, is not a bench result, or has another
 * format version than this medledger writes.
 */
export async function loadResult(pathOrDir: string): Promise<BenchResult> {
  let path = pathOrDir;
  try {
    if ((await stat(pathOrDir)).isDirectory()) path = join(pathOrDir, 'result.json');
  } catch (error) {
    throw invalid(`no bench result at ${pathOrDir}: ${(error as Error).message}`, error);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw invalid(`cannot read the bench result ${path}: ${(error as Error).message}`, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`${path} is not valid JSON: ${(error as Error).message}`, error);
  }
  if (!isObject(value)) throw invalid(`${path} is not a bench result: expected a JSON object`);
  if (!('version' in value)) throw invalid(`${path} is not a bench result: it has no "version" field`);
  if (value.version !== BENCH_RESULT_VERSION) {
    throw invalid(
      `${path} is a bench result of format version ${JSON.stringify(value.version)}; ` +
        `this medledger reads version ${BENCH_RESULT_VERSION}`,
    );
  }
  const shape: Array<[string, boolean]> = [
    ['scenario', isObject(value.scenario)],
    ['scenario.name', isObject(value.scenario) && typeof value.scenario.name === 'string'],
    ['throughput', isObject(value.throughput)],
    ['throughput.buckets', isObject(value.throughput) && Array.isArray(value.throughput.buckets)],
    ['latency', isObject(value.latency)],
    ['faults', Array.isArray(value.faults)],
  ];
  for (const [field, ok] of shape) {
    if (!ok) throw invalid(`${path} is not a bench result: "${field}" is missing or has the wrong type`);
  }
  return value as unknown as BenchResult;
}

// ---------------------------------------------------------------------------------------------
// CSV

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, line break or edge space. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csv(header: readonly string[], rows: unknown[][]): string {
  return `${[header, ...rows].map((row) => row.map(csvField).join(',')).join('\n')}\n`;
}

export function throughputCsv(result: BenchResult): string {
  const width_s = bucketWidth_s(result);
  return csv(
    ['t_s', 'txs', 'txps'],
    cleanBuckets(result).map((b) => [b.t_s, b.txs, b.txs / width_s]),
  );
}

export function latencyCsv(result: BenchResult): string {
  const distribution = Array.isArray(result.latency?.distribution) ? result.latency.distribution : [];
  return csv(
    ['percentile', 'value_ms'],
    distribution
      .filter((p) => finite(p?.percentile) !== null && finite(p?.value_ms) !== null)
      .map((p) => [p.percentile, p.value_ms]),
  );
}

export function faultsCsv(result: BenchResult): string {
  return csv(
    ['at_s', 'kind', 'description', 'next_commit_after_ms', 'resumed_after_ms', 'latency_recovered_after_ms'],
    cleanFaults(result).map((f) => [
      f.at_s,
      f.kind,
      f.description,
      f.nextCommitAfter_ms,
      f.resumedAfter_ms,
      f.latencyRecoveredAfter_ms,
    ]),
  );
}

/** Real mode: one row per committed block (header only where not measured). */
export function blocksCsv(result: BenchResult): string {
  const blocks = Array.isArray(result.blocks) ? result.blocks : [];
  return csv(
    ['height', 'view', 'proposed_s', 'committed_s', 'txs', 'refused'],
    blocks.map((b) => [b.height, b.view, b.proposed_s, b.committed_s, b.txs, b.refused]),
  );
}

// ---------------------------------------------------------------------------------------------
// Summary

/** One line of text that Markdown shows as written (no HTML tags, no table breaks), for cells and lines. */
function cell(value: unknown): string {
  return String(value ?? '–')
    .replace(/\s+/g, ' ')
    .replace(/([\\<|])/g, '\\$1')
    .trim();
}

function table(header: readonly string[], rows: unknown[][]): string[] {
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
}

/** `text` as one shell word (quoted only when it needs to be). */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Real mode: where each validator verified transaction signatures (results before the setting: none). */
function signatureChecksRow(result: BenchResult): string[][] {
  const threads = result.clock === 'wall' ? finite(result.scenario?.signatureThreads) : null;
  if (threads === null) return [];
  const where =
    threads === 0
      ? 'on its event loop'
      : `on ${threads} thread${threads === 1 ? '' : 's'}, off the event loop`;
  return [['signature checks', `each validator, ${where}`]];
}

/** Where the scenario came from: a path the result records, else the scenario's name. */
export function scenarioSource(result: BenchResult): string {
  const loose = result as unknown as {
    scenarioPath?: unknown;
    scenario?: { path?: unknown; file?: unknown };
  };
  for (const candidate of [loose.scenarioPath, loose.scenario?.path, loose.scenario?.file]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
  }
  return scenarioFacts(result).name;
}

/** The command that repeats the run. */
export function reproduceCommand(result: BenchResult): string {
  return `medledger bench ${shellWord(scenarioSource(result))} --seed ${String(result.seed)}`;
}

function ms(value: unknown): string {
  return finite(value) === null ? '–' : `${formatNumber(value, 2)} ms`;
}

function loadDescription(result: BenchResult): string {
  const load = result.scenario?.load;
  const parts: string[] = [];
  if (load) {
    if (finite(load.rate_tps) !== null) parts.push(`open loop at ${formatNumber(load.rate_tps)} tx/s`);
    else if (finite(load.clients) !== null)
      parts.push(`closed loop, ${formatNumber(load.clients, 0)} clients`);
    if (finite(load.batch) !== null) parts.push(`batch ${formatNumber(load.batch, 0)}`);
    if (finite(load.txBytes) !== null) parts.push(`notes of ~${formatBytes(load.txBytes)}`);
    if (finite(load.patients) !== null && load.patients > 0)
      parts.push(
        `${formatNumber(load.patients, 0)} patients, ${formatNumber(load.practitioners, 0)} doctors`,
      );
    if (finite(load.run) !== null && load.run > 1) parts.push(`runs of ${formatNumber(load.run, 0)} nonces`);
    if (load.pinned === true) parts.push('each sender pinned to one validator');
  }
  const offered = result.load;
  const measured: string[] = [];
  if (offered) {
    measured.push(`offered ${formatNumber(offered.offered_txps)} tx/s over the run`);
    if (finite(offered.failedSubmissions) !== null) {
      measured.push(`${formatNumber(offered.failedSubmissions, 0)} failed submissions`);
    }
  }
  const text = [parts.join(', '), measured.join(', ')].filter((part) => part !== '').join('; ');
  return text === '' ? '–' : text;
}

/** Per load kind (real mode), when measured: a table, then a blank line. */
function kindsSection(result: BenchResult): string[] {
  const kinds = result.kinds && typeof result.kinds === 'object' ? Object.entries(result.kinds) : [];
  if (kinds.length === 0) return [];
  return [
    '## Load kinds',
    '',
    ...table(
      ['kind', 'submitted', 'committed', 'refused (codes)', 'committed tx/s', 'accepted tx/s'],
      kinds.map(([kind, k]) => {
        const codes = refusedCodesText(k.refusedCodes);
        return [
          kind,
          formatNumber(k.submitted, 0),
          formatNumber(k.committed, 0),
          `${formatNumber(k.refused, 0)}${codes ? ` (${codes})` : ''}`,
          formatNumber(k.committed_txps),
          formatNumber(k.accepted_txps),
        ];
      }),
    ),
    '',
  ];
}

export function summaryMarkdown(result: BenchResult): string {
  const facts = scenarioFacts(result);
  const bound = result.signatureBound;
  const latency = result.latency;
  const ratio = finite(result.throughput?.ratioToBound);
  const boundText =
    finite(bound?.bound_txps) === null
      ? '–'
      : `${formatNumber(bound.bound_txps)} tx/s (${formatNumber(bound.verifiesPerSecond, 0)} verifies/s × ` +
        `${formatNumber(bound.cores, 0)} cores ÷ ${formatNumber(bound.validators, 0)} validators)`;
  const ratioText =
    ratio !== null
      ? `${formatNumber(ratio, 3)} (${formatNumber(ratio * 100)}% of the signature bound)`
      : result.clock === 'virtual'
        ? 'n/a: virtual time is not bound by this machine'
        : '–';
  const faults = cleanFaults(result);
  const validators = Array.isArray(result.validators) ? result.validators : [];
  const lines: string[] = [
    `# Bench: ${cell(facts.name)}`,
    '',
    ...(typeof result.scenario?.description === 'string' && result.scenario.description !== ''
      ? [cell(result.scenario.description), '']
      : []),
    ...table(
      ['', ''],
      [
        [
          'scenario',
          scenarioSource(result) === facts.name ? facts.name : `${facts.name} (${scenarioSource(result)})`,
        ],
        ['mode', facts.mode],
        ['clock', result.clock],
        ['validators', `n = ${formatNumber(facts.validators, 0)}, f = ${formatNumber(facts.f, 0)}`],
        ...signatureChecksRow(result),
        ['load', loadDescription(result)],
        [
          'time',
          `warm-up ${formatNumber(result.warmup_s, 3)} s, measured ${formatNumber(result.duration_s, 3)} s` +
            (finite(result.wall_s) !== null ? `, whole run ${formatNumber(result.wall_s)} s wall clock` : ''),
        ],
        [
          'committed',
          `${formatNumber(result.committedTxs, 0)} txs in ${formatNumber(result.committedBlocks, 0)} blocks${refusedNote(result)}`,
        ],
        [
          'mean throughput',
          `${formatNumber(result.throughput?.mean_txps)} tx/s` +
            (result.clock === 'virtual' ? ' (simulated seconds)' : ''),
        ],
        ['peak throughput', `${formatNumber(result.throughput?.peak_txps)} tx/s (1 s bucket)`],
        [
          'signature bound',
          result.clock === 'virtual'
            ? `${boundText} on this machine; not a limit in virtual time`
            : boundText,
        ],
        ['ratio to bound', ratioText],
        [
          'latency',
          `p50 ${ms(latency?.p50_ms)} · p90 ${ms(latency?.p90_ms)} · p99 ${ms(latency?.p99_ms)} · ` +
            `p99.9 ${ms(latency?.p99_9_ms)} · max ${ms(latency?.max_ms)}`,
        ],
        [
          'latency samples',
          `${formatNumber(latency?.count, 0)} (mean ${ms(latency?.mean_ms)})` +
            (finite(latency?.uncommitted) !== null
              ? `, ${formatNumber(latency.uncommitted, 0)} never committed`
              : ''),
        ],
        [
          'view changes',
          `${formatNumber(result.viewChanges, 0)}` +
            (finite(result.maxView) !== null ? ` (highest view ${formatNumber(result.maxView, 0)})` : ''),
        ],
        [
          'messages per block',
          `${formatNumber(result.messages?.perBlock)} (${formatBytes(result.messages?.bytesPerBlock)}); ` +
            `total ${formatNumber(result.messages?.total, 0)} (${formatBytes(result.messages?.totalBytes)})`,
        ],
        ['started', result.startedAt],
        ['seed', String(result.seed)],
      ],
    ),
    '',
    ...kindsSection(result),
    '## Faults',
    '',
  ];
  if (faults.length === 0) lines.push('None.');
  else {
    lines.push(
      ...table(
        [
          '#',
          'at',
          'kind',
          'what',
          'next commit after',
          'a later submission committed after',
          'median latency back after',
        ],
        faults.map((f, i) => [
          i + 1,
          `${formatNumber(f.at_s, 3)} s`,
          f.kind,
          f.description || '–',
          f.nextCommitAfter_ms === null ? 'no commit followed' : ms(f.nextCommitAfter_ms),
          f.resumedAfter_ms === null ? '–' : ms(f.resumedAfter_ms),
          f.latencyRecoveredAfter_ms === null ? '–' : ms(f.latencyRecoveredAfter_ms),
        ]),
      ),
    );
  }
  lines.push('', '## Validators', '');
  if (validators.length === 0) {
    lines.push(
      facts.mode === 'sim' ? 'Simulated: no validator processes to measure.' : 'No per-validator figures.',
    );
  } else {
    lines.push(
      ...table(
        ['validator', 'CPU (% of one core)', 'CPU time', 'max RSS', 'restarts'],
        validators.map((v) => [
          v.index,
          `${formatNumber(v.cpu_percent)}%`,
          finite(v.cpu_s) === null ? '–' : `${formatNumber(v.cpu_s)} s`,
          formatBytes(v.maxRss_bytes),
          formatNumber(v.restarts, 0),
        ]),
      ),
    );
  }
  const machine = result.machine;
  const versions = result.versions;
  lines.push(
    '',
    '## Machine and versions',
    '',
    ...table(
      ['', ''],
      [
        [
          'machine',
          `${machine?.cpuModel ?? '–'}, ${formatNumber(machine?.cpus, 0)} CPUs, ${formatBytes(machine?.memory_bytes)}`,
        ],
        ['system', [machine?.platform, machine?.release, machine?.arch].filter(Boolean).join(' ') || '–'],
        ['medledger', versions?.medledger ?? '–'],
        ['node', versions?.node ?? '–'],
        ['commit', versions?.commit ?? 'not a git checkout'],
      ],
    ),
  );
  const violations = Array.isArray(result.violations) ? result.violations : [];
  if (violations.length > 0) {
    lines.push('', '## Checker violations', '');
    lines.push(
      ...table(
        ['checker', 'detail'],
        violations.map((v) => [v.checker, v.detail]),
      ),
    );
  }
  const notes = Array.isArray(result.notes) ? result.notes : [];
  if (notes.length > 0) {
    lines.push('', '## Notes', '', ...notes.map((note) => `- ${cell(note)}`));
  }
  lines.push(
    '',
    '## Reproduce',
    '',
    '```sh',
    reproduceCommand(result),
    '```',
    '',
    'Charts: [throughput.svg](throughput.svg), [latency.svg](latency.svg). ' +
      'Data: result.json, throughput.csv, latency.csv, faults.csv, blocks.csv.',
    '',
  );
  return lines.join('\n');
}
