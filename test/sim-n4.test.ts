/**
 * 300 simulated runs of 4 validators (f = 1), each seed a random mix of every fault kind: network
 * delay, loss, duplication, reordering and partitions, crashes and restarts, and a Byzantine replica.
 * Every checker must pass; a failure names the command that replays it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MIXED_FAULT_KINDS, type SeedOutcome } from '../src/sim/index.ts';
import { expectNoViolations, runSweep, seedChunks } from './fixtures/sim.ts';

const FIRST = 1;
const SEEDS = 300;

describe('simulation, n = 4', () => {
  let outcomes: SeedOutcome[] = [];
  beforeAll(async () => {
    outcomes = await runSweep(4, FIRST, SEEDS);
  }, 600_000);

  it.each(seedChunks(FIRST, SEEDS, 50))('seeds %i.. (%i seeds) pass every checker', (first, count) => {
    expectNoViolations(outcomes.slice(first - FIRST, first - FIRST + count));
  });

  it('ran every seed, mixing every fault kind, and exercised crashes, view changes and state transfer', () => {
    expect(outcomes).toHaveLength(SEEDS);
    const seen = new Set(outcomes.flatMap((o) => o.faults));
    expect(MIXED_FAULT_KINDS.filter((k) => !seen.has(k))).toEqual([]);
    const total = (pick: (o: SeedOutcome) => number) => outcomes.reduce((sum, o) => sum + pick(o), 0);
    expect(total((o) => o.stats.midStepCrashes)).toBeGreaterThan(0); // between a persist and its sends
    expect(total((o) => o.stats.restarts)).toBeGreaterThan(0);
    expect(total((o) => o.stats.viewChanges)).toBeGreaterThan(0);
    expect(total((o) => o.stats.fetchedBlocks)).toBeGreaterThan(0);
    expect(total((o) => o.stats.clientResubmissions)).toBeGreaterThan(0);
  });
});
