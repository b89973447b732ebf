/**
 * One seed, end to end: simulate, check, summarise. What the CLI and the tests call.
 */
import { type CheckReport, checkRun } from './checkers.ts';
import type { FaultKind } from './faults.ts';
import { replayCommand, type SimOptions } from './options.ts';
import { type SimStats, Simulator, type Violation } from './simulator.ts';

export interface SeedOutcome {
  seed: number;
  /** The named scenario of the run, if any. */
  scenario?: string;
  faults: FaultKind[];
  byzantine: number[];
  violations: Violation[];
  /** The command that replays this run exactly. */
  replay: string;
  stats: SimStats;
  recovery_ms: number;
  livenessBound_ms: number;
  /** Virtual time the run ended at. */
  end_ms: number;
  traceHash: string;
}

export async function runSeed(options: SimOptions): Promise<SeedOutcome> {
  const result = await new Simulator(options).run();
  const report: CheckReport = checkRun(result);
  return {
    seed: options.seed,
    ...(options.scenario ? { scenario: options.scenario } : {}),
    faults: result.faults,
    byzantine: result.byzantine,
    violations: report.violations,
    replay: replayCommand(options),
    stats: result.stats,
    recovery_ms: report.recovery_ms,
    livenessBound_ms: report.livenessBound_ms,
    end_ms: result.end_ms,
    traceHash: result.traceHash,
  };
}

/** A one-paragraph description of a failing seed, ending with the command that replays it. */
export function describeFailure(outcome: SeedOutcome): string {
  const lines = outcome.violations.map((v) => `  ${v.checker}: ${v.detail}`);
  return [
    `seed ${outcome.seed} (${outcome.scenario ? `scenario ${outcome.scenario}` : `faults ${outcome.faults.join(',') || 'none'}`}; byzantine ${outcome.byzantine.join(',') || 'none'}): ${outcome.violations.length} violation(s)`,
    ...lines,
    `  replay: ${outcome.replay}`,
  ].join('\n');
}
