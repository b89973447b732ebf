/**
 * Crash loop: four validator processes under a steady signed load, a random validator SIGKILLed and
 * restarted again and again (src/bench/crash-loop.ts). Reports accepted transactions lost, each
 * restarted validator's time to be voting again, the longest commit gap while a quorum was up, views,
 * and whether every node ends on one head, beside their targets. Writes report.json, summary.md and
 * the validators' stderr (run-N/) to --out.
 *
 *   npm run bench:crash-loop [-- --kills 20] [-- --runs 3] [-- --rate 10] [-- --down-min-ms 1000]
 *     [-- --down-max-ms 3000] [-- --seed 1] [-- --drain-ms 30000] [-- --base-port 47400]
 *     [-- --cli OTHER/bin/medledger.js [-- --commit SHA]] [-- --out DIR] [-- --json]
 *
 * --cli runs the validators from another build (e.g. an earlier commit's tree, built with `npm run
 * build` there), so that edits here do not change what is measured.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type CrashLoopRun, runCrashLoop } from '../src/bench/crash-loop.ts';
import { parseCrashLoopArgs } from '../src/bench/crash-loop-args.ts';
import { crashLoopMarkdown, crashLoopReport } from '../src/bench/crash-loop-report.ts';
import { MedledgerError } from '../src/errors.ts';

/** The commit of the code the validators run: the --cli checkout's, else this one's. */
function commitOf(cli: string | undefined): string | null {
  const cwd = cli ? dirname(dirname(resolve(cli))) : process.cwd();
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

let args: ReturnType<typeof parseCrashLoopArgs>;
try {
  args = parseCrashLoopArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof MedledgerError)) throw error;
  console.error(`bench:crash-loop: ${error.code}: ${error.message}`);
  process.exit(2);
}
const log = (line: string) => {
  if (!args.json) console.error(line);
};
const startedAt = new Date();
const runs: CrashLoopRun[] = [];
for (let r = 0; r < args.runs; r++) {
  const logDir = join(args.out, `run-${r + 1}`);
  await mkdir(logDir, { recursive: true });
  const seed = args.options.seed + r;
  log(`run ${r + 1}/${args.runs} (seed ${seed})`);
  runs.push(await runCrashLoop({ ...args.options, seed, logDir, log }));
}
const report = crashLoopReport(
  { ...args.options, runs: args.runs },
  runs,
  startedAt,
  args.commit ?? commitOf(args.options.cli),
);
const markdown = crashLoopMarkdown(report);
await writeFile(join(args.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(args.out, 'summary.md'), markdown);
if (args.json) console.log(JSON.stringify(report));
else console.log(`${markdown}\nwritten to ${args.out}/report.json and ${args.out}/summary.md`);
