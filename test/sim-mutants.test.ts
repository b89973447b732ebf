/**
 * The bounded form of `npm run sim:mutants`: each deliberate protocol bug the checkers reliably
 * catch, over 20 seeds, against the Byzantine behaviour that tries what the missing check would let
 * through. Each must be caught in at least half the seeds, and the same attacks against the honest
 * code must raise no alarm.
 */
import { availableParallelism } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatMutantTable, MUTANTS, type MutantResult, runMutants } from '../src/sim/mutants.ts';

const SEEDS = 20;
// Twins runs are slower; their bounded mutation check is in sim-twins.test.ts.
const RELIABLE = MUTANTS.filter((m) => m.reliable && m.faults !== 'twins');

describe('the checkers catch deliberate protocol bugs', () => {
  let results: MutantResult[] = [];
  beforeAll(async () => {
    results = await runMutants({
      seeds: SEEDS,
      firstSeed: 1,
      controlSeeds: 2,
      workers: Math.max(1, availableParallelism()),
      only: RELIABLE.map((m) => m.name),
    });
  }, 600_000);

  it.each(RELIABLE.flatMap((m) => m.nodes.map((n) => [m.name, n, m.description] as const)))(
    '%s at n = %i (%s): caught in at least half the seeds',
    (name, nodes) => {
      const result = results.find((r) => r.mutated && r.mutant === name && r.nodes === nodes)!;
      expect(result.seeds).toBe(SEEDS);
      expect(result.caught, formatMutantTable(results)).toBeGreaterThanOrEqual(SEEDS / 2);
      expect(result.example).toMatch(/^npx medledger sim --nodes \d+ --seed \d+ --faults [a-z-,]+ --unsafe-/);
    },
  );

  it('raises no alarm when the same attacks meet the honest code', () => {
    const controls = results.filter((r) => !r.mutated);
    expect(controls.length).toBeGreaterThan(0);
    expect(
      controls.filter((r) => r.caught > 0),
      formatMutantTable(results),
    ).toEqual([]);
  });
});
