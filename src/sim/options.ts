/**
 * A simulation run's options, their defaults, and the command line that replays a run exactly.
 *
 * Consensus parameters are scaled to virtual time: a few-millisecond network, 300 ms request
 * timeout, 400 ms view-change timeout, STATUS every 100 ms, small batches (so a few dozen
 * transactions make many blocks and several checkpoints).
 */
import type { ConsensusParams, UnsafeTestingBugs } from '../consensus/types.ts';
import { FAULT_KINDS, type FaultSelection } from './faults.ts';
import type { ScheduledFault } from './schedule.ts';

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
};

export interface SimOptions {
  seed: number;
  nodes: number;
  faults: FaultSelection;
  /** Client transactions submitted during the run. */
  txs: number;
  clients: number;
  /** Bytes of each transaction's body. */
  txBodyBytes: number;
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
}

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'seed'> = {
  nodes: 4,
  faults: 'random',
  txs: 40,
  clients: 4,
  txBodyBytes: 32,
  faultPeriod_ms: 2_000,
  livenessBound_ms: 10_000,
  grace_ms: 300,
  clientRetry_ms: 600,
  params: SIM_CONSENSUS_PARAMS,
};

export function simOptions(partial: Partial<SimOptions> & { seed: number }): SimOptions {
  return { ...DEFAULT_SIM_OPTIONS, ...partial };
}

/** The exact command that replays a run with these options. */
export function replayCommand(options: SimOptions): string {
  const parts = ['npx medledger sim', `--nodes ${options.nodes}`, `--seed ${options.seed}`];
  const faults = options.faults;
  if (faults !== 'random') {
    parts.push(
      `--faults ${faults.length === 0 ? 'none' : faults.length === FAULT_KINDS.length ? 'all' : faults.join(',')}`,
    );
  }
  if (options.txs !== DEFAULT_SIM_OPTIONS.txs) parts.push(`--txs ${options.txs}`);
  if (options.unsafe?.commitQuorum !== undefined)
    parts.push(`--unsafe-commit-quorum ${options.unsafe.commitQuorum}`);
  if (options.unsafe?.skipNewViewCheck) parts.push('--unsafe-skip-new-view-check');
  return parts.join(' ');
}
