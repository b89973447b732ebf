/**
 * Worker-thread entry point for running seeds in parallel: receives SimOptions, runs each seed and
 * posts its SeedOutcome back. Each seed is still one deterministic run; only wall time changes.
 */
import { parentPort } from 'node:worker_threads';
import type { SimOptions } from './options.ts';
import { runSeed } from './run.ts';

if (!parentPort) throw new Error('src/sim/worker.ts runs as a worker thread');
const port = parentPort;
port.on('message', async (options: SimOptions | null) => {
  if (options === null) {
    port.close();
    return;
  }
  port.postMessage(await runSeed(options));
});
