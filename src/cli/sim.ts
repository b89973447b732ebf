/**
 * `medledger sim`: runs the deterministic fault-injecting simulator over many seeds (or replays one)
 * and prints what the checkers found. A failing seed prints the exact command that replays it.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Command, InvalidArgumentError } from 'commander';
import { MedledgerError } from '../errors.ts';
import {
  type ClientTarget,
  DEFAULT_SIM_OPTIONS,
  describeFailure,
  type FaultSelection,
  parseFaults,
  parseScenario,
  runSeeds,
  type ScenarioName,
  type SeedOutcome,
  type SimOptions,
  type SimSummary,
  Simulator,
  simOptions,
  summarise,
} from '../sim/index.ts';
import { Progress } from './progress.ts';

interface SimCommandOptions {
  nodes: number;
  seeds?: number;
  seed?: number;
  firstSeed: number;
  faults: FaultSelection;
  txs?: number;
  workers?: number;
  json?: boolean;
  log?: boolean;
  unsafeCommitQuorum?: number;
  unsafeQuorum?: number;
  unsafeSkipNewViewCheck?: boolean;
  unsafeSkipPreprepareSignatureCheck?: boolean;
  unsafeSkipTxSignatureCheck?: boolean;
  unsafeSkipClockCheck?: boolean;
  unsafeSkipAnswerBudget?: boolean;
  scenario?: ScenarioName;
  faultPeriodMs?: number;
  clientsTo?: ClientTarget;
  progressChecks?: boolean;
  progressBoundMs?: number;
}

function scenario(value: string): ScenarioName {
  try {
    return parseScenario(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function clientTarget(value: string): ClientTarget {
  if (value === 'random' || value === 'pinned') return value;
  throw new InvalidArgumentError(`--clients-to must be random or pinned, got "${value}".`);
}

/** The run options the command line sets (those left out take their defaults, or the scenario's). */
function baseOptions(options: SimCommandOptions): Omit<Partial<SimOptions>, 'seed'> {
  const unsafe = {
    ...(options.unsafeCommitQuorum !== undefined ? { commitQuorum: options.unsafeCommitQuorum } : {}),
    ...(options.unsafeQuorum !== undefined ? { quorum: options.unsafeQuorum } : {}),
    ...(options.unsafeSkipNewViewCheck ? { skipNewViewCheck: true } : {}),
    ...(options.unsafeSkipPreprepareSignatureCheck ? { skipPrePrepareSignatureCheck: true } : {}),
    ...(options.unsafeSkipTxSignatureCheck ? { skipTxSignatureCheck: true } : {}),
    ...(options.unsafeSkipClockCheck ? { skipClockCheck: true } : {}),
    ...(options.unsafeSkipAnswerBudget ? { skipAnswerBudget: true } : {}),
  };
  return {
    nodes: options.nodes,
    faults: options.faults,
    ...(options.txs !== undefined ? { txs: options.txs } : {}),
    ...(options.scenario ? { scenario: options.scenario } : {}),
    ...(options.faultPeriodMs !== undefined ? { faultPeriod_ms: options.faultPeriodMs } : {}),
    ...(options.clientsTo ? { clientTarget: options.clientsTo } : {}),
    ...(options.progressChecks !== undefined ? { progressChecks: options.progressChecks } : {}),
    ...(options.progressBoundMs !== undefined ? { progressBound_ms: options.progressBoundMs } : {}),
    ...(Object.keys(unsafe).length > 0 ? { unsafe } : {}),
  };
}

function integer(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}".`);
    }
    return n;
  };
}

