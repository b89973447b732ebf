/**
 * Runs many seeds, in this thread or spread over worker threads, and hands back their outcomes in
 * seed order. Parallelism changes wall time only: each seed is an independent deterministic run.
 */
import { Worker } from 'node:worker_threads';
import { projectPath } from '../paths.ts';
import type { SimOptions } from './options.ts';
import { runSeed, type SeedOutcome } from './run.ts';

export async function runSeeds(
  runs: readonly SimOptions[],
  workers: number,
  onOutcome: (outcome: SeedOutcome) => void = () => {},
): Promise<SeedOutcome[]> {
  const outcomes = new Array<SeedOutcome>(runs.length);
  if (workers <= 1 || runs.length <= 1) {
    for (const [i, options] of runs.entries()) {
      outcomes[i] = await runSeed(options);
      onOutcome(outcomes[i]!);
    }
    return outcomes;
  }
  let next = 0;
  const lane = () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(projectPath('src/sim/worker.ts'));
      let current = -1;
      const feed = () => {
        current = next < runs.length ? next++ : -1;
        worker.postMessage(current >= 0 ? runs[current]! : null);
        if (current < 0) void worker.terminate().then(() => resolve());
      };
      worker.on('message', (outcome: SeedOutcome) => {
        outcomes[current] = outcome;
        onOutcome(outcome);
        feed();
      });
      worker.on('error', reject);
      feed();
    });
  await Promise.all(Array.from({ length: Math.min(workers, runs.length) }, lane));
  return outcomes;
}
