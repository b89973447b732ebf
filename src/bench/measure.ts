/**
 * What every benchmark run measures the same way in both modes: the machine and software versions,
 * the machine's Ed25519 verify rate and signature bound, and the statistics made from submission
 * and commit times (1-second throughput buckets, HDR-histogram latency percentiles, time from each
 * fault to the next commit).
 */
import { execFileSync } from 'node:child_process';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { generateSigningKeyPair, randomBytes, sign, verify } from '../crypto/index.ts';
import { PROJECT_ROOT } from '../paths.ts';
import { VERSION } from '../version.ts';
import type { BenchResult } from './result.ts';

export function versions(): BenchResult['versions'] {
  let commit: string | null = null;
  try {
    const root = PROJECT_ROOT;
    const out = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
    if (/^[0-9a-f]{40,64}$/.test(out)) commit = out;
  } catch {
    // Not a git checkout, or no git: the commit is unknown.
  }
  return { medledger: VERSION, node: process.version, commit };
}

export function machine(): BenchResult['machine'] {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memory_bytes: totalmem(),
    platform: platform(),
    release: release(),
    arch: arch(),
  };
}

/** Ed25519 verifies per second on one core (node:crypto), measured for `duration_ms`. */
export function measureVerifyRate(duration_ms = 1000): number {
  const keys = generateSigningKeyPair();
  const message = randomBytes(200);
  const signature = sign(keys.secretKey, message);
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < duration_ms) {
    for (let i = 0; i < 64; i++) verify(keys.publicKey, message, signature);
    count += 64;
  }
  return (count * 1000) / (performance.now() - start);
}

/** The signature bound for n validators sharing this machine's cores: verify rate × cores ÷ n. */
export function signatureBound(verifiesPerSecond: number, validators: number): BenchResult['signatureBound'] {
  const cores = cpus().length;
  const perCore = Math.round(verifiesPerSecond);
  return {
    verifiesPerSecond: perCore,
    cores,
    validators,
    bound_txps: Math.round((perCore * cores) / validators),
  };
}

/** Percentiles of the latency distribution kept in a result (for a percentile chart). */
export const DISTRIBUTION_PERCENTILES = [
  0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5,
  99.9, 99.95, 99.99, 100,
];

/** `x` to three decimals (ms to µs, s to ms). */
export const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Latency statistics of `latencies_ms` through an HDR histogram (1 µs resolution, 3 significant digits). */
export function latencyStats(latencies_ms: readonly number[], uncommitted: number): BenchResult['latency'] {
  const histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  try {
    let max = 0;
    for (const ms of latencies_ms) {
      histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
      max = Math.max(max, ms);
    }
    // The histogram answers with its bucket's upper bound (3 significant digits), which can lie just
    // above the largest sample; no percentile is reported above the true maximum.
    const at = (p: number) =>
      latencies_ms.length === 0 ? 0 : round3(Math.min(histogram.getValueAtPercentile(p) / 1000, max));
    return {
      count: latencies_ms.length,
      uncommitted,
      p50_ms: at(50),
      p90_ms: at(90),
      p99_ms: at(99),
      p99_9_ms: at(99.9),
      max_ms: round3(max),
      mean_ms: latencies_ms.length === 0 ? 0 : round3(histogram.mean / 1000),
      distribution: DISTRIBUTION_PERCENTILES.map((percentile) => ({ percentile, value_ms: at(percentile) })),
      hdrHistogram: encodeIntoCompressedBase64(histogram),
    };
  } finally {
    histogram.destroy();
  }
}

/** Committed transactions per 1-second bucket from commit times (seconds since the load started). */
export function throughputBuckets(commitTimes_s: readonly number[]): Array<{ t_s: number; txs: number }> {
  let last = -1;
  for (const t of commitTimes_s) last = Math.max(last, Math.floor(t));
  const buckets = Array.from({ length: last + 1 }, (_, t_s) => ({ t_s, txs: 0 }));
  for (const t of commitTimes_s) if (t >= 0) buckets[Math.floor(t)]!.txs++;
  return buckets;
}

