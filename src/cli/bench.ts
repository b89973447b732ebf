/**
 * `medledger bench SCENARIO_FILE`: runs a benchmark scenario (real validator processes on this
 * machine, or the deterministic simulator) and writes its report; `medledger bench compare A B`
 * compares two runs.
 */
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { compareRuns, compareRunsJson } from '../bench/compare.ts';
import { loadResult, writeReport } from '../bench/report.ts';
import type { BenchResult } from '../bench/result.ts';
import { loadScenarioFile } from '../bench/scenario.ts';

interface BenchOptions {
  out?: string;
  seed?: number;
  json?: boolean;
  cpuProf?: boolean;
}

function seed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n > 0xffff_ffff)
    throw new InvalidArgumentError(`--seed must be an integer from 0 to ${0xffff_ffff}, got "${value}".`);
  return n;
}

/** A directory name for a run that had no --out: bench/out/<name>-<UTC time>. */
function defaultOut(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return join('bench', 'out', `${name}-${stamp}`);
}

export function addBenchCommand(program: Command, out: (text: string) => void): void {
  const bench = program
    .command('bench')
    .description(
      'run a benchmark scenario on validator processes on this machine (mode "real") or in the ' +
        'deterministic simulator (mode "sim"), and write its report: result.json, CSV and SVG charts',
    )
    .argument('<scenario>', 'a scenario file (JSON), e.g. bench/scenarios/baseline-n4.json')
    .option('--out <dir>', 'where to write the report (default: bench/out/<name>-<time>)')
    .option('--seed <n>', "the run's seed (overrides the scenario's)", seed)
    .option('--json', 'print the result as JSON (a list for a sweep) instead of a summary')
    .option('--cpu-prof', 'real mode: profile every validator process (node --cpu-prof) into <out>/profiles')
    .addHelpText(
      'after',
      [
        '',
        'A scenario names the validators (n), the mode, the load (rate_tps or clients, txBytes, mix,',
        'signers, batch), consensus batch size and window, duration_s, warmup_s, drain_s, a seed and',
        'a fault timeline (crash, restart, partition, heal, delay, drop, duplicate; byzantine in sim',
        'mode). A "sweep": {"validators": [4, 7, ...]} runs the scenario once per n, each in <out>/<name>-n<N>.',
        'See bench/scenarios/README.md.',
        '',
        'Examples:',
        '  medledger bench bench/scenarios/baseline-n4.json --out runs/baseline',
        '  medledger bench bench/scenarios/byzantine-primary-n4.json --seed 7 --json',
        '  medledger bench compare runs/baseline runs/other',
      ].join('\n'),
    )
    .action(async (scenarioPath: string, options: BenchOptions) => {
      // The runner (and its HDR histogram's WebAssembly) loads only when a benchmark runs.
      const { formatResult, runScenario } = await import('../bench/run.ts');
      const scenarios = await loadScenarioFile(scenarioPath, options.seed);
      const progress = options.json ? (line: string) => process.stderr.write(`${line}\n`) : out;
      const sweep = scenarios.length > 1;
      const base =
        options.out ?? (sweep ? join('bench', 'out', scenarios[0]!.name.replace(/-n\d+$/, '')) : undefined);
      const results: BenchResult[] = [];
      for (const scenario of scenarios) {
        const dir = sweep ? join(base!, scenario.name) : (base ?? defaultOut(scenario.name));
        const result = await runScenario(scenario, {
          log: progress,
          scenarioPath,
          logsDir: join(dir, 'logs'),
          ...(options.cpuProf ? { profileDir: resolve(dir, 'profiles') } : {}),
        });
        const written = await writeReport(result, dir);
        results.push(result);
        if (!options.json) {
          out(formatResult(result));
          out(`  report: ${written.join(', ')}`);
        }
        // Safety violations in the simulator are bugs; liveness within a short drain is a measurement.
        if (result.violations.some((v) => v.checker !== 'liveness')) process.exitCode = 1;
      }
      if (options.json) out(JSON.stringify(sweep ? results : results[0]));
    });

  bench
    .command('compare')
    .description('compare two bench runs (run directories or result.json files)')
    .argument('<a>', 'the first run: a run directory or its result.json')
    .argument('<b>', 'the second run')
    .option('--json', 'print the comparison as JSON')
    .action(async (a: string, b: string, options: { json?: boolean }) => {
      const [first, second] = await Promise.all([loadResult(a), loadResult(b)]);
      out(options.json ? JSON.stringify(compareRunsJson(first, second)) : compareRuns(first, second));
    });
}
