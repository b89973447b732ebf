/**
 * One benchmark run, end to end: measure the machine's signature bound, run the scenario in its mode
 * (run-real.ts or run-sim.ts), and assemble the BenchResult with the statistics, versions and machine.
 */

import {
  kindStatistics,
  machine,
  measureVerifyRate,
  signatureBound,
  statistics,
  versions,
} from './measure.ts';
import { BENCH_RESULT_VERSION, type BenchResult, refusedCodesText, refusedNote } from './result.ts';
import { runReal } from './run-real.ts';
import { runSim } from './run-sim.ts';
import type { Scenario } from './scenario.ts';

export interface RunOptions {
  log: (line: string) => void;
  /** The scenario file, recorded in the result so the run can be repeated. */
  scenarioPath?: string;
  /** Real mode: where to keep the validators' stderr logs. */
  logsDir?: string;
  /** Real mode: write CPU profiles of the validators (node --cpu-prof) here. */
  profileDir?: string;
  /** Milliseconds spent measuring the verify rate (default 1000). */
  verifyMeasure_ms?: number;
}

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<BenchResult> {
  const { log } = options;
  const startedAt = new Date().toISOString();
  const wallStart = performance.now();
  log(
    `${scenario.name}: ${scenario.mode} mode, n = ${scenario.validators} (f = ${scenario.f}), seed ${scenario.seed}`,
  );
  const verifiesPerSecond = measureVerifyRate(options.verifyMeasure_ms ?? 1000);
  const bound = signatureBound(verifiesPerSecond, scenario.validators);
  log(
    `machine: ${bound.cores} cores, Ed25519 verify ${bound.verifiesPerSecond}/s per core, signature bound ${bound.bound_txps} tx/s for ${scenario.validators} validators`,
  );
  const mode =
    scenario.mode === 'real'
      ? await runReal(scenario, {
          log,
          bound_txps: bound.bound_txps,
          ...(options.logsDir ? { logsDir: options.logsDir } : {}),
          ...(options.profileDir ? { profileDir: options.profileDir } : {}),
        })
      : await runSim(scenario, log);
  const stats = statistics(
    mode.observations,
    { warmup_s: scenario.warmup_s, duration_s: scenario.duration_s },
    scenario.mode === 'real' ? bound.bound_txps : null,
  );
  return {
    version: BENCH_RESULT_VERSION,
    scenario,
    ...(options.scenarioPath ? { scenarioPath: options.scenarioPath } : {}),
    seed: scenario.seed,
    clock: scenario.mode === 'sim' ? 'virtual' : 'wall',
    startedAt,
    duration_s: scenario.duration_s,
    warmup_s: scenario.warmup_s,
    wall_s: Math.round((performance.now() - wallStart) / 100) / 10,
    versions: versions(),
    machine: machine(),
    signatureBound: bound,
    load: stats.load,
    throughput: stats.throughput,
    latency: stats.latency,
    faults: stats.faults,
    viewChanges: mode.viewChanges,
    maxView: mode.maxView,
    messages: mode.messages,
    validators: mode.validators,
    committedTxs: stats.committedTxs,
    committedBlocks: mode.committedBlocks,
    refusedTxs: mode.refusedTxs ?? null,
    blocks: mode.blocks ?? null,
    kinds: kindStatistics(mode.observations, {
      warmup_s: scenario.warmup_s,
      duration_s: scenario.duration_s,
    }),
    violations: mode.violations,
    notes: mode.notes,
  };
}

/** One line per load kind when there are several, or any was refused: its rates and refusals. */
export function kindLines(result: Pick<BenchResult, 'kinds'>): string[] {
  const kinds = Object.entries(result.kinds ?? {});
  if (kinds.length < 2 && kinds.every(([, k]) => k.refused === 0)) return [];
  return kinds.map(([kind, k]) => {
    const codes = refusedCodesText(k.refusedCodes);
    return (
      `${kind}: ${k.accepted_txps} tx/s accepted (${k.committed_txps} committed), ` +
      `${k.committed} of ${k.submitted} committed, ${k.refused} refused${codes ? ` (${codes})` : ''}`
    );
  });
}

const ms = (value: number | null) => (value === null ? 'none' : `${value} ms`);

/** A few lines for a terminal: the headline numbers of a result. */
export function formatResult(result: BenchResult): string {
  const unit = result.clock === 'virtual' ? ' (virtual time)' : '';
  const t = result.throughput;
  const l = result.latency;
  const lines = [
    `${result.scenario.name}: ${result.committedTxs} txs in ${result.committedBlocks} blocks${unit}${refusedNote(result)}`,
    `  throughput: mean ${t.mean_txps} tx/s, peak ${t.peak_txps} tx/s` +
      (t.ratioToBound === null
        ? ''
        : ` = ${(100 * t.ratioToBound).toFixed(0)}% of the signature bound (${result.signatureBound.bound_txps} tx/s)`),
    `  latency: p50 ${l.p50_ms} ms, p90 ${l.p90_ms} ms, p99 ${l.p99_ms} ms, p99.9 ${l.p99_9_ms} ms, max ${l.max_ms} ms (${l.count} txs${l.uncommitted > 0 ? `, ${l.uncommitted} never committed` : ''})`,
    `  view changes: ${result.viewChanges}; messages: ${result.messages.perBlock} per block, ${result.messages.bytesPerBlock} bytes per block`,
  ];
  for (const line of kindLines(result)) lines.push(`  ${line}`);
  for (const fault of result.faults) {
    lines.push(
      `  fault at ${fault.at_s} s: ${fault.description}; next commit after ${ms(fault.nextCommitAfter_ms)}, ` +
        `first commit of a later submission after ${ms(fault.resumedAfter_ms ?? null)}, ` +
        `median latency recovered after ${ms(fault.latencyRecoveredAfter_ms ?? null)}`,
    );
  }
  for (const v of result.validators) {
    lines.push(
      `  validator ${v.index}: CPU ${v.cpu_percent}%, peak RSS ${(v.maxRss_bytes / 2 ** 20).toFixed(0)} MiB${v.restarts > 0 ? `, ${v.restarts} restart(s)` : ''}`,
    );
  }
  for (const v of result.violations) lines.push(`  CHECKER ${v.checker}: ${v.detail}`);
  for (const note of result.notes) lines.push(`  note: ${note}`);
  return lines.join('\n');
}