/** Mean and peak throughput over the measured window [warmup_s, warmup_s + duration_s). */
export function throughputStats(
  commitTimes_s: readonly number[],
  warmup_s: number,
  duration_s: number,
): { mean_txps: number; peak_txps: number } {
  const end_s = warmup_s + duration_s;
  const inWindow = commitTimes_s.filter((t) => t >= warmup_s && t < end_s).length;
  let peak = 0;
  for (const bucket of throughputBuckets(commitTimes_s)) {
    if (bucket.t_s >= Math.floor(warmup_s) && bucket.t_s < Math.ceil(end_s))
      peak = Math.max(peak, bucket.txs);
  }
  return { mean_txps: Math.round((inWindow / duration_s) * 10) / 10, peak_txps: peak };
}

/** Milliseconds from `at_s` to the first commit after it, or null (commit times sorted ascending). */
export function nextCommitAfter(sortedCommitTimes_s: readonly number[], at_s: number): number | null {
  let lo = 0;
  let hi = sortedCommitTimes_s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortedCommitTimes_s[mid]! > at_s) hi = mid;
    else lo = mid + 1;
  }
  return lo < sortedCommitTimes_s.length ? round3((sortedCommitTimes_s[lo]! - at_s) * 1000) : null;
}

/** Milliseconds from `at_s` to the first commit of a transaction submitted after `at_s`, or null. */
function resumedAfter(txs: Observations['txs'], at_s: number): number | null {
  let first = Number.POSITIVE_INFINITY;
  for (const tx of txs) {
    if (tx.submitted_s > at_s && tx.committed_s !== null && tx.committed_s < first) first = tx.committed_s;
  }
  return Number.isFinite(first) ? round3((first - at_s) * 1000) : null;
}

/** The window of submissions whose median latency is compared with the median before a fault. */
const RECOVERY_WINDOW_S = 0.5;
const RECOVERY_STEP_S = 0.1;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Latencies (s) of the transactions submitted in [from_s, to_s), uncommitted ones as infinite. */
function latenciesSubmittedIn(txs: Observations['txs'], from_s: number, to_s: number): number[] {
  const out: number[] = [];
  for (const tx of txs) {
    if (tx.submitted_s < from_s || tx.submitted_s >= to_s) continue;
    out.push(tx.committed_s === null ? Number.POSITIVE_INFINITY : tx.committed_s - tx.submitted_s);
  }
  return out;
}

/**
 * Milliseconds from `at_s` to the first window of submissions after it whose median latency is back
 * near the median of the submissions between `warmup_s` and the fault, or null.
 */
function latencyRecoveredAfter(txs: Observations['txs'], at_s: number, warmup_s: number): number | null {
  const before = median(latenciesSubmittedIn(txs, warmup_s, at_s));
  if (before === null) return null;
  const near = Math.max(before * 1.25, before + 0.025);
  const last_s = txs.reduce((max, tx) => Math.max(max, tx.submitted_s), 0);
  for (let from = at_s; from + RECOVERY_WINDOW_S <= last_s; from += RECOVERY_STEP_S) {
    const window = median(latenciesSubmittedIn(txs, from, from + RECOVERY_WINDOW_S));
    if (window !== null && window <= near) return round3((from - at_s) * 1000);
  }
  return null;
}

/** What a run observed, in seconds since the load started. */
export interface Observations {
  /**
   * Every transaction submitted: when, its encoded size, when it first committed anywhere (null:
   * never), and in real mode its load kind and, when the rule engine refused it, the receipt code.
   */
  txs: ReadonlyArray<{
    submitted_s: number;
    committed_s: number | null;
    bytes: number;
    kind?: string;
    refused?: string | null;
  }>;
  /** Submissions that failed (the validator was down or refused them). */
  failedSubmissions: number;
  /** The faults as applied. */
  faults: ReadonlyArray<{ at_s: number; kind: string; description: string }>;
}

