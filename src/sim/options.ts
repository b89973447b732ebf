/**
 * A simulation run's options, their defaults, and the command line that replays a run exactly.
 *
 * Consensus parameters are scaled to virtual time: a few-millisecond network, 300 ms request
 * timeout, 400 ms view-change timeout, STATUS every 100 ms, small batches (so a few dozen
 * transactions make many blocks and several checkpoints).
 */
import type { ConsensusParams, UnsafeTestingBugs } from '../consensus/types.ts';
import { type FaultSelection, MIXED_FAULT_KINDS } from './faults.ts';
import { SCENARIO_DEFAULTS, type ScenarioName } from './scenarios.ts';
import type { ScheduledFault } from './schedule.ts';

/** Where a client sends (and resends) a transaction: a random replica each time, or always its own. */
export type ClientTarget = 'random' | 'pinned';

export const SIM_CONSENSUS_PARAMS: ConsensusParams = {
  batchMaxTxs: 20,
  maxBlockTxs: 20,
  batchDelay_ms: 2,
  window: 4,
  checkpointInterval: 8,
  logSize: 32,
  requestTimeout_ms: 300,
  viewChangeTimeout_ms: 400,
  statusInterval_ms: 100,
  mempoolMaxTxs: 10_000,
  fetchMaxBlocks: 64,
  maxClockSkew_ms: 2_000,
};

export interface SimOptions {
  seed: number;
  nodes: number;
  faults: FaultSelection;
  /** Client transactions submitted during the run. */
  txs: number;
  clients: number;
  /** Faults happen in [0, faultPeriod_ms); then everything heals. Submissions happen then too. */
  faultPeriod_ms: number;
  /** After healing, every honest replica must commit every submitted transaction within this. */
  livenessBound_ms: number;
  /** Virtual time run after liveness is reached, for late misbehaviour to show. */
  grace_ms: number;
  /** A client resubmits (to another random replica) a transaction not committed after this. */
  clientRetry_ms: number;
  params: ConsensusParams;
  /**
   * An explicit fault timeline (see schedule.ts) instead of faults planned from the seed: `faults`
   * is then ignored. Faults still all heal at faultPeriod_ms.
   */
  schedule?: ScheduledFault[];
  /**
   * Closed-loop clients instead of the planned workload (`txs` is then ignored): each of `loops`
   * loops submits `batch` new transactions, and its next batch as soon as all of them committed at
   * an honest replica, until faultPeriod_ms. Loop i signs with client i mod `clients`.
   */
  closedLoop?: { loops: number; batch: number };
  /** Deliberate protocol bugs, to prove the checkers catch them. Tests only. */
  unsafe?: UnsafeTestingBugs;
  /**
   * A named liveness scenario (scenarios.ts): its fault timeline is made from the seed, and replaces
   * `faults` and `schedule`. It turns on pinned clients and the progress checkers unless set otherwise.
   */
  scenario?: ScenarioName;
  /**
   * `pinned`: client i always submits and resubmits to replica i mod n, as a hospital's clients use
   * their own hospital's node. `random` (the default without a scenario, as seeds always ran): a
   * random replica each time, which masks a replica that stops passing its clients' transactions on.
   */
  clientTarget?: ClientTarget;
  /**
   * Check progress during faults, per replica (default: on with a scenario): every transaction a
   * replica admitted is committed there within progressBound_ms once at least n - f honest replicas,
   * it among them, are up and connected; and such a replica keeps voting.
   */
  progressChecks?: boolean;
  /** The bound of the progress checkers. */
  progressBound_ms?: number;
}

/** Defaults of the progress checkers: a few request and view-change timeouts. */
export const DEFAULT_PROGRESS_BOUND_MS = 3_000;

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'seed'> = {
  nodes: 4,
  faults: 'random',
  txs: 40,
  clients: 4,
  faultPeriod_ms: 2_000,
  livenessBound_ms: 10_000,
  grace_ms: 300,
  clientRetry_ms: 600,
  params: SIM_CONSENSUS_PARAMS,
};

export function simOptions(partial: Partial<SimOptions> & { seed: number }): SimOptions {
  return { ...defaultsFor(partial.scenario), ...partial };
}

/** The defaults of a run: the scenario's period and load on top of the general defaults. */
function defaultsFor(scenario: ScenarioName | undefined): Omit<SimOptions, 'seed'> {
  if (!scenario) return DEFAULT_SIM_OPTIONS;
  const { params, ...rest } = SCENARIO_DEFAULTS[scenario];
  return { ...DEFAULT_SIM_OPTIONS, ...rest, params: { ...DEFAULT_SIM_OPTIONS.params, ...params } };
}

export function clientTargetOf(options: SimOptions): ClientTarget {
  return options.clientTarget ?? (options.scenario ? 'pinned' : 'random');
}

export function progressChecksOn(options: SimOptions): boolean {
  return options.progressChecks ?? options.scenario !== undefined;
}

/** The exact command that replays a run with these options. */
export function replayCommand(options: SimOptions): string {
  const parts = ['npx medledger sim', `--nodes ${options.nodes}`, `--seed ${options.seed}`];
  const defaults = defaultsFor(options.scenario);
  if (options.scenario) parts.push(`--scenario ${options.scenario}`);
  const faults = options.faults;
  if (faults !== 'random' && !options.scenario) {
    const all =
      faults.length === MIXED_FAULT_KINDS.length && MIXED_FAULT_KINDS.every((k) => faults.includes(k));
    parts.push(`--faults ${faults.length === 0 ? 'none' : all ? 'all' : faults.join(',')}`);
  }
  if (options.txs !== defaults.txs) parts.push(`--txs ${options.txs}`);
  if (options.faultPeriod_ms !== defaults.faultPeriod_ms)
    parts.push(`--fault-period-ms ${options.faultPeriod_ms}`);
  if (
    options.clientTarget !== undefined &&
    options.clientTarget !== clientTargetOf({ ...options, clientTarget: undefined })
  )
    parts.push(`--clients-to ${options.clientTarget}`);
  if (options.progressChecks !== undefined && options.progressChecks !== (options.scenario !== undefined))
    parts.push(options.progressChecks ? '--progress-checks' : '--no-progress-checks');
  if (options.progressBound_ms !== undefined && options.progressBound_ms !== DEFAULT_PROGRESS_BOUND_MS)
    parts.push(`--progress-bound-ms ${options.progressBound_ms}`);
  const unsafe = options.unsafe ?? {};
  if (unsafe.commitQuorum !== undefined) parts.push(`--unsafe-commit-quorum ${unsafe.commitQuorum}`);
  if (unsafe.quorum !== undefined) parts.push(`--unsafe-quorum ${unsafe.quorum}`);
  if (unsafe.skipNewViewCheck) parts.push('--unsafe-skip-new-view-check');
  if (unsafe.skipPrePrepareSignatureCheck) parts.push('--unsafe-skip-preprepare-signature-check');
  if (unsafe.skipTxSignatureCheck) parts.push('--unsafe-skip-tx-signature-check');
  if (unsafe.skipClockCheck) parts.push('--unsafe-skip-clock-check');
  if (unsafe.skipAnswerBudget) parts.push('--unsafe-skip-answer-budget');
  return parts.join(' ');
}
