/**
 * The comparison of two bench runs (what `medledger bench compare A B` prints): metric by metric, A,
 * B, the absolute and relative change and whether B is better or worse, with a warning when the runs
 * are not like-for-like (another scenario, mode, clock, fault timeline, machine or version).
 */
import type { BenchResult } from './result.ts';
import { cleanFaults, finite, formatBytes, formatNumber, scenarioFacts } from './svg.ts';

/** Which way a metric improves. */
export type Better = 'higher' | 'lower';

export interface ComparedMetric {
  /** Stable key, e.g. `latency.p99_ms` or `faults[0].nextCommitAfter_ms`. */
  key: string;
  /** Human name, e.g. "p99 latency". */
  metric: string;
  /** Unit of a, b and change: 'tx/s', 'ms', 'bytes', '% of a core', or '' for counts and ratios. */
  unit: string;
  better: Better;
  a: number | null;
  b: number | null;
  /** b − a; null when either is missing. */
  change: number | null;
  /** (b − a) ÷ |a| × 100; null when either is missing or a is 0 and b is not. */
  change_pct: number | null;
  /** Whether B is better or worse than A on this metric; null when not comparable. */
  verdict: 'better' | 'worse' | 'same' | null;
  /**
   * Fault rows only: which side's null means "no commit followed the fault" (worse than any time)
   * rather than "no such fault in that run".
   */
  noCommit?: { a: boolean; b: boolean };
}

/** What identifies a run for the reader of a comparison. */
export interface RunIdentity {
  scenario: string;
  mode: string;
  clock: string;
  validators: number | null;
  seed: number | null;
  startedAt: string | null;
  cpuModel: string | null;
  cpus: number | null;
  medledger: string | null;
  node: string | null;
  commit: string | null;
}

export interface RunComparison {
  a: RunIdentity;
  b: RunIdentity;
  /** False when the runs differ in anything listed in `warnings`. */
  likeForLike: boolean;
  /** One sentence per difference that makes the comparison not like-for-like. */
  warnings: string[];
  metrics: ComparedMetric[];
}

function identity(result: BenchResult): RunIdentity {
  const facts = scenarioFacts(result);
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  return {
    scenario: facts.name,
    mode: facts.mode,
    clock: text(result.clock) ?? 'unknown',
    validators: facts.validators,
    seed: finite(result.seed),
    startedAt: text(result.startedAt),
    cpuModel: text(result.machine?.cpuModel),
    cpus: finite(result.machine?.cpus),
    medledger: text(result.versions?.medledger),
    node: text(result.versions?.node),
    commit: text(result.versions?.commit),
  };
}

/** `value` without floating-point noise (12 significant digits). */
function round(value: number): number {
  return Number(value.toPrecision(12));
}

function metric(
  key: string,
  name: string,
  unit: string,
  better: Better,
  a: unknown,
  b: unknown,
): ComparedMetric {
  const va = finite(a);
  const vb = finite(b);
  const change = va !== null && vb !== null ? round(vb - va) : null;
  let change_pct: number | null = null;
  if (change !== null && va !== null) {
    if (va !== 0) change_pct = round((change / Math.abs(va)) * 100);
    else if (change === 0) change_pct = 0;
  }
  const verdict =
    change === null
      ? null
      : change === 0
        ? 'same'
        : change > 0 === (better === 'higher')
          ? 'better'
          : 'worse';
  return { key, metric: name, unit, better, a: va, b: vb, change, change_pct, verdict };
}

function meanCpu_percent(result: BenchResult): number | null {
  const values = (Array.isArray(result.validators) ? result.validators : [])
    .map((v) => finite(v?.cpu_percent))
    .filter((v): v is number => v !== null);
  return values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length;
}

function maxRss_bytes(result: BenchResult): number | null {
  const values = (Array.isArray(result.validators) ? result.validators : [])
    .map((v) => finite(v?.maxRss_bytes))
    .filter((v): v is number => v !== null);
  return values.length === 0 ? null : Math.max(...values);
}

