/** Totals over many seeds, in the shape `medledger sim --json` prints. */
import type { SeedOutcome } from './run.ts';

export interface Failure {
  seed: number;
  checker: string;
  detail: string;
  /** The command that replays the failing seed. */
  replay: string;
}

export interface SimSummary {
  nodes: number;
  seeds: number;
  /** Seeds with at least one violation. */
  failedSeeds: number;
  violations: number;
  /** Blocks committed (longest honest chain), summed over seeds. */
  committedBlocks: number;
  /** View changes started by honest replicas, summed over seeds. */
  viewChanges: number;
  messages: number;
  bytes: number;
  crashes: number;
  wall_ms: number;
  /** Worker threads the seeds ran on. */
  workers: number;
  /** Simulated blocks committed per wall-clock second. */
  blocksPerSecond: number;
  /** Longest time, after the faults healed, until every honest replica committed every transaction. */
  longestRecovery_ms: number;
  longestRecoverySeed: number | null;
  livenessBound_ms: number;
  /** With twins: seeds run with them, and how much they bit (null when no seed had twins). */
  twins: TwinsSummary | null;
  failures: Failure[];
}

export interface TwinsSummary {
  seeds: number;
  /** Seeds in which honest replicas received two different blocks signed by one twinned key for one (phase, view, height). */
  equivocationSeeds: number;
  /** Such (key, phase, view, height), summed over seeds. */
  equivocationsSeen: number;
  /** Seeds with twins in which honest replicas changed view. */
  viewChangeSeeds: number;
  /** Times a twin's replica threw or could not apply a commit, summed (not violations). */
  failures: number;
}

export function summarise(
  nodes: number,
  outcomes: readonly SeedOutcome[],
  wall_ms: number,
  workers = 1,
): SimSummary {
  const summary: SimSummary = {
    nodes,
    seeds: outcomes.length,
    failedSeeds: 0,
    violations: 0,
    committedBlocks: 0,
    viewChanges: 0,
    messages: 0,
    bytes: 0,
    crashes: 0,
    wall_ms: Math.round(wall_ms),
    workers: Math.min(workers, Math.max(1, outcomes.length)),
    blocksPerSecond: 0,
    longestRecovery_ms: 0,
    longestRecoverySeed: null,
    livenessBound_ms: outcomes[0]?.livenessBound_ms ?? 0,
    twins: null,
    failures: [],
  };
  for (const o of outcomes) {
    summary.committedBlocks += o.stats.committedBlocks;
    summary.viewChanges += o.stats.viewChanges;
    summary.messages += o.stats.network.messagesSent;
    summary.bytes += o.stats.network.bytesSent;
    summary.crashes += o.stats.crashes;
    const twins = o.stats.twins;
    if (twins) {
      summary.twins ??= {
        seeds: 0,
        equivocationSeeds: 0,
        equivocationsSeen: 0,
        viewChangeSeeds: 0,
        failures: 0,
      };
      summary.twins.seeds++;
      if (twins.equivocationsSeen > 0) summary.twins.equivocationSeeds++;
      summary.twins.equivocationsSeen += twins.equivocationsSeen;
      if (o.stats.viewChanges > 0) summary.twins.viewChangeSeeds++;
      summary.twins.failures += twins.failures;
    }
    summary.violations += o.violations.length;
    if (o.violations.length > 0) summary.failedSeeds++;
    for (const v of o.violations) summary.failures.push({ seed: o.seed, ...v, replay: o.replay });
    if (summary.longestRecoverySeed === null || o.recovery_ms > summary.longestRecovery_ms) {
      summary.longestRecovery_ms = Math.round(o.recovery_ms * 1000) / 1000;
      summary.longestRecoverySeed = o.seed;
    }
  }
  summary.blocksPerSecond = wall_ms > 0 ? Math.round((summary.committedBlocks / wall_ms) * 1000) : 0;
  return summary;
}
