/**
 * The crash-loop benchmark's report: the options it ran with, each run's figures (crash-loop.ts) and
 * a short Markdown summary with every figure beside its target.
 */
import { cpus } from 'node:os';
import type { CrashLoopOptions, CrashLoopRun } from './crash-loop.ts';
import type { Target } from './crash-loop-analysis.ts';

export const CRASH_LOOP_REPORT_VERSION = 1;

export interface CrashLoopReport {
  version: typeof CRASH_LOOP_REPORT_VERSION;
  kind: 'crash-loop';
  startedAt: string;
  /** `git rev-parse --short HEAD` of the code measured, when known. */
  commit: string | null;
  options: Omit<CrashLoopOptions, 'log' | 'logDir'> & { runs: number };
  machine: { cores: number; node: string; platform: string };
  runs: CrashLoopRun[];
  /** Every target met in every run. */
  allTargetsMet: boolean;
}

export function crashLoopReport(
  options: CrashLoopReport['options'],
  runs: CrashLoopRun[],
  startedAt: Date,
  commit: string | null,
): CrashLoopReport {
  return {
    version: CRASH_LOOP_REPORT_VERSION,
    kind: 'crash-loop',
    startedAt: startedAt.toISOString(),
    commit,
    options,
    machine: { cores: cpus().length, node: process.version, platform: process.platform },
    runs,
    allTargetsMet: runs.every((run) => run.targets.every((t) => t.met)),
  };
}

const mark = (t: Target) => (t.met ? 'met' : '**missed**');
const seconds = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);

function runSection(run: CrashLoopRun, index: number): string[] {
  const lines = [
    `## Run ${index + 1} (seed ${run.seed}, ${seconds(run.duration_ms)})`,
    '',
    '| figure | target | value | |',
    '|---|---|---|---|',
    ...run.targets.map((t) => `| ${t.name} | ${t.target} | ${t.value} | ${mark(t)} |`),
    '',
    `- load: ${run.load.offered} offered over ${seconds(run.load.load_ms)}, ${run.load.accepted} accepted (202)` +
      `, ${run.load.acceptedWithNoQuorumWarning} of them with API_NO_QUORUM; not accepted: ` +
      (Object.entries(run.load.refused)
        .map(([why, count]) => `${count} ${why}`)
        .join(', ') || 'none') +
      `; ${run.load.unanswered} unanswered`,
    `- lost by accepting validator: ${run.lost.byAcceptingNode.join(' / ')}; missing from each chain at the end: ${run.lost.missingOnNode.join(' / ')}; committed but refused after an earlier loss of their signer (nonce gap): ${run.lost.refusedAfterLoss}`,
    `- restarts: ${run.readiness.ready} ready (median ${seconds(run.readiness.p50_ms)}, slowest ${seconds(run.readiness.max_ms)}), ${run.readiness.never} never within the deadline`,
    `- longest commit gap: ${run.longestCommitGap ? `${seconds(run.longestCommitGap.gap_ms)} after height ${run.longestCommitGap.height} at t = ${seconds(run.longestCommitGap.from_ms)}${run.longestCommitGap.open ? ' (no commit until the load ended)' : ''}` : 'none'}`,
    `- highest height ${run.highestHeight}, highest view ${run.highestView}, view changes started ${run.viewChangesStarted}`,
    `- heads at the end: ${run.heads.map((h) => (h.height === null ? `${h.node}: no answer` : `${h.node}: ${h.height} ${h.hash!.slice(0, 8)} root ${h.stateRoot!.slice(0, 8)} view ${h.view}`)).join('; ')}`,
    '',
    '| kill | validator | primary | down | API answering after restart | ready after restart |',
    '|---|---|---|---|---|---|',
    ...run.restarts.map(
      (r) =>
        `| ${r.kill} | ${r.node} | ${r.wasPrimary ? 'yes' : ''} | ${r.down_ms} ms | ${seconds(r.startup_ms)} | ${r.ready ? seconds(r.ready_ms) : `never: ${r.startError ?? r.notReadyWhy ?? ''}`} |`,
    ),
  ];
  if (run.notes.length > 0) lines.push('', ...run.notes.map((note) => `- note: ${note}`));
  return lines;
}

export function crashLoopMarkdown(report: CrashLoopReport): string {
  const o = report.options;
  return [
    '# Crash loop',
    '',
    `${report.startedAt}, commit ${report.commit ?? 'unknown'}, ${report.machine.cores} cores, Node ${report.machine.node}.`,
    `4 validators, ${o.kills} SIGKILL${o.kills === 1 ? '' : 's'} per run (one validator at a time, down ${o.downMin_ms}–${o.downMax_ms} ms), ` +
      `${o.rate_tps} tx/s over ${4 * o.signersPerNode} signers pinned to the validators, drain ${o.drain_ms / 1000} s, seed ${o.seed}.`,
    '',
    `Every target met in every run: ${report.allTargetsMet ? 'yes' : 'no'}.`,
    '',
    ...report.runs.flatMap((run, k) => [...runSection(run, k), '']),
  ].join('\n');
}