/** The comparison of run B against run A as data (what `medledger bench compare --json` prints). */
export function compareRunsJson(a: BenchResult, b: BenchResult): RunComparison {
  const ia = identity(a);
  const ib = identity(b);
  const warnings: string[] = [];
  const differs = (what: string, va: unknown, vb: unknown): void => {
    if (va !== vb) warnings.push(`${what} differs: ${String(va ?? '–')} vs ${String(vb ?? '–')}`);
  };
  differs('scenario', ia.scenario, ib.scenario);
  differs('mode', ia.mode, ib.mode);
  differs('clock', ia.clock, ib.clock);
  differs('validator count', ia.validators, ib.validators);
  // Virtual time does not depend on the machine: two simulated runs compare across machines.
  if (ia.clock !== 'virtual' || ib.clock !== 'virtual') {
    differs('machine CPU model', ia.cpuModel, ib.cpuModel);
    differs('machine CPU count', ia.cpus, ib.cpus);
  }
  differs('medledger version', ia.medledger, ib.medledger);
  differs('Node.js version', ia.node, ib.node);
  differs('commit', ia.commit, ib.commit);

  const metrics: ComparedMetric[] = [
    metric(
      'throughput.mean_txps',
      'mean throughput',
      'tx/s',
      'higher',
      a.throughput?.mean_txps,
      b.throughput?.mean_txps,
    ),
    metric(
      'throughput.peak_txps',
      'peak throughput',
      'tx/s',
      'higher',
      a.throughput?.peak_txps,
      b.throughput?.peak_txps,
    ),
    metric(
      'throughput.ratioToBound',
      'ratio to signature bound',
      '',
      'higher',
      a.throughput?.ratioToBound,
      b.throughput?.ratioToBound,
    ),
    metric('latency.p50_ms', 'p50 latency', 'ms', 'lower', a.latency?.p50_ms, b.latency?.p50_ms),
    metric('latency.p90_ms', 'p90 latency', 'ms', 'lower', a.latency?.p90_ms, b.latency?.p90_ms),
    metric('latency.p99_ms', 'p99 latency', 'ms', 'lower', a.latency?.p99_ms, b.latency?.p99_ms),
    metric('latency.p99_9_ms', 'p99.9 latency', 'ms', 'lower', a.latency?.p99_9_ms, b.latency?.p99_9_ms),
    metric('latency.max_ms', 'max latency', 'ms', 'lower', a.latency?.max_ms, b.latency?.max_ms),
    metric('viewChanges', 'view changes', '', 'lower', a.viewChanges, b.viewChanges),
  ];

  const faultsA = cleanFaults(a);
  const faultsB = cleanFaults(b);
  if (faultsA.length !== faultsB.length) {
    warnings.push(`fault timelines differ: ${faultsA.length} vs ${faultsB.length} faults`);
  }
  for (let i = 0; i < Math.max(faultsA.length, faultsB.length); i++) {
    const fa = faultsA[i];
    const fb = faultsB[i];
    if (fa && fb && fa.kind !== fb.kind) {
      warnings.push(`fault ${i + 1} differs in kind: ${fa.kind} vs ${fb.kind}`);
      continue;
    }
    const kind = (fa ?? fb)?.kind ?? 'fault';
    const at_s = fa?.at_s ?? fb?.at_s ?? null;
    const row = metric(
      `faults[${i}].nextCommitAfter_ms`,
      `fault ${i + 1} (${kind}${at_s === null ? '' : ` at ${formatNumber(at_s, 3)} s`}): next commit after`,
      'ms',
      'lower',
      fa?.nextCommitAfter_ms,
      fb?.nextCommitAfter_ms,
    );
    row.noCommit = {
      a: fa !== undefined && fa.nextCommitAfter_ms === null,
      b: fb !== undefined && fb.nextCommitAfter_ms === null,
    };
    // No commit after a fault is worse than any time to the next commit.
    if (fa && fb && (row.noCommit.a || row.noCommit.b)) {
      row.verdict = row.noCommit.a && row.noCommit.b ? 'same' : row.noCommit.a ? 'better' : 'worse';
    }
    metrics.push(row);
  }

  metrics.push(
    metric(
      'messages.perBlock',
      'messages per block',
      '',
      'lower',
      a.messages?.perBlock,
      b.messages?.perBlock,
    ),
    metric(
      'messages.bytesPerBlock',
      'message bytes per block',
      'bytes',
      'lower',
      a.messages?.bytesPerBlock,
      b.messages?.bytesPerBlock,
    ),
    metric(
      'validators.mean_cpu_percent',
      'mean validator CPU',
      '% of a core',
      'lower',
      meanCpu_percent(a),
      meanCpu_percent(b),
    ),
    metric(
      'validators.max_rss_bytes',
      'max validator RSS',
      'bytes',
      'lower',
      maxRss_bytes(a),
      maxRss_bytes(b),
    ),
  );

  return { a: ia, b: ib, likeForLike: warnings.length === 0, warnings, metrics };
}

