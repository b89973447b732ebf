/**
 * 100 simulated runs of 7 validators (f = 2), each seed a random mix of every fault kind, with up to
 * two colluding Byzantine replicas. Every checker must pass; a failure names the command that replays it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MIXED_FAULT_KINDS, type SeedOutcome } from '../src/sim/index.ts';
import { expectNoViolations, runSweep, seedChunks } from './fixtures/sim.ts';

const FIRST = 1;
const SEEDS = 100;

describe('simulation, n = 7', () => {
  let outcomes: SeedOutcome[] = [];
  beforeAll(async () => {
    outcomes = await runSweep(7, FIRST, SEEDS);
  }, 600_000);

  it.each(seedChunks(FIRST, SEEDS, 25))('seeds %i.. (%i seeds) pass every checker', (first, count) => {
    expectNoViolations(outcomes.slice(first - FIRST, first - FIRST + count));
  });

  it('ran every seed, mixing every fault kind, with one and with two Byzantine replicas', () => {
    expect(outcomes).toHaveLength(SEEDS);
    const seen = new Set(outcomes.flatMap((o) => o.faults));
    expect(MIXED_FAULT_KINDS.filter((k) => !seen.has(k))).toEqual([]);
    const byzantine = new Set(outcomes.map((o) => o.byzantine.length));
    expect(byzantine).toContain(1);
    expect(byzantine).toContain(2);
  });
});
