/**
 * Twins (src/sim/twins.ts): f validators each run as two replicas of the honest code with one key,
 * under partitions that change every few hundred virtual ms. No seed may break safety, and the twins
 * must bite: honest replicas receive two different blocks signed by one key for one (phase, view,
 * height), and change view. With every quorum one short (a deliberate bug), the same twins fork the
 * honest replicas, with no attack code written for it.
 */
import { availableParallelism } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Prng,
  parseFaults,
  replayCommand,
  runSeed,
  runSeeds,
  type SeedOutcome,
  simOptions,
} from '../src/sim/index.ts';
import { formatMutantTable, MUTANTS, type MutantResult, runMutants } from '../src/sim/mutants.ts';
import { PHASE_MAX_MS, PHASE_MIN_MS, planTwins, TwinsNetwork } from '../src/sim/twins.ts';
import { expectNoViolations } from './fixtures/sim.ts';

const WORKERS = Math.max(1, availableParallelism());
const SEEDS = { 4: 24, 7: 8 } as const;
const MUTANT_SEEDS = 6;

function sweep(nodes: 4 | 7): Promise<SeedOutcome[]> {
  const runs = Array.from({ length: SEEDS[nodes] }, (_, i) =>
    simOptions({ seed: 1 + i, nodes, faults: parseFaults('twins') }),
  );
  return runSeeds(runs, WORKERS);
}

describe('twins: seed sweeps', () => {
  const outcomes: Record<4 | 7, SeedOutcome[]> = { 4: [], 7: [] };
  let mutants: MutantResult[] = [];
  beforeAll(async () => {
    outcomes[4] = await sweep(4);
    outcomes[7] = await sweep(7);
    mutants = await runMutants({
      seeds: MUTANT_SEEDS,
      firstSeed: 1,
      controlSeeds: 0, // the sweeps above are the control: twins against the honest code
      workers: WORKERS,
      only: ['quorum-short-twins'],
    });
  }, 600_000);

  it.each([4, 7] as const)('n = %i: f twinned validators break no checker', (nodes) => {
    expect(outcomes[nodes]).toHaveLength(SEEDS[nodes]);
    expectNoViolations(outcomes[nodes]);
    for (const o of outcomes[nodes]) expect(o.byzantine).toHaveLength(nodes === 4 ? 1 : 2);
  });

  it.each([4, 7] as const)(
    'n = %i: the twins bite (equivocation seen by honest replicas, view changes)',
    (nodes) => {
      const runs = outcomes[nodes];
      const seen = runs.filter((o) => (o.stats.twins?.equivocationsSeen ?? 0) > 0).length;
      const viewChanges = runs.filter((o) => o.stats.viewChanges > 0).length;
      // Measured: equivocation in about three seeds of four, view changes in nearly all.
      expect(seen, 'seeds in which honest replicas saw a twinned key equivocate').toBeGreaterThanOrEqual(
        runs.length / 2,
      );
      expect(viewChanges, 'seeds with view changes').toBeGreaterThanOrEqual(runs.length / 2);
      // Both replicas of a twinned key run the protocol: they commit too.
      for (const o of runs) expect(o.stats.twins!.committedBlocks).toBeGreaterThan(0);
    },
  );

  it('with every quorum one short, twins fork the honest replicas', () => {
    const table = formatMutantTable(mutants);
    const mutant = MUTANTS.find((m) => m.name === 'quorum-short-twins')!;
    expect(mutants.map((r) => r.nodes)).toEqual([...mutant.nodes]);
    for (const r of mutants) {
      expect(r.caught, table).toBeGreaterThanOrEqual(r.seeds / 2);
      expect(r.example).toMatch(
        /^npx medledger sim --nodes \d+ --seed \d+ --faults twins --unsafe-quorum \d+$/,
      );
    }
    // Not only the certificate counter: honest replicas commit different blocks at one height.
    const n4 = mutants.find((r) => r.nodes === 4)!;
    expect((n4.byChecker.agreement ?? 0) + (n4.byChecker['certified-fork'] ?? 0), table).toBeGreaterThan(0);
  });
});

describe('twins: plan and options', () => {
  it('replays a seed exactly, from the command it prints', async () => {
    const options = simOptions({ seed: 3, nodes: 4, faults: parseFaults('twins,drop') });
    expect(replayCommand(options)).toBe('npx medledger sim --nodes 4 --seed 3 --faults twins,drop');
    expect((await runSeed(options)).traceHash).toBe((await runSeed(options)).traceHash);
  });

  it('plans f twinned validators, and phases that cover the fault period and partition the n + f instances', () => {
    for (const [nodes, f] of [
      [4, 1],
      [7, 2],
      [10, 3],
    ] as const) {
      for (let seed = 1; seed <= 20; seed++) {
        const plan = planTwins(nodes, 2_000, new Prng(seed));
        expect(plan.nodes).toHaveLength(f);
        expect(new Set(plan.nodes).size).toBe(f);
        expect(plan.phases[0]!.start_ms).toBe(0);
        expect(plan.phases.at(-1)!.end_ms).toBe(2_000);
        plan.phases.forEach((phase, i) => {
          if (i > 0) expect(phase.start_ms).toBe(plan.phases[i - 1]!.end_ms);
          if (phase.end_ms < 2_000)
            expect(phase.end_ms - phase.start_ms).toBeGreaterThanOrEqual(PHASE_MIN_MS);
          expect(phase.end_ms - phase.start_ms).toBeLessThanOrEqual(PHASE_MAX_MS);
          expect(phase.groups.flat().sort((a, b) => a - b)).toEqual(
            Array.from({ length: nodes + f }, (_, j) => j),
          );
        });
        expect(planTwins(nodes, 2_000, new Prng(seed))).toEqual(plan);
      }
    }
    const net = new TwinsNetwork(4, { nodes: [2], phases: [] });
    expect(net.instances).toBe(5);
    expect(net.instancesOf(2)).toEqual([2, 4]);
    expect(net.validatorOf(4)).toBe(2);
    net.setGroups([
      [0, 1, 2],
      [3, 4],
    ]);
    expect([net.reachable(0, 2), net.reachable(0, 4), net.reachable(3, 4)]).toEqual([true, false, true]);
    net.setGroups(null);
    expect(net.reachable(0, 4)).toBe(true);
  });

  it('takes the whole Byzantine budget, so it does not combine with the Byzantine wrappers', () => {
    expect(() => parseFaults('twins,equivocate')).toThrow(/does not combine with equivocate/);
    expect(parseFaults('twins,drop,crash')).toEqual(['twins', 'drop', 'crash']);
    expect(parseFaults('all')).not.toContain('twins');
  });
});
