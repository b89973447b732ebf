/**
 * Liveness under sustained partial faults: the named scenarios (src/sim/scenarios.ts), with clients
 * pinned to one replica each and progress checked per replica while faults persist. Each runs a few
 * seeds of n = 4; a failure names the command that replays it. These expose known liveness bugs of
 * the consensus core (a cut-off validator that never rejoins, a restarted one stranded in a view of
 * its own, slow progress at n - f with loss): some fail until those are fixed.
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { describeFailure, runSeeds, type ScenarioName, simOptions } from '../src/sim/index.ts';

const SEEDS = [1, 2, 3];
const TIMEOUT_MS = 60_000;

async function scenarioFailures(scenario: ScenarioName): Promise<string[]> {
  const runs = SEEDS.map((seed) => simOptions({ seed, nodes: 4, scenario }));
  const outcomes = await runSeeds(runs, Math.max(1, availableParallelism()));
  const failures = outcomes.filter((o) => o.violations.length > 0).map(describeFailure);
  // A primary whose intake lags is working: replacing it is a false alarm (of censorship).
  if (scenario === 'backlog')
    for (const o of outcomes)
      if (o.stats.viewChanges > 0) failures.push(`seed ${o.seed}: ${o.stats.viewChanges} view change(s)`);
  return failures;
}

describe('liveness scenarios, n = 4, clients pinned, progress checked per replica', () => {
  it.each<[ScenarioName, string]>([
    ['churn', 'validators crash and restart one after another under load'],
    ['restart-behind', 'a validator down for most of the run restarts, catches up and votes again'],
    ['lossy-minority', 'one of four cut off and 10% loss on the rest: the other three keep deciding'],
    ['cut-off', 'a validator cut off with its clients rejoins, and what it admitted commits'],
    ['slow', 'a CPU-starved validator keeps voting, and the others keep deciding'],
    ['backlog', "the primary's intake falls ever further behind, and the backups keep it"],
  ])(
    '%s: %s',
    async (scenario) => {
      const failures = await scenarioFailures(scenario);
      expect(failures, `failing seeds:\n${failures.join('\n')}`).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
