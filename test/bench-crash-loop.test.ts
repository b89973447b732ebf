/**
 * The crash-loop benchmark: its figures from hand-made observations (a transaction accepted but in
 * no chain is lost, a commit gap counts only while a quorum of processes is up, heads must all
 * agree), its options, and a short run on real validator processes (three kills) whose report has
 * every figure and finds a transaction recorded as accepted that never reached any validator.
 */
import { describe, expect, it } from 'vitest';
import { runCrashLoop } from '../src/bench/crash-loop.ts';
import {
  type AcceptedTx,
  headsEqual,
  longestCommitGap,
  lostTransactions,
  type NodeHead,
  targets,
} from '../src/bench/crash-loop-analysis.ts';
import { parseCrashLoopArgs } from '../src/bench/crash-loop-args.ts';
import { crashLoopMarkdown, crashLoopReport } from '../src/bench/crash-loop-report.ts';

const tx = (hash: string, signer: number, nonce: number, node = signer % 4): AcceptedTx => ({
  hash,
  node,
  signer,
  nonce,
  at_ms: 0,
  noQuorumWarning: false,
});

describe('crash-loop figures', () => {
  it('counts as lost only what no validator committed, and what its signer lost after it', () => {
    const accepted = [tx('a', 0, 1), tx('b', 1, 1), tx('c', 1, 2), tx('d', 1, 3), tx('e', 2, 1)];
    // b is lost everywhere; c and d committed after it (refused for the nonce gap); a only on 0.
    const committed = [
      new Set(['a', 'c', 'd', 'e']),
      new Set(['c', 'd', 'e']),
      new Set(['c', 'd', 'e']),
      null,
    ];
    const lost = lostTransactions(accepted, committed);
    expect(lost.count).toBe(1);
    expect(lost.examples.map((t) => t.hash)).toEqual(['b']);
    expect(lost.byAcceptingNode).toEqual([0, 1, 0, 0]);
    expect(lost.missingOnNode).toEqual([1, 2, 2, 5]);
    expect(lost.refusedAfterLoss).toBe(2);
  });

  it('takes the longest commit gap only over spans with n − f processes up, a stall to the end included', () => {
    const sightings = [0, 1_000, 8_000, 11_000, 12_000].map((at_ms, k) => ({ at_ms, height: k + 1 }));
    // Two of four up from 2 s to 7 s: the 7 s gap after height 2 does not count; 3 s after height 3 does.
    const up = [
      { at_ms: 0, up: 4 },
      { at_ms: 2_000, up: 3 },
      { at_ms: 2_500, up: 2 },
      { at_ms: 7_000, up: 4 },
    ];
    expect(longestCommitGap(sightings, up, 3, { start_ms: 0, end_ms: 13_000 })).toMatchObject({
      gap_ms: 3_000,
      height: 3,
      open: false,
    });
    expect(longestCommitGap(sightings, up, 3, { start_ms: 0, end_ms: 20_000 })).toMatchObject({
      gap_ms: 8_000,
      height: 5,
      open: true,
    });
    expect(longestCommitGap([], up, 3, { start_ms: 0, end_ms: 1 })).toBeNull();
  });

  it('needs every head, hash and state root equal, and says which target is missed', () => {
    const head = (node: number, hash: string | null): NodeHead => ({
      node,
      height: hash === null ? null : 7,
      hash,
      stateRoot: hash === null ? null : 'r',
      view: 0,
    });
    expect(headsEqual([0, 1, 2, 3].map((i) => head(i, 'h')))).toBe(true);
    expect(headsEqual([head(0, 'h'), head(1, 'h'), head(2, 'x'), head(3, 'h')])).toBe(false);
    expect(headsEqual([head(0, 'h'), head(1, null)])).toBe(false);
    const restart = { kill: 1, node: 2, wasPrimary: false, killedAt_ms: 0, down_ms: 1_000, startup_ms: 900 };
    const result = targets({
      lost: 0,
      restarts: [
        { ...restart, ready: true, ready_ms: 3_000 },
        { ...restart, ready: false, ready_ms: null },
      ],
      longestGap: { gap_ms: 6_000, from_ms: 0, to_ms: 6_000, height: 1, open: false },
      headsEqual: true,
    });
    expect(result.map((t) => t.met)).toEqual([true, false, false, true]);
    expect(result[1]!.value).toContain('1/2 ready, 1 never');
  });

  it('reads its options, with defaults, and refuses bad ones with BENCH_ARGS_INVALID', () => {
    const args = parseCrashLoopArgs([]);
    expect(args.runs).toBe(3);
    expect(args.options).toMatchObject({ kills: 20, rate_tps: 10, downMin_ms: 1_000, downMax_ms: 3_000 });
    expect(parseCrashLoopArgs(['--kills', '5', '--json']).options.kills).toBe(5);
    for (const bad of [
      ['--kills', '-1'],
      ['--rate', 'fast'],
      ['--down-min-ms', '3000', '--down-max-ms', '1000'],
      ['--unknown'],
    ]) {
      expect(() => parseCrashLoopArgs(bad)).toThrow(expect.objectContaining({ code: 'BENCH_ARGS_INVALID' }));
    }
  });
});

describe('crash-loop on validator processes', () => {
  it('kills and restarts validators under load and finds an accepted transaction that never committed', async () => {
    const options = {
      kills: 3,
      rate_tps: 10,
      downMin_ms: 300,
      downMax_ms: 800,
      seed: 7,
      drain_ms: 5_000,
      readyDeadline_ms: 30_000,
      settle_ms: 1_000,
      basePort: 47_420,
      signersPerNode: 1,
      unsentAccepted: 1,
    };
    const run = await runCrashLoop(options);
    expect(run.restarts.map((r) => r.kill)).toEqual([1, 2, 3]);
    for (const r of run.restarts) {
      expect(r.node).toBeGreaterThanOrEqual(0);
      expect(r.node).toBeLessThan(4);
      expect(r.down_ms).toBeGreaterThanOrEqual(300);
      expect(r.down_ms).toBeLessThanOrEqual(800);
      if (r.ready) expect(r.ready_ms).toBeGreaterThanOrEqual(r.startup_ms!);
      else expect(r.ready_ms).toBeNull();
    }
    expect(run.load.accepted).toBeGreaterThan(0);
    expect(run.highestHeight).toBeGreaterThan(0);
    expect(run.longestCommitGap).not.toBeNull();
    // The transaction recorded as accepted but never sent: lost, and missing from every chain.
    expect(run.lost.examples[0]).toMatchObject({ signer: 0, nonce: 1_000_000 });
    expect(run.lost.count).toBeGreaterThanOrEqual(1);
    expect(run.lost.count).toBeLessThanOrEqual(run.load.accepted + 1);
    for (const missing of run.lost.missingOnNode) expect(missing).toBeGreaterThanOrEqual(1);
    expect(run.heads.map((h) => h.node)).toEqual([0, 1, 2, 3]);
    expect(run.targets.map((t) => t.name)).toEqual([
      'accepted transactions lost',
      'restarted validators ready again',
      'longest commit gap with at least n − f up',
      'heads and state roots equal at the end',
    ]);
    expect(run.targets[0]!.met).toBe(false);

    const report = crashLoopReport({ ...options, runs: 1 }, [run], new Date(), null);
    expect(report.allTargetsMet).toBe(false);
    const markdown = crashLoopMarkdown(report);
    expect(markdown).toContain('| accepted transactions lost | 0 |');
    expect(markdown).toContain('**missed**');
    expect(markdown.match(/^\| [123] \| [0-3] \|/gm)).toHaveLength(3);
  }, 360_000);
});