function faults(value: string): FaultSelection {
  try {
    return parseFaults(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function addSimCommand(program: Command, out: (text: string) => void): void {
  program
    .command('sim')
    .description(
      'run the deterministic fault-injecting simulator: n real PBFT replicas on a virtual network, ' +
        'with crashes, partitions and Byzantine replicas, checked for agreement, validity and liveness',
    )
    .option('--nodes <n>', 'validators (n >= 3f+1; f Byzantine tolerated)', integer('--nodes', 1, 64), 4)
    .option(
      '--seeds <k>',
      'run k seeds: first-seed .. first-seed+k-1 (default 100)',
      integer('--seeds', 1, 10_000_000),
    )
    .option('--seed <s>', 'run (replay) exactly this seed', integer('--seed', 0, 0xffff_ffff))
    .option('--first-seed <s>', 'first seed of a --seeds range', integer('--first-seed', 0, 0xffff_ffff), 1)
    .option(
      '--faults <list>',
      'comma-separated fault kinds (delay, drop, duplicate, reorder, partition, crash, equivocate, ' +
        'conflicting-votes, silence, replay, forge, bogus-viewchange; crash-primary, clock-skew; the targeted attacks ' +
        'forge-preprepare, bad-tx, forge-newview, split-votes, bend-time, flood-requests, mangle; twins: f validators run twice with one key, ' +
        'under shifting partitions, instead of the Byzantine kinds), or all, none, random (a mix per seed; ' +
        'neither mixes in crash-primary, clock-skew, the targeted attacks or twins)',
      faults,
      'random' as FaultSelection,
    )
    .option(
      '--txs <n>',
      `client transactions per run (default ${DEFAULT_SIM_OPTIONS.txs}, or the scenario's)`,
      integer('--txs', 0, 100_000),
    )
    .option(
      '--scenario <name>',
      'a liveness scenario, its faults made from the seed: churn (crash and restart one validator after ' +
        'another), restart-behind (a validator down most of the run), lossy-minority (f cut off, 10% loss on ' +
        'the rest), cut-off (f cut off with their clients, then healed), slow (f CPU-starved validators), ' +
        "backlog (the primary's intake ever further behind); pins clients and turns on the progress checks",
      scenario,
    )
    .option(
      '--fault-period-ms <ms>',
      'virtual ms of faults and submissions before everything heals (default 2000, or the scenario’s)',
      integer('--fault-period-ms', 1, 10_000_000),
    )
    .option(
      '--clients-to <mode>',
      'where clients send and resend: random (a random replica each time; the default without a scenario) ' +
        'or pinned (client i always to replica i mod n; the default with one)',
      clientTarget,
    )
    .option('--progress-checks', 'check progress per replica during faults (default with a scenario)')
    .option('--no-progress-checks', 'do not check progress per replica during faults')
    .option(
      '--progress-bound-ms <ms>',
      'virtual ms a stable network has to commit what a replica admitted (default 3000)',
      integer('--progress-bound-ms', 1, 10_000_000),
    )
    .option(
      '--workers <n>',
      'worker threads to spread seeds over (default: one per core)',
      integer('--workers', 1, 256),
    )
    .option('--json', 'print one JSON object')
    .option('--log', 'with --seed: print every delivery, commit, view change, crash and restart')
    .option(
      '--unsafe-commit-quorum <q>',
      'TESTING ONLY: replicas commit with q COMMITs instead of a quorum (a deliberate bug the checkers must catch)',
      integer('--unsafe-commit-quorum', 1, 64),
    )
    .option(
      '--unsafe-quorum <q>',
      'TESTING ONLY: replicas use q as their quorum everywhere instead of quorumSize(n) (a deliberate bug)',
      integer('--unsafe-quorum', 1, 64),
    )
    .option(
      '--unsafe-skip-new-view-check',
      'TESTING ONLY: replicas accept a NEW-VIEW without checking its re-proposals (a deliberate bug)',
    )
    .option(
      '--unsafe-skip-preprepare-signature-check',
      'TESTING ONLY: replicas accept a PRE-PREPARE without verifying its signature (a deliberate bug)',
    )
    .option(
      '--unsafe-skip-tx-signature-check',
      'TESTING ONLY: replicas accept proposals without verifying transaction signatures (a deliberate bug)',
    )
    .option(
      '--unsafe-skip-clock-check',
      "TESTING ONLY: replicas vote for a new proposal whatever its timestamp's distance from their clock (a deliberate bug)",
    )
    .option(
      '--unsafe-skip-answer-budget',
      'TESTING ONLY: replicas answer GET-TXS and GET-BODIES in full however often a peer asks (a deliberate bug)',
    )
    .addHelpText(
      'after',
      [
        '',
        'Every seed is one exactly reproducible run. Faults are active for the first',
        `${DEFAULT_SIM_OPTIONS.faultPeriod_ms} virtual ms; then the network heals and crashed replicas restart, and every honest`,
        `replica must commit every submitted transaction within ${DEFAULT_SIM_OPTIONS.livenessBound_ms} virtual ms.`,
        '',
        'Examples:',
        '  medledger sim --nodes 4 --seeds 300',
        '  medledger sim --nodes 7 --seeds 100 --faults crash,partition,equivocate --workers 2',
        '  medledger sim --nodes 4 --seed 1234 --faults crash,equivocate --log',
        '  medledger sim --nodes 4 --seeds 20 --scenario lossy-minority',
        '  medledger sim --nodes 7 --seeds 50 --faults twins,drop',
        '  npm run sim:mutants   (how often the checkers catch deliberate protocol bugs)',
      ].join('\n'),
    )
    .action(async (options: SimCommandOptions) => {
      if (options.seed !== undefined && options.seeds !== undefined) {
        throw new MedledgerError(
          'SIM_BAD_OPTIONS',
          'use --seeds K (a range) or --seed S (one seed), not both.',
        );
      }
      if (options.log && options.seed === undefined) {
        throw new MedledgerError(
          'SIM_BAD_OPTIONS',
          '--log needs --seed S: the event log of many seeds would be unreadable.',
        );
      }
      const base = baseOptions(options);
      const seeds =
        options.seed !== undefined
          ? [options.seed]
          : Array.from({ length: options.seeds ?? 100 }, (_, i) => options.firstSeed + i);
      const runs: SimOptions[] = seeds.map((seed) => simOptions({ seed, ...base }));

      const workers = options.log ? 1 : (options.workers ?? availableParallelism());
      const started = performance.now();
      let outcomes: SeedOutcome[];
      if (options.log) {
        const result = await new Simulator(runs[0]!, { log: out }).run();
        outcomes = await runSeeds(runs, 1);
        if (result.traceHash !== outcomes[0]!.traceHash)
          throw new Error('a logged run differs from its replay');
      } else {
        const progress = new Progress('simulating', runs.length);
        let done = 0;
        let failing = 0;
        outcomes = await runSeeds(runs, workers, (outcome) => {
          done++;
          if (outcome.violations.length > 0) {
            failing++;
            progress.end();
            if (!options.json) out(describeFailure(outcome));
          }
          progress.update(done, `${failing} failing`);
        });
        progress.end();
      }
      const summary = summarise(options.nodes, outcomes, performance.now() - started, workers);
      if (options.json) out(JSON.stringify(summary));
      else out(formatSummary(summary, options, seeds));
      if (summary.violations > 0) process.exitCode = 1;
    });
}

function formatSummary(s: SimSummary, options: SimCommandOptions, seeds: number[]): string {
  const range = seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}..${seeds[seeds.length - 1]}`;
  const faultText = options.scenario
    ? `scenario ${options.scenario}`
    : options.faults === 'random'
      ? 'a random mix per seed'
      : options.faults.join(',') || 'none';
  const perSeed = s.seeds > 0 ? (s.committedBlocks / s.seeds).toFixed(1) : '0';
  const lines = [
    `medledger sim: ${s.nodes} nodes, ${s.seeds} seed(s) (${range}), faults: ${faultText}`,
    `  violations:       ${s.violations} (${s.failedSeeds} failing seed(s))`,
    `  committed blocks: ${s.committedBlocks} (${perSeed} per seed)`,
    `  view changes:     ${s.viewChanges}`,
    `  messages:         ${s.messages} (${(s.bytes / 1e6).toFixed(1)} MB)`,
    `  wall time:        ${(s.wall_ms / 1000).toFixed(1)} s on ${s.workers} worker thread(s); ${s.blocksPerSecond} simulated blocks committed per wall-clock second`,
    `  longest liveness recovery: ${s.longestRecovery_ms.toFixed(0)} virtual ms after faults healed` +
      (s.longestRecoverySeed === null ? '' : ` (seed ${s.longestRecoverySeed})`) +
      `; bound ${s.livenessBound_ms} ms`,
  ];
  if (s.twins) {
    const t = s.twins;
    lines.push(
      `  twins:            honest replicas saw a twinned key sign two blocks for one (phase, view, height) in ${t.equivocationSeeds} of ${t.seeds} seed(s) (${t.equivocationsSeen} times); view changes in ${t.viewChangeSeeds}` +
        (t.failures > 0 ? `; twin replicas failed ${t.failures} time(s)` : ''),
    );
  }
  if (s.violations > 0) {
    const replays = [...new Map(s.failures.map((f) => [f.seed, f.replay])).values()];
    lines.push('  replay failing seeds with:', ...replays.slice(0, 20).map((r) => `    ${r}`));
  }
  return lines.join('\n');
}
