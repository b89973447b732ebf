/**
 * Cost per operation: CPU µs per validator, bytes added to the chain and to each node's blob store,
 * and latency, for every kind of operation (registrations, record add and read, consent, requests,
 * break-glass, erasure) on four validator processes on this machine. See ops-measure.ts for the
 * method. Prints a Markdown table and writes summary.md and result.json.
 *
 *   npm run bench:ops [-- --n 40] [-- --batches 4] [-- --out docs/benchmarks/ops]
 *                     [-- --only org.register,consent.grant]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measureOps, OPERATIONS, type Operation } from './ops-measure.ts';
import { opsSummary, opsTable } from './ops-report.ts';

const option = (name: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const n = Number(option('n') ?? 40);
const batches = Number(option('batches') ?? 4);
const out = option('out') ?? 'docs/benchmarks/ops';
const only = option('only')?.split(',');
for (const name of only ?? []) {
  if (!(OPERATIONS as readonly string[]).includes(name)) {
    console.error(`bench:ops: unknown operation ${name}; one of: ${OPERATIONS.join(', ')}`);
    process.exit(2);
  }
}
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(batches) || batches < 1) {
  console.error('bench:ops: --n and --batches must be whole numbers ≥ 1');
  process.exit(2);
}

const result = await measureOps({
  n,
  batches,
  ...(only ? { operations: only as Operation[] } : {}),
  log: (line) => console.error(line),
});
await mkdir(out, { recursive: true });
await writeFile(join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
await writeFile(join(out, 'summary.md'), opsSummary(result));
console.log(opsTable(result));
console.log(
  `\nN = ${n} in ${batches} batches, ${result.wall_s.toFixed(1)} s; written to ${out}/summary.md and ${out}/result.json`,
);
