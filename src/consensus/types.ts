/**
 * The consensus core's interface: what it is configured with, the events it is stepped with and the
 * actions it returns. The core does no I/O; the replica driver (src/driver), over ports filled by
 * src/node (libp2p, LevelDB, timers) or src/sim (a virtual network and clock), carries out the
 * actions, in order, and feeds results back.
 *
 * Driver contract:
 * - Actions are carried out in the order returned. A `persist` must be durable before any later
 *   `send`/`broadcast` of the same step leaves the machine (persist-before-send).
 * - `build` and `execute` ask the executor to run a block speculatively on top of its parent (a block
 *   already built, executed or committed) and answer with a `built` / `executed` event. The executor
 *   keeps speculative results by block hash until the block commits or is abandoned. `executed` is
 *   not ok for a block that takes a sender's nonce before an earlier one (judged on the parent's
 *   exact state), and `build` leaves such transactions out.
 * - `commit` actions come in height order, each exactly once; the driver applies the block (using the
 *   speculative result if it has one, else executing it and checking its state root) and persists it
 *   with its certificate.
 * - `fetch` asks for committed blocks with their certificates from the given peers; the answer is a
 *   `fetched` event (possibly partial or empty). The core verifies everything it is given.
 * - Timers: `setTimer` replaces a pending timer of the same id; `timer` events report expiry.
 */
import type { Block, CommitCertificate, Transaction } from '../ledger/index.ts';
import type { CheckpointProof, ConsensusMessage, PreparedBlock } from './messages.ts';

export interface ConsensusParams {
  /** Most transactions in a block this replica proposes (at most maxBlockTxs). */
  batchMaxTxs: number;
  /**
   * Most transactions any valid block carries: the network's limit (genesis params.maxBlockTxs), the
   * same for every replica, so that whether a proposal is valid never depends on local settings.
   */
  maxBlockTxs: number;
  /** How long the primary waits for a full batch before proposing a partial one. */
  batchDelay_ms: number;
  /** Most heights in flight beyond the last executed one (pipelining depth). */
  window: number;
  /** Blocks between checkpoints (K). */
  checkpointInterval: number;
  /** Log size L: heights accepted above the stable checkpoint (high watermark = stable + L). */
  logSize: number;
  /**
   * The request timer's period: the core's measure of how long transactions wait. A primary that
   * shows no progress for a whole period while transactions wait, or that leaves one out of blocks
   * with room for CENSORSHIP_PERIODS periods, is replaced.
   */
  requestTimeout_ms: number;
  /**
   * Time allowed for a view change to complete once a quorum has asked for it; doubles with each
   * view that fails, up to 8x, and is reset by a commit.
   */
  viewChangeTimeout_ms: number;
  /** Period of STATUS broadcasts, by which laggards notice they are behind. */
  statusInterval_ms: number;
  /** Most transactions the mempool holds. */
  mempoolMaxTxs: number;
  /** Most blocks one state-transfer request asks for. */
  fetchMaxBlocks: number;
  /**
   * How far a new proposal's timestamp may be from this replica's clock when it arrives, either way
   * (the block time drives grant expiry and emergency windows: a faulty primary may bend it by at
   * most this much). A replica does not vote for an untimely proposal. Re-proposals are exempt:
   * they were judged when first proposed. Equal on every validator, like the other timeouts.
   */
  maxClockSkew_ms: number;
}

export const DEFAULT_CONSENSUS_PARAMS: ConsensusParams = {
  batchMaxTxs: 500,
  maxBlockTxs: 1000,
  batchDelay_ms: 5,
  window: 4,
  checkpointInterval: 16,
  logSize: 64,
  requestTimeout_ms: 1000,
  viewChangeTimeout_ms: 1000,
  statusInterval_ms: 500,
  mempoolMaxTxs: 100_000,
  fetchMaxBlocks: 256,
  maxClockSkew_ms: 10_000,
};

/**
 * Deliberate protocol bugs, for proving that the simulator's checkers catch real ones. Never set
 * outside tests.
 */
export interface UnsafeTestingBugs {
  /** Commit with this many COMMITs instead of a quorum. */
  commitQuorum?: number;
  /** Accept a NEW-VIEW without checking that its re-proposals follow from its VIEW-CHANGEs. */
  skipNewViewCheck?: boolean;
  /** Use this quorum everywhere (PREPAREs, VIEW-CHANGEs, NEW-VIEWs, checkpoints, COMMITs) instead of quorumSize(n). */
  quorum?: number;
  /** Accept a PRE-PREPARE without verifying its signature. */
  skipPrePrepareSignatureCheck?: boolean;
  /** Accept a proposal without verifying its transactions' signatures. */
  skipTxSignatureCheck?: boolean;
  /** Vote for a new proposal whatever its timestamp (as if the replica had no clock). */
  skipClockCheck?: boolean;
  /** Answer GET-TXS and GET-BODIES in full, however often a peer asks (no answer budget). */
  skipAnswerBudget?: boolean;
}

export interface ReplicaConfig {
  chainId: string;
  /** Validator public keys in genesis order; a validator's index is its replica id. */
  validators: readonly Uint8Array[];
  /** This replica's index in `validators`. */
  self: number;
  /** This replica's Ed25519 secret key (it signs its votes). */
  secretKey: Uint8Array;
  params: ConsensusParams;
  /** The genesis block's hash and state root: the checkpoint every chain starts from. */
  genesis: { hash: Uint8Array; stateRoot: Uint8Array; timestamp: number };
  /**
   * Whether a transaction is on the executed chain, answered synchronously by the driver from its
   * tx index. The core remembers only recent commits (and nothing across a restart), so this is
   * what stops a replayed old transaction from committing twice.
   */
  isCommitted: (txHash: Uint8Array) => boolean;
  /**
   * A sender's account in the committed state (registered key, last used nonce), answered
   * synchronously by the driver. With it the mempool admits only what the rule engine's sender rules
   * can accept (mempool.ts); without it (tests that do not care) it makes no such check.
   */
  senderAccount?: (sender: Uint8Array) => { registered: boolean; nonce: number };
  /**
   * This replica's wall clock, ms since the Unix epoch: the driver's (virtual in the simulator). Read
   * only to judge a new proposal's timestamp; without it timestamps are checked against the parent
   * alone.
   */
  clock?: () => number;
  unsafe?: UnsafeTestingBugs;
}

