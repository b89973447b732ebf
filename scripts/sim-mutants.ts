/**
 * `npm run sim:mutants [-- --seeds N] [--first-seed S] [--control-seeds K] [--workers W] [--only a,b] [--json]`:
 * runs each deliberate protocol bug of the simulator's mutation list (src/sim/mutants.ts) over N seeds
 * (default 200) at n = 4, and n = 7 for the quorum bugs, on worker threads, and prints the share of
 * seeds whose checkers catch each; the controls run the same attacks against the honest code, which
 * must catch nothing. Exit status 1 when a control raises a false alarm.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { formatMutantTable, MUTANTS, runMutants } from '../src/sim/mutants.ts';

function count(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) {
    process.stderr.write(`sim-mutants: --${name} must be an integer >= ${min}, got "${text}"\n`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    'first-seed': { type: 'string' },
    'control-seeds': { type: 'string' },
    workers: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const seeds = count('seeds', values.seeds, 200, 1);
const only = values.only?.split(',').map((s) => s.trim());
const known = MUTANTS.map((m) => m.name);
for (const name of only ?? []) {
  if (!known.includes(name)) {
    process.stderr.write(`sim-mutants: unknown mutation "${name}" (known: ${known.join(', ')})\n`);
    process.exit(2);
  }
}
const started = performance.now();
let done = 0;
const results = await runMutants({
  seeds,
  firstSeed: count('first-seed', values['first-seed'], 1, 0),
  controlSeeds: count('control-seeds', values['control-seeds'], Math.ceil(seeds / 10), 0),
  workers: count('workers', values.workers, availableParallelism(), 1),
  ...(only ? { only } : {}),
  onOutcome: () => {
    done++;
    if (!values.json && process.stderr.isTTY && done % 20 === 0) process.stderr.write(`\r${done} runs`);
  },
});
const wall_s = (performance.now() - started) / 1000;
const falseAlarms = results.filter((r) => !r.mutated && r.caught > 0);
if (values.json) {
  process.stdout.write(`${JSON.stringify({ seeds, wall_s, runs: done, results })}\n`);
} else {
  if (process.stderr.isTTY) process.stderr.write('\r');
  process.stdout.write(`${formatMutantTable(results)}\n`);
  process.stdout.write(`${done} runs in ${wall_s.toFixed(1)} s (${(done / wall_s).toFixed(1)} seeds/s)\n`);
  for (const r of results.filter((x) => x.example))
    process.stdout.write(`  ${r.mutated ? r.mutant : `control ${r.mutant}`} n=${r.nodes}: ${r.example}\n`);
}
if (falseAlarms.length > 0) process.exitCode = 1;