/** The statistics of a run's observations (the parts of a result both modes compute alike). */
export function statistics(
  observations: Observations,
  window: { warmup_s: number; duration_s: number },
  bound_txps: number | null,
): Pick<BenchResult, 'load' | 'throughput' | 'latency' | 'faults' | 'committedTxs'> {
  const { warmup_s, duration_s } = window;
  const end_s = warmup_s + duration_s;
  const commits: number[] = [];
  const latencies_ms: number[] = [];
  let measuredSubmitted = 0;
  let uncommitted = 0;
  let bytes = 0;
  for (const tx of observations.txs) {
    bytes += tx.bytes;
    if (tx.committed_s !== null) commits.push(tx.committed_s);
    if (tx.submitted_s < warmup_s || tx.submitted_s >= end_s) continue;
    measuredSubmitted++;
    if (tx.committed_s === null) uncommitted++;
    else latencies_ms.push(Math.max(0, (tx.committed_s - tx.submitted_s) * 1000));
  }
  commits.sort((a, b) => a - b);
  const { mean_txps, peak_txps } = throughputStats(commits, warmup_s, duration_s);
  const submitted = observations.txs.length;
  return {
    load: {
      submittedTxs: submitted,
      measuredSubmittedTxs: measuredSubmitted,
      failedSubmissions: observations.failedSubmissions,
      meanTxBytes: submitted === 0 ? 0 : Math.round(bytes / submitted),
      offered_txps: Math.round((submitted / end_s) * 10) / 10,
    },
    throughput: {
      buckets: throughputBuckets(commits),
      mean_txps,
      peak_txps,
      ratioToBound:
        bound_txps === null || bound_txps <= 0 ? null : Math.round((mean_txps / bound_txps) * 1000) / 1000,
    },
    latency: latencyStats(latencies_ms, uncommitted),
    faults: observations.faults.map((fault) => ({
      at_s: round3(fault.at_s),
      kind: fault.kind,
      description: fault.description,
      nextCommitAfter_ms: nextCommitAfter(commits, fault.at_s),
      resumedAfter_ms: resumedAfter(observations.txs, fault.at_s),
      latencyRecoveredAfter_ms: latencyRecoveredAfter(observations.txs, fault.at_s, warmup_s),
    })),
    committedTxs: commits.length,
  };
}

/**
 * Per load kind (real mode): transactions submitted, committed, and of those how many the rule engine
 * refused and with which codes; committed tx/s and accepted (committed and not refused) tx/s over the
 * measured window. Null when the observations carry no kinds (sim mode).
 */
export function kindStatistics(
  observations: Observations,
  window: { warmup_s: number; duration_s: number },
): BenchResult['kinds'] {
  const { warmup_s, duration_s } = window;
  const end_s = warmup_s + duration_s;
  const kinds: NonNullable<BenchResult['kinds']> = {};
  for (const tx of observations.txs) {
    if (tx.kind === undefined) return null;
    kinds[tx.kind] ??= {
      submitted: 0,
      committed: 0,
      refused: 0,
      refusedCodes: {},
      committed_txps: 0,
      accepted_txps: 0,
    };
    const k = kinds[tx.kind]!;
    k.submitted++;
    if (tx.committed_s === null) continue;
    k.committed++;
    const inWindow = tx.committed_s >= warmup_s && tx.committed_s < end_s;
    if (inWindow) k.committed_txps++;
    if (tx.refused) {
      k.refused++;
      k.refusedCodes[tx.refused] = (k.refusedCodes[tx.refused] ?? 0) + 1;
    } else if (inWindow) k.accepted_txps++;
  }
  for (const k of Object.values(kinds)) {
    k.committed_txps = Math.round((k.committed_txps / duration_s) * 10) / 10;
    k.accepted_txps = Math.round((k.accepted_txps / duration_s) * 10) / 10;
  }
  return kinds;
}