/** The last block this replica executed (committed and applied). */
export interface ExecutedHead {
  height: number;
  hash: Uint8Array;
  stateRoot: Uint8Array;
  timestamp: number;
}

/** What a replica persists so that, after a restart, it never contradicts what it signed. */
export type DurableRecord =
  /**
   * The replica moved to `view`; `changing` while it waits for that view's NEW-VIEW. The last such
   * record is the replica's view (a replica that rejoins the group may move to a lower view).
   */
  | { kind: 'view'; view: number; changing: boolean }
  /**
   * The replica sent a VIEW-CHANGE for `view`: it must never sign a COMMIT in a lower view, as that
   * VIEW-CHANGE may still be used without the commit in it (replica.ts, "Rejoining the group").
   */
  | { kind: 'floor'; view: number }
  /** The replica signed a PRE-PREPARE, PREPARE or COMMIT for this block at (view, height). */
  | {
      kind: 'signed';
      phase: 'preprepare' | 'prepare' | 'commit';
      view: number;
      height: number;
      blockHash: Uint8Array;
    }
  /** The replica became prepared; view changes must report it. */
  | { kind: 'prepared'; cert: PreparedBlock }
  /** A checkpoint became stable; everything at or below its height may be forgotten. */
  | { kind: 'stable'; proof: CheckpointProof };

export type TimerId = 'request' | 'viewchange' | 'batch' | 'status';

/**
 * What a replica is doing: working in its view ('normal'), or waiting for the NEW-VIEW of the view it
 * moved to ('view-change'). Persisted as the `changing` flag of a `view` record, and reported as
 * `changingView` in the replica's info.
 */
export type ReplicaStatus = 'normal' | 'view-change';

/** For the default case of an exhaustive switch: a new kind left unhandled fails to compile. */
export function assertNever(value: never): never {
  const v: unknown = value;
  const kind = typeof v === 'object' && v !== null && 'kind' in v ? v.kind : v;
  throw new Error(`invariant violated: unhandled case ${String(kind)}`);
}

export type ConsensusEvent =
  /**
   * Transactions from clients of this node (`from` null), or shared by peer `from`.
   * `signatureChecked`: the driver verified their signatures already (off the event loop, or in the
   * API to answer at once), so admission does not verify them again.
   */
  | { kind: 'txs'; txs: Transaction[]; from: number | null; signatureChecked?: boolean }
  /** A message from peer `from` (authenticated by the transport). */
  | { kind: 'message'; from: number; message: ConsensusMessage }
  | { kind: 'timer'; timer: TimerId }
  /** Answer to `build`: the block with its header complete (state root from speculative execution). */
  | { kind: 'built'; block: Block }
  /** Answer to `execute`: whether the block is valid, and the state root it produced. */
  | {
      kind: 'executed';
      height: number;
      blockHash: Uint8Array;
      ok: boolean;
      stateRoot: Uint8Array;
      reason?: string;
    }
  /** Answer to `fetch`: committed blocks with their certificates, lowest height first. */
  | { kind: 'fetched'; blocks: Array<{ block: Block; certificate: CommitCertificate }> }
  /**
   * The transport's connection to validator `peer` closed (`connected: false`) or opened again. Only
   * changes are reported; a driver that cannot tell (a transport without connections) sends none.
   */
  | { kind: 'peer'; peer: number; connected: boolean };

export type ConsensusAction =
  | { kind: 'send'; to: number; message: ConsensusMessage }
  | { kind: 'broadcast'; message: ConsensusMessage }
  | { kind: 'setTimer'; timer: TimerId; delay_ms: number }
  | { kind: 'cancelTimer'; timer: TimerId }
  | { kind: 'persist'; records: DurableRecord[] }
  /**
   * Assemble and speculatively execute a block of `txs` on top of `parent`; answer with `built`. The
   * executor leaves out transactions that would skip a nonce of their sender on that parent (it
   * refuses to `execute` a block with one), so the block may carry fewer, or none: then it is not
   * proposed.
   */
  | {
      kind: 'build';
      height: number;
      view: number;
      parent: { hash: Uint8Array; stateRoot: Uint8Array; timestamp: number };
      txs: Transaction[];
    }
  /** Speculatively execute a proposed block on top of its parent; answer with `executed`. */
  | { kind: 'execute'; block: Block }
  /** The block is committed: apply and persist it with its certificate. In height order, once each. */
  | { kind: 'commit'; block: Block; certificate: CommitCertificate }
  /** State transfer: fetch committed blocks [fromHeight, toHeight] from these peers. */
  | { kind: 'fetch'; fromHeight: number; toHeight: number; peers: number[] }
  /**
   * A peer sent what no honest validator sends (gossip with a transaction whose signature fails:
   * every validator checks a transaction before it shares it); the driver may disconnect it.
   */
  | { kind: 'misbehaviour'; peer: number; reason: string };

/** What the replica can restart from. */
export interface RestoredState {
  executed: ExecutedHead;
  records: DurableRecord[];
}