// ---------------------------------------------------------------------------------------------
// Text

/** A value of `m` (or, `signed`, a change of it) with its unit; `noCommit` shows a fault's null. */
function value(m: ComparedMetric, v: number | null, signed = false, noCommit = false): string {
  if (v === null) return noCommit ? 'no commit' : '–';
  const sign = signed && v > 0 ? '+' : '';
  if (m.unit === 'bytes') return `${sign}${formatBytes(v)}`;
  const digits = m.unit === 'ms' ? 2 : m.key.includes('ratio') ? 3 : 1;
  // A change of a percentage is in percentage points, not to be read as the relative change.
  const unit = m.unit === '' ? '' : m.unit.startsWith('%') ? (signed ? ' pp' : '%') : ` ${m.unit}`;
  return `${sign}${formatNumber(v, digits)}${unit}`;
}

function percent(m: ComparedMetric): string {
  if (m.change_pct === null) return m.change === null ? '–' : 'n/a';
  const sign = m.change_pct > 0 ? '+' : '';
  return `${sign}${formatNumber(m.change_pct, 1)}%`;
}

function describe(run: RunIdentity): string {
  const parts = [
    `${run.scenario} (${run.mode}, ${run.clock} clock, n = ${run.validators ?? '–'})`,
    `seed ${run.seed ?? '–'}`,
    run.startedAt ? `started ${run.startedAt}` : null,
    `medledger ${run.medledger ?? '–'}${run.commit ? ` @ ${run.commit.slice(0, 12)}` : ''}`,
    `Node ${run.node ?? '–'}`,
    `${run.cpus ?? '–'} × ${run.cpuModel ?? 'unknown CPU'}`,
  ];
  return parts.filter((p) => p !== null).join(', ');
}

/**
 * A human table comparing run B against run A: each metric with A, B, the change and the relative
 * change, marked better or worse, after a warning when the runs are not like-for-like.
 */
export function compareRuns(a: BenchResult, b: BenchResult): string {
  const comparison = compareRunsJson(a, b);
  const lines = [`A: ${describe(comparison.a)}`, `B: ${describe(comparison.b)}`];
  if (!comparison.likeForLike) {
    lines.push(`WARNING: not a like-for-like comparison: ${comparison.warnings.join('; ')}.`);
  }
  lines.push('');
  const header = ['metric', 'A', 'B', 'change', 'change %', 'B is'];
  const rows = comparison.metrics.map((m) => [
    m.unit.startsWith('%') ? `${m.metric} (${m.unit})` : m.metric,
    value(m, m.a, false, m.noCommit?.a),
    value(m, m.b, false, m.noCommit?.b),
    value(m, m.change, true),
    percent(m),
    m.verdict === 'same' || m.verdict === null ? '' : m.verdict,
  ]);
  const widths = header.map((h, column) => Math.max(h.length, ...rows.map((row) => row[column]!.length)));
  const format = (row: string[]): string =>
    row
      .map((field, column) =>
        column === 0 || column === row.length - 1
          ? field.padEnd(widths[column]!)
          : field.padStart(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  lines.push(format(header), format(widths.map((w) => '-'.repeat(w))), ...rows.map(format));
  return `${lines.join('\n')}\n`;
}
