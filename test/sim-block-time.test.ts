/**
 * Block time under faulty clocks and a primary that bends time. A block's timestamp drives grant
 * expiry, emergency windows and read-permit lifetimes, so no committed block may claim a time
 * further from true time than maxClockSkew_ms (the block-time checker, with every other checker):
 * - clock-skew: every clock a little off (within a quarter of the bound) and one honest replica's
 *   2-4 times the bound off while the faults last; the cluster keeps deciding;
 * - bend-time: a Byzantine primary stamps its proposals far off (2-4 times the bound: refused, and
 *   it is replaced) or at the edge of the bound, forward and back.
 * Without the clock check (the skip-clock-check mutation) the block-time checker objects.
 */
import { describe, expect, it } from 'vitest';
import { parseFaults, runSeeds, type SeedOutcome, simOptions } from '../src/sim/index.ts';
import { expectNoViolations } from './fixtures/sim.ts';

const run = (nodes: number, faults: string, count: number, unsafe = {}): Promise<SeedOutcome[]> =>
  runSeeds(
    Array.from({ length: count }, (_, i) =>
      simOptions({ seed: 1 + i, nodes, faults: parseFaults(faults), unsafe }),
    ),
    2,
  );

describe('block time', () => {
  it('holds with skewed clocks, one far off, among the usual faults (n = 4 and 7)', async () => {
    const outcomes = [
      ...(await run(4, 'clock-skew,drop,crash', 30)),
      ...(await run(7, 'clock-skew,delay', 10)),
    ];
    expectNoViolations(outcomes);
    expect(outcomes.every((o) => o.stats.committedBlocks > 0)).toBe(true);
  }, 300_000);

  it('holds against a primary that bends time: its untimely proposals are not voted for', async () => {
    const outcomes = [...(await run(4, 'bend-time', 30)), ...(await run(7, 'bend-time,clock-skew', 10))];
    expectNoViolations(outcomes);
    // A primary whose proposals honest replicas refuse is replaced.
    expect(outcomes.reduce((sum, o) => sum + o.stats.viewChanges, 0)).toBeGreaterThan(0);
  }, 300_000);

  it('is broken by a replica that votes whatever the timestamp, and the checker says so', async () => {
    const outcomes = await run(4, 'bend-time', 30, { skipClockCheck: true });
    const caught = outcomes.filter((o) => o.violations.some((v) => v.checker === 'block-time'));
    expect(caught.length).toBeGreaterThan(0);
  }, 300_000);
});
