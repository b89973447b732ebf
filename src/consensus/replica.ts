/**
 * The PBFT replica: a pure state machine. `step(event)` returns the actions to carry out; it does no
 * I/O, uses no randomness and never awaits, and reads the driver's clock only to judge a proposal's
 * timestamp (`timely`). See types.ts for the driver contract and
 * view-change.ts for the NEW-VIEW rule and why it is safe.
 *
 * Normal case, for height h in view v (primary p = v mod n, quorum q):
 *   p builds a block (speculatively executed by the driver) and broadcasts PRE-PREPARE;
 *   a backup accepts it if it is well formed, extends the chain, every tx signature is valid and no tx
 *   is already committed or in flight, then has it executed and, if the state root matches, sends
 *   PREPARE. With the PRE-PREPARE and q-1 PREPAREs a replica is prepared; once also prepared (or
 *   committed) at h-1, it sends COMMIT. q COMMITs are the commit certificate: the block commits and is
 *   executed in height order. Up to `window` heights are in flight at once.
 * Every signed vote is persisted (a `persist` action) before the `send` that carries it.
 *
 * Liveness (what makes a replica give up on a primary, and what brings it back):
 * - The request timer ticks every request timeout while transactions wait, whatever commits in
 *   between (PBFT's per-request deadline: commits of other transactions do not reset it). The timeout
 *   is `requestTimeout_ms` stretched to twice the median commit latency measured here, up to 4 times it
 *   (request-timeout.ts), so a starved or saturated cluster is not taken for a dead primary. At a tick a
 *   replica that is catching up blames nobody. Otherwise the primary is replaced if nothing progressed
 *   (no proposal accepted, no block committed) for a whole period while transactions waited, or if a
 *   transaction has waited CENSORSHIP_PERIODS periods while the primary proposed blocks with room
 *   for it. A saturated primary keeps committing full blocks, so overload alone never changes the view.
 * - A silent primary is judged at every STATUS tick too: once a backup has had neither progress nor
 *   any message from it (it sends STATUS every period) for a whole request timeout, while
 *   transactions waited that the primary has had (shared with it on admission, or sent to it again at
 *   a request tick of this view), it is replaced. At request ticks alone, progress early in a period
 *   would spare a primary that then hangs with its connections open until the tick after next,
 *   almost two timeouts later; this bounds it to one timeout and a STATUS period. A primary still
 *   heard from, but slowed by lost messages, is left to the request ticks as before.
 * - Censorship is judged against the primary's intake as its proposals show it: under a backlog its
 *   admission runs behind ours (transactions queue behind its consensus work, and it verifies each
 *   signature), so what we sent it again has not reached its mempool, and its blocks have room while
 *   ours wait. So a transaction counts as left out only by blocks with room proposed a whole period
 *   after the primary could have had it: its resend, plus the lag of the primary's recent proposals
 *   (the longest any of their transactions had waited here, less one period; request-timeout.ts
 *   `IntakeLag`), and it must have waited CENSORSHIP_PERIODS plus that lag. The lag is at most
 *   MAX_LAG_PERIODS, so a censor is still replaced within CENSORSHIP_PERIODS + MAX_LAG_PERIODS
 *   periods; one that proposes the rest promptly shows no lag and is replaced as before. A transaction
 *   in a proposal of this view is in flight, not left out.
 * - A primary whose connection the driver reports closed, while transactions wait, is replaced at
 *   once: a process that died closes its sockets, and its peers learn it within a round trip, long
 *   before a request timeout. (A replica cut off from most peers blames nobody. A false alarm, a
 *   connection that drops while the primary lives, moves only this replica to a view change nobody
 *   joins, which it leaves by rejoining the group; when every backup loses the primary, the view
 *   changes, as it should for a primary nobody can reach.)
 * - Transactions that waited a period are sent to the primary again at each tick (bounded), so one
 *   that missed it (it was down, or the gossip was lost) still reaches it.
 * - View changes follow PBFT: a replica joins a view change when f+1 replicas ask for a later view;
 *   its view-change timer runs only once a quorum asked for its view, so a replica alone never climbs
 *   further. The timer doubles with each view that fails and is reset by a commit. VIEW-CHANGEs are
 *   sent again every STATUS period until the view changes. They and NEW-VIEWs carry proposals by
 *   signed header; a replica asks for the transactions of a re-proposal it lacks (bodies.ts).
 * - Rejoining the group: a replica that waits in a view change nobody joined, while f+1 peers report
 *   working in a lower view, returns to that view. It must not sign a COMMIT there: a VIEW-CHANGE it
 *   sent for a higher view may still be used in a NEW-VIEW, and would not show what it committed
 *   since. So it only PREPAREs (that alone cannot lose a committed block: every commit quorum then
 *   lacks it, so it intersects any NEW-VIEW quorum in f+1 other replicas) and learns commits from the
 *   others' COMMITs, until it works in a view at or above the highest it asked for (`#commitFloor`).
 */

import { bytesEqual, hex } from '../bytes.ts';
import { assert } from '../errors.ts';
import type { Block, CommitCertificate, Transaction } from '../ledger/index.ts';
import {
  BLOCK_VERSION,
  blockHash,
  checkCertificate,
  merkleRoot,
  quorumSize,
  txHash,
} from '../ledger/index.ts';
import { ProposalAssembly } from './assembly.ts';
import { ProposalBodies } from './bodies.ts';
import { Mempool } from './mempool.ts';
import {
  type Checkpoint,
  type CheckpointProof,
  type Commit,
  type ConsensusMessage,
  MAX_BODIES,
  MAX_FORWARDED_TXS,
  type NewView,
  type PrePrepare,
  type Prepare,
  type PreparedBlock,
  type ProposalByHash,
  proposalOf,
  type SignedProposal,
  signCommitMessage,
  signMessage,
  signProposal,
  type ViewChange,
  verifyCommitMessage,
  verifyMessage,
  verifyProposal,
  withBody,
} from './messages.ts';
import { IntakeLag, RequestTimeout } from './request-timeout.ts';
import {
  assertNever,
  type ConsensusAction,
  type ConsensusEvent,
  type DurableRecord,
  type ExecutedHead,
  type ReplicaConfig,
  type ReplicaStatus,
  type RestoredState,
  type TimerId,
} from './types.ts';
import { checkViewChange, chooseReproposals, type ValidatorContext } from './view-change.ts';

/**
 * Request-timer periods a transaction may wait, while the primary proposes blocks with room for it,
 * before the primary is replaced for censoring it (plus the primary's intake lag, see the top).
 */
const CENSORSHIP_PERIODS = 4;
/** A transaction that waited this many periods is sent to the primary again (it may have missed it). */
const REGOSSIP_AFTER_PERIODS = 1;
/** STATUS periods a replica waits in a view change nobody joins before it rejoins the group. */
const REJOIN_AFTER_STATUS_PERIODS = 4;
/** STATUS periods after which a fetch still unanswered is asked again. */
const FETCH_RETRY_PERIODS = 4;
/** A peer's STATUS is current for this many of our STATUS periods (it sends one every period). */
const STATUS_FRESH_PERIODS = 3;

/** Why a primary that shows no progress while transactions wait is replaced. */
const NO_PROGRESS = 'no progress from the primary within a request timeout';

/** A proposal's transactions do not hash to its signed header's txRoot (anyone could attach them). */
const NOT_THE_SIGNED_BODY = 'transactions do not match the txRoot';

/**
 * The statuses in which a timer's expiry acts. In the others it does only its bookkeeping (a request
 * timer still counts a period, so that waiting transactions age while the view changes).
 */
const TIMER_ACTS_IN: { readonly [T in TimerId]: readonly ReplicaStatus[] } = {
  status: ['normal', 'view-change'],
  batch: ['normal', 'view-change'], // proposing checks the status itself
  request: ['normal'],
  viewchange: ['view-change'],
};

function getOrCreate<K, K2, V>(map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = map.get(key);
  if (!inner) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
}

/** One height's progress in the current view. */
interface Slot {
  height: number;
  prePrepare: PrePrepare | null;
  block: Block | null;
  hash: string | null;
  /** Speculative execution confirmed the proposal (or we built it). */
  valid: boolean;
  sentPrepare: boolean;
  sentCommit: boolean;
  /** Votes by view, then by sender. */
  prepares: Map<number, Map<number, Prepare>>;
  commits: Map<number, Map<number, Commit>>;
  committed: { block: Block; certificate: CommitCertificate } | null;
}

export interface ReplicaInfo {
  view: number;
  changingView: boolean;
  executedHeight: number;
  viewChangesStarted: number;
  /** Why this replica last started a view change (for logs and researchers), null before any. */
  lastViewChangeReason: string | null;
  mempoolSize: number;
  /** Transactions held after a nonce gap (not in mempoolSize). */
  heldTxs: number;
  /** Builds the executor never answered, given up after a STATUS period. */
  abandonedBuilds: number;
  /** Proposals not voted for: their timestamp was further than maxClockSkew_ms from our clock. */
  untimelyProposals: number;
  /**
   * Transactions of new proposals sent by hash that were held here when the proposal came, and
   * those that were not (asked of the proposer, or taken from gossip that landed later).
   */
  proposalTxs: { held: number; missing: number };
}

export class Replica {
  readonly #config: ReplicaConfig;
  readonly #n: number;
  readonly #f: number;
  readonly #quorum: number;
  readonly #commitQuorum: number;
  readonly #ctx: ValidatorContext;
  readonly #validatorSet: Set<string>;

  #view = 0;
  /**
   * 'normal': the replica works in `#view`, whose NEW-VIEW it accepted (or view 0). 'view-change': it
   * has moved to `#view` and waits for that view's NEW-VIEW; it proposes, prepares and commits nothing
   * new until then. State transfer (`fetch`) runs beside either status and is not a status of its own.
   */
  #status: ReplicaStatus = 'normal';
  /** View changes since the last commit: the view-change timer doubles with each. */
  #viewChangeAttempts = 0;
  #viewChangeTimerArmed = false;
  /** STATUS periods spent in the current view change (for rejoining the group). */
  #statusPeriodsChanging = 0;
  /** The highest view this replica sent a VIEW-CHANGE for: it signs no COMMIT in a lower view. */
  #commitFloor = 0;
  #viewChangesStarted = 0;
  /** Times this replica returned to the group's lower view. */
  #rejoins = 0;
  #lastViewChangeReason: string | null = null;
  /** Our VIEW-CHANGE for the view we are changing to, sent again until the view changes. */
  #ownViewChange: ViewChange | null = null;
  /** The NEW-VIEW that started the current view, to hand to replicas still changing to it. */
  #newViewMessage: NewView | null = null;

  #executed: ExecutedHead;
  /** Block hashes of executed heights above the stable checkpoint. */
  #executedHashes = new Map<number, string>();
  #stable: CheckpointProof;

  #slots = new Map<number, Slot>();
  /** Highest-view prepared certificate per height above the stable checkpoint. */
  #prepared = new Map<number, PreparedBlock>();
  /** Blocks held for re-proposals, and the re-proposals of this view waiting for theirs. */
  #bodies = new ProposalBodies();
  /** New proposals sent by hash, waiting for transactions this replica lacked. */
  #assembly = new ProposalAssembly();
  /** Transactions of proposals sent by hash: found here, and asked for (ReplicaInfo). */
  #proposalTxs = { held: 0, missing: 0 };
  /** PRE-PREPAREs waiting for their parent's PRE-PREPARE. */
  #awaitingParent = new Map<number, { pp: PrePrepare; reproposal: boolean }>();
  /** PRE-PREPAREs for views we have not entered yet. */
  #futurePrePrepares: PrePrepare[] = [];
  /** Speculative execution results by block hash. */
  #executions = new Map<string, boolean>();
  /** What we signed: `phase/view/height` → block hash. Guards against equivocation after restarts. */
  #signed = new Map<string, string>();
  #viewChanges = new Map<number, Map<number, ViewChange>>();
  #checkpoints = new Map<number, Map<number, Checkpoint>>();
  /** Each peer's last STATUS, and our STATUS period it came in. */
  #peerStatus = new Map<number, { view: number; changing: boolean; height: number; period: number }>();
  #statusPeriod = 0;
  /**
   * Transactions sent to each peer this STATUS period in answers to GET-TXS and GET-BODIES (a block
   * counts its transactions), against answerBudget.
   */
  readonly #answered = new Map<number, number>();

  #mempool: Mempool;
  /** The request timeout, stretched to the commit latency measured here. */
  #requestTimeout: RequestTimeout;
  /** How far the primary's intake runs behind ours, allowed for before it is called a censor. */
  #intakeLag = new IntakeLag();
  /** Tx hash → height, for recently committed transactions. */
  #committedTxs = new Map<string, number>();
  /** Tx hashes in accepted, not yet executed proposals of this view. */
  #inFlight = new Set<string>();

  #nextProposal: number;
  /** The block the primary asked the executor to build, if any, and the STATUS period it asked in. */
  #building: { height: number; view: number; period: number } | null = null;
  #batchDue = false;
  #abandonedBuilds = 0;
  #untimelyProposals = 0;
  #batchTimerArmed = false;
  #requestTimerArmed = false;
  /** Request-timer expiries so far: the core's measure of how long transactions have waited. */
  #requestPeriod = 0;
  /** A proposal of this view was accepted, or a block committed, since the last request tick. */
  #progressSinceTick = false;
  /** The STATUS period of the last progress (a proposal of this view accepted, a block committed). */
  #lastProgressStatusPeriod = 0;
  /** The STATUS period since which transactions wait (the request timer was armed). */
  #waitingSinceStatusPeriod = 0;
  /**
   * The STATUS period since which the primary has had what waits here (Infinity while transactions
   * that waited from before this view began may not have reached it; see `#primaryHasTxs`).
   */
  #primaryHadTxsSince = 0;
  /** The STATUS period of the last message from the primary of our view (it sends STATUS each). */
  #heardFromPrimaryIn = 0;
  /** Transactions waited through the whole current request period. */
  #waitedWholePeriod = false;
  /** The request period in which this replica began to work in its view (entered, or rejoined). */
  #viewStartPeriod = 0;
  /** The request period in which the primary last proposed a block with room to spare. */
  #lastRoomyProposalPeriod = Number.NEGATIVE_INFINITY;
  #fetching = false;
  /** Peers whose connection the driver reported closed, and not open again since. */
  #unreachable = new Set<number>();
  /** The STATUS period the fetch under way was asked in. */
  #fetchPeriod = 0;
  #executedAtLastStatus = 0;

  #out: ConsensusAction[] = [];

  constructor(config: ReplicaConfig, restored?: RestoredState) {
    assert(config.self >= 0 && config.self < config.validators.length, 'self is a validator index');
    assert(
      config.params.logSize >= config.params.window + config.params.checkpointInterval,
      'log covers window',
    );
    this.#config = config;
    this.#n = config.validators.length;
    this.#f = Math.floor((this.#n - 1) / 3);
    this.#quorum = config.unsafe?.quorum ?? quorumSize(this.#n);
    this.#commitQuorum = config.unsafe?.commitQuorum ?? this.#quorum;
    this.#ctx = {
      chainId: config.chainId,
      validators: config.validators,
      quorum: this.#quorum,
      genesis: config.genesis,
    };
    this.#validatorSet = new Set(config.validators.map(hex));
    this.#mempool = new Mempool(config.chainId, config.params.mempoolMaxTxs);
    this.#requestTimeout = new RequestTimeout(
      config.params.requestTimeout_ms,
      config.params.statusInterval_ms,
    );
    this.#executed = restored?.executed ?? { height: 0, ...config.genesis };
    this.#stable = {
      height: 0,
      blockHash: config.genesis.hash,
      stateRoot: config.genesis.stateRoot,
      votes: [],
    };
    for (const record of restored?.records ?? []) this.#restore(record);
    this.#nextProposal = Math.max(this.#executed.height + 1, this.#highestSignedProposal() + 1);
  }

  /**
   * Up to `max` transactions waiting in the mempool, each sender's in nonce order: what the driver
   * shares again with a peer that (re)connects, which missed them if it was down when they arrived.
   * A query: it changes nothing.
   */
  pendingTxs(max: number): Transaction[] {
    return this.#mempool.pending(max);
  }

  /** Whether the mempool holds the transaction `id` (hex hash): admitted, so checked. A query. */
  holdsPending(id: string): boolean {
    return this.#mempool.has(id);
  }

  /**
   * What the replica is waiting on, in one line, for logs when it is stuck: its view and status, the
   * stable checkpoint, the commit floor, the next proposal, and each height in flight (proposal view
   * and sender, executed valid, PREPARE/COMMIT sent, votes held in this view). A query.
   */
  describeProgress(): string {
    const heights: string[] = [];
    const top = this.#executed.height + this.#config.params.window;
    for (let height = this.#executed.height + 1; height <= top; height++) {
      const slot = this.#slots.get(height);
      if (!slot) continue;
      const pp = slot.prePrepare ? `pp v${slot.prePrepare.view}/${slot.prePrepare.from}` : 'no pp';
      const prepares = slot.prepares.get(this.#view)?.size ?? 0;
      const commits = slot.commits.get(this.#view)?.size ?? 0;
      const flags = `${slot.valid ? 'valid' : 'unexecuted'}${slot.sentPrepare ? ' P' : ''}${slot.sentCommit ? ' C' : ''}`;
      heights.push(`h${height}: ${pp} ${flags} prepares ${prepares} commits ${commits}`);
    }
    const waiting =
      this.#awaitingParent.size > 0 ? ` awaiting parent ${[...this.#awaitingParent.keys()]}` : '';
    return (
      `view ${this.#view} ${this.#status} floor ${this.#commitFloor} executed ${this.#executed.height} ` +
      `stable ${this.#stable.height} next ${this.#nextProposal}${this.#building ? ' building' : ''}` +
      `${this.#fetching ? ' fetching' : ''}${waiting}; ${heights.join('; ') || 'no heights in flight'}`
    );
  }

  get info(): ReplicaInfo {
    return {
      view: this.#view,
      changingView: this.#status === 'view-change',
      executedHeight: this.#executed.height,
      viewChangesStarted: this.#viewChangesStarted,
      lastViewChangeReason: this.#lastViewChangeReason,
      mempoolSize: this.#mempool.size,
      heldTxs: this.#mempool.held,
      abandonedBuilds: this.#abandonedBuilds,
      untimelyProposals: this.#untimelyProposals,
      proposalTxs: { ...this.#proposalTxs },
    };
  }

  start(): ConsensusAction[] {
    this.#setTimer('status', this.#config.params.statusInterval_ms);
    // Restarted in a view change: ask for the view again (the VIEW-CHANGE sent before was lost with
    // everything else in memory; the one signed now reports at least as much).
    if (this.#status === 'view-change') this.#sendViewChange();
    return this.#flush();
  }

  step(event: ConsensusEvent): ConsensusAction[] {
    this.#assertInvariants();
    const viewBefore = this.#view;
    const rejoinsBefore = this.#rejoins;
    switch (event.kind) {
      case 'txs':
        this.#onTxs(event.txs, event.from, event.signatureChecked === true);
        break;
      case 'message':
        this.#onMessage(event.from, event.message);
        break;
      case 'timer':
        this.#onTimer(event.timer);
        break;
      case 'built':
        this.#onBuilt(event.block);
        break;
      case 'executed':
        this.#onExecuted(event.height, hex(event.blockHash), event.ok, event.stateRoot, event.reason);
        break;
      case 'fetched':
        this.#onFetched(event.blocks);
        break;
      case 'peer':
        this.#onPeerConnection(event.peer, event.connected);
        break;
      default:
        assertNever(event);
    }
    assert(
      this.#view >= viewBefore || this.#rejoins > rejoinsBefore,
      'the view never decreases but by rejoining the group',
    );
    this.#assertInvariants();
    return this.#flush();
  }

  /** What holds between any two steps. */
  #assertInvariants(): void {
    const { height: executed } = this.#executed;
    assert(this.#stable.height <= executed, 'the stable checkpoint is executed');
    assert(this.#nextProposal > executed, 'the next proposal is above the executed chain');
    assert(
      this.#status !== 'view-change' || this.#commitFloor >= this.#view,
      'a replica changing view sent its VIEW-CHANGE',
    );
    if (this.#status === 'view-change') {
      assert(this.#building === null, 'no block is built while the view changes');
      assert(
        !this.#requestTimerArmed && !this.#batchTimerArmed,
        'no request or batch timer while the view changes',
      );
    }
    for (const height of this.#slots.keys())
      assert(this.#inWindow(height), 'every slot lies in the log window above the executed chain');
    for (const height of this.#prepared.keys())
      assert(height > this.#stable.height, 'prepared certificates lie above the stable checkpoint');
  }

  /** We work in `view`: it is our view and we accepted its NEW-VIEW (or it is view 0). */
  #settledIn(view: number): boolean {
    return view === this.#view && this.#status === 'normal';
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  #flush(): ConsensusAction[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #emit(action: ConsensusAction): void {
    this.#out.push(action);
  }

  #broadcast(message: ConsensusMessage): void {
    this.#emit({ kind: 'broadcast', message });
  }

  /**
   * Records to make durable before anything emitted after them. Joined to a persist emitted just
   * before, so that they share one synced write (a COMMIT's `signed` and `prepared` records).
   */
  #persist(...records: DurableRecord[]): void {
    const last = this.#out.at(-1);
    if (last?.kind === 'persist')
      this.#out[this.#out.length - 1] = { kind: 'persist', records: [...last.records, ...records] };
    else this.#emit({ kind: 'persist', records });
  }

  #setTimer(timer: TimerId, delay_ms: number): void {
    this.#emit({ kind: 'setTimer', timer, delay_ms });
  }

  #primary(view = this.#view): number {
    return view % this.#n;
  }

  #isPrimary(): boolean {
    return this.#primary() === this.#config.self;
  }

  #slot(height: number): Slot {
    let slot = this.#slots.get(height);
    if (!slot) {
      slot = {
        height,
        prePrepare: null,
        block: null,
        hash: null,
        valid: false,
        sentPrepare: false,
        sentCommit: false,
        prepares: new Map(),
        commits: new Map(),
        committed: null,
      };
      this.#slots.set(height, slot);
    }
    return slot;
  }

  /** Heights a vote or proposal may name: above what we executed and within the log window. */
  #inWindow(height: number): boolean {
    return height > this.#executed.height && height <= this.#stable.height + this.#config.params.logSize;
  }

  /** Records a signature we are about to make; false if it would contradict an earlier one. */
  #maySign(phase: 'preprepare' | 'prepare' | 'commit', view: number, height: number, hash: string): boolean {
    const key = `${phase}/${view}/${height}`;
    const earlier = this.#signed.get(key);
    if (earlier !== undefined) return earlier === hash;
    this.#signed.set(key, hash);
    this.#persist({ kind: 'signed', phase, view, height, blockHash: Buffer.from(hash, 'hex') });
    return true;
  }

  #restore(record: DurableRecord): void {
    switch (record.kind) {
      case 'view': // the records come oldest first: the last one is the view we were in
        this.#view = record.view;
        this.#status = record.changing ? 'view-change' : 'normal';
        if (record.changing) this.#commitFloor = Math.max(this.#commitFloor, record.view);
        break;
      case 'floor':
        this.#commitFloor = Math.max(this.#commitFloor, record.view);
        break;
      case 'signed':
        this.#signed.set(`${record.phase}/${record.view}/${record.height}`, hex(record.blockHash));
        break;
      case 'prepared': {
        const height = record.cert.prePrepare.height;
        const current = this.#prepared.get(height);
        if (!current || current.prePrepare.view <= record.cert.prePrepare.view)
          this.#prepared.set(height, record.cert);
        this.#bodies.remember(record.cert.prePrepare.block);
        break;
      }
      case 'stable':
        if (record.proof.height > this.#stable.height && record.proof.height <= this.#executed.height) {
          this.#stable = record.proof;
        }
        break;
      default:
        assertNever(record);
    }
    for (const height of this.#prepared.keys())
      if (height <= this.#stable.height) this.#prepared.delete(height);
  }

  #highestSignedProposal(): number {
    let highest = 0;
    for (const key of this.#signed.keys()) {
      const [phase, view, height] = key.split('/');
      if (phase === 'preprepare' && Number(view) === this.#view) highest = Math.max(highest, Number(height));
    }
    return highest;
  }

  // ---- transactions and proposals ---------------------------------------------------------------

  /** Committed at any height: recently (remembered here) or earlier (asked of the chain, if it can tell). */
  #isCommittedTx = (id: string) =>
    this.#committedTxs.has(id) || this.#config.isCommitted(Buffer.from(id, 'hex'));

  /** Transactions from a client of ours (`peer` null) or gossiped by a peer. */
  #onClientTxs(txs: Transaction[], peer: number | null, signatureChecked = false): void {
    const admitted: Transaction[] = [];
    let forged = false;
    for (const tx of txs) {
      const result = this.#mempool.admit(
        tx,
        this.#isCommittedTx,
        this.#requestPeriod,
        signatureChecked,
        this.#config.senderAccount,
      );
      if (result === 'admitted') admitted.push(tx);
      forged ||= result === 'bad-signature';
    }
    if (forged && peer !== null)
      this.#emit({ kind: 'misbehaviour', peer, reason: 'forged-transaction-in-gossip' });
    if (admitted.length === 0) return;
    this.#completeProposals(admitted);
    // Share client transactions with every replica, so that all of them watch for their commit.
    if (peer === null) this.#broadcast({ kind: 'txs', txs: admitted });
    this.#armRequestTimer();
    this.#maybePropose();
    this.#suspectUnreachablePrimary();
  }

  /** Starts the request timer when transactions begin to wait; it then ticks until none do. */
  #armRequestTimer(): void {
    if (this.#requestTimerArmed || this.#status !== 'normal' || this.#mempool.size === 0) return;
    this.#requestTimerArmed = true;
    // The transactions that armed it wait through this whole first period.
    this.#waitedWholePeriod = true;
    this.#progressSinceTick = false;
    this.#waitingSinceStatusPeriod = this.#statusPeriod;
    this.#setTimer('request', this.#requestTimeout.timeout_ms);
  }

  #maybePropose(): void {
    if (!this.#isPrimary() || this.#status !== 'normal' || this.#building) return;
    const { window, logSize, batchMaxTxs, batchDelay_ms } = this.#config.params;
    const height = this.#nextProposal;
    if (height > this.#executed.height + window || height > this.#stable.height + logSize) return;
    const parent = this.#blockAt(height - 1);
    if (!parent) return; // the parent's proposal is not known in this view
    const txs = this.#mempool.batch(batchMaxTxs, this.#inFlight);
    if (txs.length === 0) return;
    if (txs.length < batchMaxTxs && !this.#batchDue) {
      if (!this.#batchTimerArmed) {
        this.#batchTimerArmed = true;
        this.#setTimer('batch', batchDelay_ms);
      }
      return;
    }
    this.#batchDue = false;
    this.#building = { height, view: this.#view, period: this.#statusPeriod };
    const { hash, stateRoot, timestamp } = parent;
    this.#emit({ kind: 'build', height, view: this.#view, parent: { hash, stateRoot, timestamp }, txs });
  }

  /** Hash, state root and time of the block at `height` on the chain this view is extending. */
  #blockAt(height: number): { hash: Uint8Array; stateRoot: Uint8Array; timestamp: number } | null {
    if (height === this.#executed.height) return this.#executed;
    const slot = this.#slots.get(height);
    const block = slot?.prePrepare ? slot.block : slot?.committed?.block;
    if (!block) return null;
    return {
      hash: blockHash(block.header),
      stateRoot: block.header.stateRoot,
      timestamp: block.header.timestamp,
    };
  }

  /** A built block that is not the one we asked for is stale (there is none while the view changes). */
  #ignoreBuilt(block: Block): boolean {
    const { height, view } = block.header;
    return this.#building?.height !== height || this.#building.view !== view;
  }

  #onBuilt(block: Block): void {
    if (this.#ignoreBuilt(block)) return;
    assert(this.#status === 'normal', 'a block is built only in normal status');
    const { height, view } = block.header;
    this.#building = null;
    // The executor left every transaction out (each would skip a nonce of its sender on this
    // parent): nothing to propose yet. They stay in the mempool; a later batch takes them again.
    if (block.txs.length === 0) return;
    if (!this.#isPrimary() || height !== this.#nextProposal || !this.#settledIn(view)) return;
    const parent = this.#blockAt(height - 1);
    if (!parent || !bytesEqual(parent.hash, block.header.prevHash)) return;
    const hash = hex(blockHash(block.header));
    if (!this.#maySign('preprepare', this.#view, height, hash)) return;
    const pp = signMessage(
      this.#config.chainId,
      'preprepare',
      { from: this.#config.self, view: this.#view, height, block },
      this.#config.secretKey,
    );
    this.#executions.set(hash, true);
    this.#nextProposal = height + 1;
    this.#broadcast({ kind: 'preprepare', ...pp });
    this.#acceptPrePrepare(pp, { reproposal: false });
    this.#maybePropose();
  }

  // ---- messages ---------------------------------------------------------------------------------

  /** Transactions from our clients (`from` null) or shared by a peer, whose signatures the driver may have checked. */
  #onTxs(txs: Transaction[], from: number | null, signatureChecked: boolean): void {
    if (from !== null) {
      if (this.#ignoreMessage(from)) return;
      this.#heardFrom(from);
    }
    this.#onClientTxs(txs, from, signatureChecked);
  }

  #heardFrom(from: number): void {
    if (from === this.#primary()) this.#heardFromPrimaryIn = this.#statusPeriod;
  }

  /** Messages count only from the other validators; each kind is then handled in either status. */
  #ignoreMessage(from: number): boolean {
    return from < 0 || from >= this.#n || from === this.#config.self;
  }

  #onMessage(from: number, message: ConsensusMessage): void {
    if (this.#ignoreMessage(from)) return;
    this.#heardFrom(from);
    switch (message.kind) {
      case 'txs':
        this.#onClientTxs(message.txs, from);
        return;
      case 'status':
        this.#onStatus(from, message.view, message.changing, message.height);
        return;
      case 'preprepare':
        this.#onPrePrepare(message);
        return;
      case 'prepare':
        this.#onPrepare(message);
        return;
      case 'commit':
        this.#onCommit(message);
        return;
      case 'checkpoint':
        this.#onCheckpoint(message);
        return;
      case 'viewchange':
        this.#onViewChange(from, message);
        return;
      case 'newview':
        this.#onNewView(message);
        return;
      case 'getbodies':
        this.#onGetBodies(from, message.hashes);
        return;
      case 'bodies':
        this.#onBodies(message.blocks);
        return;
      case 'proposal':
        this.#onProposalByHash(from, message);
        return;
      case 'gettxs':
        this.#onGetTxs(from, message.blockHash, message.indexes);
        return;
      case 'blocktxs':
        this.#completeProposals(message.txs, hex(message.blockHash));
        return;
      default:
        assertNever(message);
    }
  }

  /** A proposal of a view we have not settled in yet: held until its NEW-VIEW (if near and room). */
  #holdsForLater(pp: PrePrepare): boolean {
    return pp.view > this.#view || (pp.view === this.#view && this.#status === 'view-change');
  }

  /** Of the view we work in: a proposal of an older view, not by its primary or outside the window. */
  #ignorePrePrepare(pp: PrePrepare): boolean {
    return pp.view < this.#view || pp.from !== this.#primary() || !this.#inWindow(pp.height);
  }

  /** `judged`: a proposal held for a later view was judged timely when it arrived. */
  #onPrePrepare(pp: PrePrepare, judged = false): void {
    if (!judged && !this.#config.unsafe?.skipClockCheck && !timely(pp.block.header.timestamp, this.#config)) {
      // Not voted for, not blamed at once: the primary's clock or ours is off. A primary whose
      // proposals the others refuse too makes no progress, and the request timer replaces it.
      this.#untimelyProposals++;
      return;
    }
    if (this.#holdsForLater(pp)) {
      if (pp.view <= this.#view + 2 && this.#futurePrePrepares.length < 4 * this.#config.params.logSize) {
        this.#futurePrePrepares.push(pp);
      }
      return;
    }
    if (this.#ignorePrePrepare(pp)) return;
    assert(this.#settledIn(pp.view), 'a proposal is taken up only in the view we work in');
    const slot = this.#slots.get(pp.height);
    if (slot?.prePrepare) {
      if (bytesEqual(slot.prePrepare.signature, pp.signature)) return; // a duplicate
      if (
        hex(blockHash(pp.block.header)) !== slot.hash &&
        verifyMessage(this.#config.chainId, 'preprepare', pp, this.#config.validators)
      ) {
        this.#startViewChange(this.#view + 1, 'the primary equivocated');
      }
      return;
    }
    if (
      !this.#config.unsafe?.skipPrePrepareSignatureCheck &&
      !verifyMessage(this.#config.chainId, 'preprepare', pp, this.#config.validators)
    )
      return;
    this.#acceptPrePrepare(pp, { reproposal: false });
  }

  /** Validates a proposal of the current view and, if it extends the chain, takes it up. */
  #acceptPrePrepare(pp: PrePrepare, how: { reproposal: boolean }): void {
    const { height, block } = pp;
    if (!this.#inWindow(height)) return;
    const parent = this.#blockAt(height - 1);
    if (!parent) {
      this.#awaitingParent.set(height, { pp, reproposal: how.reproposal });
      return;
    }
    const problem = this.#checkProposal(pp, parent, how.reproposal);
    if (problem) {
      // The primary signed the header only: transactions that do not match it are not its doing.
      const blame = !how.reproposal && problem !== NOT_THE_SIGNED_BODY;
      if (blame) this.#startViewChange(this.#view + 1, `invalid proposal: ${problem}`);
      return;
    }
    const slot = this.#slot(height);
    const hash = hex(blockHash(block.header));
    assert(
      !slot.committed || hex(slot.committed.certificate.blockHash) === hash,
      'no proposal replaces a committed block',
    );
    slot.prePrepare = pp;
    slot.block = block;
    slot.hash = hash;
    this.#bodies.remember(block, hash);
    this.#requestTimeout.accepted(height, this.#statusPeriod);
    const ids = block.txs.map((tx) => hex(txHash(tx)));
    if (pp.view === this.#view && !how.reproposal) {
      this.#noteProgress();
      this.#intakeLag.proposed(this.#waitsOf(ids));
      if (block.txs.length < this.#config.params.batchMaxTxs)
        this.#lastRoomyProposalPeriod = this.#requestPeriod;
    }
    for (const id of ids) this.#inFlight.add(id);
    const executed = this.#executions.get(hash);
    if (executed === undefined) this.#emit({ kind: 'execute', block });
    else this.#onExecuted(height, hash, executed, block.header.stateRoot);
    this.#checkCommitted(slot);

    const child = this.#awaitingParent.get(height + 1);
    if (child) {
      this.#awaitingParent.delete(height + 1);
      this.#acceptPrePrepare(child.pp, { reproposal: child.reproposal });
    }
  }

  /** Request periods each of `ids` that waits here has waited in this view (others are left out). */
  *#waitsOf(ids: readonly string[]): Generator<number> {
    for (const id of ids) {
      const since = this.#mempool.waitingPeriod(id);
      if (since !== undefined) yield this.#requestPeriod - Math.max(since, this.#viewStartPeriod);
    }
  }

  /** Null when the proposal is acceptable on top of `parent`, else what is wrong with it. */
  #checkProposal(
    pp: PrePrepare,
    parent: { hash: Uint8Array; timestamp: number },
    reproposal: boolean,
  ): string | null {
    const { header, txs } = pp.block;
    if (
      header.height !== pp.height ||
      header.chainId !== this.#config.chainId ||
      header.version !== BLOCK_VERSION
    )
      return 'header';
    if (reproposal ? header.view > pp.view : header.view !== pp.view) return 'view';
    if (!bytesEqual(header.proposer, this.#config.validators[this.#primary(header.view)]!)) return 'proposer';
    if (!bytesEqual(header.prevHash, parent.hash)) return 'does not extend the chain';
    if (header.timestamp < parent.timestamp) return 'timestamp goes backwards';
    // First, as what is wrong with a body that is not the signed one says nothing of the primary.
    const ids = txs.map(txHash);
    if (!bytesEqual(header.txRoot, merkleRoot(ids))) return NOT_THE_SIGNED_BODY;
    if (txs.length > this.#config.params.maxBlockTxs || txs.length === 0) return 'batch size';
    const seen = new Set<string>();
    for (let i = 0; i < txs.length; i++) {
      const id = hex(ids[i]!);
      if (seen.has(id)) return 'duplicate tx';
      seen.add(id);
      if (
        txs[i]!.chainId !== this.#config.chainId ||
        (!this.#config.unsafe?.skipTxSignatureCheck && !this.#mempool.verify(txs[i]!, id))
      )
        return 'tx signature';
      if (!reproposal && (this.#inFlight.has(id) || this.#isCommittedTx(id)))
        return 'tx already committed or in flight';
    }
    return null;
  }

  #onExecuted(height: number, hash: string, ok: boolean, stateRoot: Uint8Array, reason?: string): void {
    const slot = this.#slots.get(height);
    if (!slot || slot.hash !== hash || !slot.block) return;
    const valid = ok && bytesEqual(stateRoot, slot.block.header.stateRoot);
    this.#executions.set(hash, valid);
    if (!valid) {
      if (slot.prePrepare && this.#settledIn(slot.prePrepare.view))
        this.#startViewChange(
          this.#view + 1,
          ok
            ? 'the proposed block does not execute to its state root'
            : `the proposed block cannot be executed here (${reason ?? 'no reason given'})`,
        );
      return;
    }
    slot.valid = true;
    if (this.#primary() !== this.#config.self && !slot.sentPrepare && slot.prePrepare?.view === this.#view) {
      if (!this.#maySign('prepare', this.#view, height, hash)) return;
      slot.sentPrepare = true;
      const prepare = signMessage(
        this.#config.chainId,
        'prepare',
        { from: this.#config.self, view: this.#view, height, blockHash: blockHash(slot.block.header) },
        this.#config.secretKey,
      );
      this.#broadcast({ kind: 'prepare', ...prepare });
      this.#addPrepare(slot, prepare);
    }
    this.#checkPrepared(slot);
  }

  /** PREPAREs count in either status, for this view or the next two, inside the window, not by a primary. */
  #ignorePrepare(prepare: Prepare): boolean {
    return (
      prepare.view < this.#view ||
      prepare.view > this.#view + 2 ||
      !this.#inWindow(prepare.height) ||
      prepare.from === this.#primary(prepare.view) ||
      !verifyMessage(this.#config.chainId, 'prepare', prepare, this.#config.validators)
    );
  }

  #onPrepare(prepare: Prepare): void {
    if (this.#ignorePrepare(prepare)) return;
    const slot = this.#slot(prepare.height);
    this.#addPrepare(slot, prepare);
    this.#checkPrepared(slot);
  }

  #addPrepare(slot: Slot, prepare: Prepare): void {
    const byView = getOrCreate(slot.prepares, prepare.view);
    if (!byView.has(prepare.from)) byView.set(prepare.from, prepare);
  }

  /** Prepared: the proposal and q-1 matching PREPAREs. Then COMMIT, once the parent is prepared too. */
  #checkPrepared(slot: Slot): void {
    if (!slot.valid || slot.sentCommit || !slot.prePrepare || !this.#settledIn(slot.prePrepare.view)) return;
    if (this.#view < this.#commitFloor) return; // rejoined: PREPARE only (see the top of this file)
    const matching = [...(slot.prepares.get(this.#view)?.values() ?? [])].filter(
      (p) => hex(p.blockHash) === slot.hash,
    );
    if (matching.length < this.#quorum - 1) return;
    if (!this.#parentPreparedOrCommitted(slot)) return;
    if (!this.#maySign('commit', this.#view, slot.height, slot.hash!)) return;
    matching.sort((a, b) => a.from - b.from);
    const cert: PreparedBlock = {
      prePrepare: slot.prePrepare,
      prepares: matching.slice(0, this.#quorum - 1),
    };
    this.#prepared.set(slot.height, cert);
    this.#persist({ kind: 'prepared', cert });
    slot.sentCommit = true;
    const commit = signCommitMessage(
      this.#config.chainId,
      {
        from: this.#config.self,
        view: this.#view,
        height: slot.height,
        blockHash: blockHash(slot.block!.header),
      },
      this.#config.secretKey,
    );
    this.#broadcast({ kind: 'commit', ...commit });
    this.#addCommit(slot, commit);
    this.#checkCommitted(slot);
    const child = this.#slots.get(slot.height + 1);
    if (child) this.#checkPrepared(child);
  }

  #parentPreparedOrCommitted(slot: Slot): boolean {
    const parentHeight = slot.height - 1;
    if (parentHeight <= this.#executed.height) return true;
    const parent = this.#slots.get(parentHeight);
    if (!parent) return false;
    if (parent.committed) return true;
    return parent.sentCommit && parent.prePrepare?.view === this.#view;
  }

  /** COMMITs count in either status and of any earlier view (a certificate may be of any), inside the window. */
  #ignoreCommit(commit: Commit): boolean {
    return (
      !this.#inWindow(commit.height) ||
      commit.view > this.#view + 2 ||
      !verifyCommitMessage(this.#config.chainId, commit, this.#config.validators)
    );
  }

  #onCommit(commit: Commit): void {
    if (this.#ignoreCommit(commit)) return;
    const slot = this.#slot(commit.height);
    this.#addCommit(slot, commit);
    this.#checkCommitted(slot);
  }

  #addCommit(slot: Slot, commit: Commit): void {
    const byView = getOrCreate(slot.commits, commit.view);
    if (!byView.has(commit.from)) byView.set(commit.from, commit);
  }

  /** Committed: a quorum of COMMITs in one view for the block we hold. They are its certificate. */
  #checkCommitted(slot: Slot): void {
    if (slot.committed || !slot.block || !slot.hash) return;
    for (const [view, byView] of slot.commits) {
      const votes = [...byView.values()].filter((c) => hex(c.blockHash) === slot.hash);
      if (votes.length < this.#commitQuorum) continue;
      const certificate: CommitCertificate = {
        height: slot.height,
        view,
        blockHash: votes[0]!.blockHash,
        votes: votes
          .map((c) => ({ validator: this.#config.validators[c.from]!, signature: c.signature }))
          .sort((a, b) => Buffer.compare(a.validator, b.validator)),
      };
      slot.committed = { block: slot.block, certificate };
      this.#executeCommitted();
      return;
    }
  }

  /** Executes committed blocks in height order. */
  #executeCommitted(): void {
    let progressed = false;
    for (;;) {
      const slot = this.#slots.get(this.#executed.height + 1);
      if (!slot?.committed) break;
      this.#applyCommitted(slot.committed.block, slot.committed.certificate);
      this.#requestTimeout.committed(slot.height, this.#statusPeriod);
      progressed = true;
    }
    if (progressed) this.#afterProgress();
  }

  #applyCommitted(block: Block, certificate: CommitCertificate): void {
    const { header } = block;
    assert(header.height === this.#executed.height + 1, 'commits are applied in height order');
    assert(bytesEqual(header.prevHash, this.#executed.hash), 'a committed block extends the executed chain');
    this.#emit({ kind: 'commit', block, certificate });
    const hash = blockHash(header);
    this.#executed = {
      height: header.height,
      hash,
      stateRoot: header.stateRoot,
      timestamp: header.timestamp,
    };
    this.#executedHashes.set(header.height, hex(hash));
    const ids = block.txs.map((tx) => hex(txHash(tx)));
    for (const id of ids) {
      this.#committedTxs.set(id, header.height);
      this.#inFlight.delete(id);
    }
    this.#mempool.remove(ids, block.txs, this.#requestPeriod);
    this.#slots.delete(header.height);
    this.#awaitingParent.delete(header.height);
    if (this.#nextProposal <= header.height) this.#nextProposal = header.height + 1;
    if (header.height % this.#config.params.checkpointInterval === 0) this.#signCheckpoint();
  }

  #afterProgress(): void {
    // A commit shows the view works, but resets no transaction's wait (the request timer runs on).
    this.#noteProgress();
    this.#viewChangeAttempts = 0;
    if (this.#mempool.size === 0 && this.#requestTimerArmed) {
      this.#requestTimerArmed = false;
      this.#emit({ kind: 'cancelTimer', timer: 'request' });
      this.#primaryHasTxs();
    }
    const waiting = this.#awaitingParent.get(this.#executed.height + 1);
    if (waiting) {
      this.#awaitingParent.delete(this.#executed.height + 1);
      if (waiting.pp.view === this.#view)
        this.#acceptPrePrepare(waiting.pp, { reproposal: waiting.reproposal });
    }
    for (const slot of this.#slots.values()) this.#checkPrepared(slot);
    this.#maybePropose();
  }

  /** The view works: judged at request ticks (this period) and at STATUS ticks (how long ago). */
  #noteProgress(): void {
    this.#progressSinceTick = true;
    this.#lastProgressStatusPeriod = this.#statusPeriod;
  }

  // ---- checkpoints and state transfer -------------------------------------------------------------

  #signCheckpoint(): void {
    const { height, hash, stateRoot } = this.#executed;
    const checkpoint = signMessage(
      this.#config.chainId,
      'checkpoint',
      { from: this.#config.self, height, blockHash: hash, stateRoot },
      this.#config.secretKey,
    );
    this.#broadcast({ kind: 'checkpoint', ...checkpoint });
    this.#addCheckpoint(checkpoint);
  }

  /**
   * CHECKPOINTs count in either status: above the stable one, at a checkpoint height, not too far ahead
   * (that bounds memory).
   */
  #ignoreCheckpoint(checkpoint: Checkpoint): boolean {
    return (
      checkpoint.height <= this.#stable.height ||
      checkpoint.height % this.#config.params.checkpointInterval !== 0 ||
      checkpoint.height > this.#executed.height + 16 * this.#config.params.logSize ||
      !verifyMessage(this.#config.chainId, 'checkpoint', checkpoint, this.#config.validators)
    );
  }

  #onCheckpoint(checkpoint: Checkpoint): void {
    if (this.#ignoreCheckpoint(checkpoint)) return;
    this.#addCheckpoint(checkpoint);
  }

  #addCheckpoint(checkpoint: Checkpoint): void {
    const byHeight = getOrCreate(this.#checkpoints, checkpoint.height);
    if (byHeight.has(checkpoint.from)) return;
    byHeight.set(checkpoint.from, checkpoint);
    this.#checkCheckpointQuorum(checkpoint.height);
  }

  /** A quorum of matching CHECKPOINTs at `height` is a proof; consider it for the stable checkpoint. */
  #checkCheckpointQuorum(height: number): void {
    const votes = [...(this.#checkpoints.get(height)?.values() ?? [])];
    for (const candidate of votes) {
      const matching = votes.filter(
        (c) => bytesEqual(c.blockHash, candidate.blockHash) && bytesEqual(c.stateRoot, candidate.stateRoot),
      );
      if (matching.length < this.#quorum) continue;
      const { blockHash: hash, stateRoot } = candidate;
      this.#considerStable({
        height,
        blockHash: hash,
        stateRoot,
        votes: matching.sort((a, b) => a.from - b.from),
      });
      return;
    }
  }

  /** A proven checkpoint: make it stable if we executed it, else fetch the blocks up to it. */
  #considerStable(proof: CheckpointProof): void {
    if (proof.height <= this.#stable.height) return;
    if (proof.height > this.#executed.height) {
      this.#fetch(
        proof.height,
        proof.votes.map((v) => v.from),
      );
      return;
    }
    const ours =
      proof.height === this.#executed.height
        ? hex(this.#executed.hash)
        : this.#executedHashes.get(proof.height);
    assert(
      ours === undefined || ours === hex(proof.blockHash),
      'a quorum checkpoint matches our executed chain',
    );
    this.#stable = proof;
    this.#persist({ kind: 'stable', proof });
    this.#collectGarbage();
    this.#maybePropose();
  }

  #collectGarbage(): void {
    const low = this.#stable.height;
    for (const height of this.#checkpoints.keys()) if (height <= low) this.#checkpoints.delete(height);
    for (const height of this.#prepared.keys()) if (height <= low) this.#prepared.delete(height);
    this.#bodies.prune(low);
    for (const height of this.#executedHashes.keys()) if (height < low) this.#executedHashes.delete(height);
    for (const [key] of this.#signed) if (Number(key.split('/')[2]) <= low) this.#signed.delete(key);
    const forgetBelow = low - this.#config.params.logSize;
    // Safe to forget: the chain's tx index (isCommitted) answers for older transactions.
    for (const [id, height] of this.#committedTxs) if (height <= forgetBelow) this.#committedTxs.delete(id);
    if (this.#executions.size > 8 * this.#config.params.logSize) this.#executions.clear();
  }

  #fetch(toHeight: number, peers: number[]): void {
    if (this.#fetching || toHeight <= this.#executed.height) return;
    const candidates = peers.filter((p) => p !== this.#config.self);
    if (candidates.length === 0) return;
    this.#fetching = true;
    this.#fetchPeriod = this.#statusPeriod;
    const fromHeight = this.#executed.height + 1;
    // Reach the proposals held for want of their parents, or a replica behind stays behind: by the
    // time what it fetched is applied, the others have moved on as far again.
    const awaiting = Math.min(...this.#awaitingParent.keys()) - 1;
    const wanted = Number.isFinite(awaiting) ? Math.max(toHeight, awaiting) : toHeight;
    const to = Math.min(wanted, fromHeight + this.#config.params.fetchMaxBlocks - 1);
    this.#emit({ kind: 'fetch', fromHeight, toHeight: to, peers: candidates });
  }

  #onFetched(blocks: Array<{ block: Block; certificate: CommitCertificate }>): void {
    this.#fetching = false;
    let progressed = false;
    for (const { block, certificate } of blocks) {
      const { header } = block;
      if (header.height !== this.#executed.height + 1) continue;
      if (!bytesEqual(header.prevHash, this.#executed.hash) || header.chainId !== this.#config.chainId) break;
      if (!bytesEqual(header.txRoot, merkleRoot(block.txs.map(txHash)))) break;
      const problem = checkCertificate(certificate, {
        chainId: this.#config.chainId,
        validators: this.#validatorSet,
        height: header.height,
        blockHash: blockHash(header),
        proposedInView: header.view,
      });
      if (problem) break;
      this.#applyCommitted(block, certificate);
      progressed = true;
    }
    if (!progressed) return;
    for (const height of this.#slots.keys()) if (height <= this.#executed.height) this.#slots.delete(height);
    for (const height of [...this.#checkpoints.keys()].sort((a, b) => a - b)) {
      if (height <= this.#executed.height) this.#checkCheckpointQuorum(height);
    }
    this.#afterProgress();
  }

  #onStatus(from: number, view: number, changing: boolean, height: number): void {
    this.#peerStatus.set(from, { view, changing, height, period: this.#statusPeriod });
    // A replica still changing to (or behind) our view gets the NEW-VIEW that started it.
    if (view < this.#view && this.#status === 'normal' && this.#newViewMessage) {
      this.#emit({ kind: 'send', to: from, message: { kind: 'newview', ...this.#newViewMessage } });
    }
    // While we progress, peers a few heights ahead are just the pipeline; fetch only a real gap.
    this.#catchUpIfBehind(this.#config.params.window);
  }

  /**
   * `enough` peers (f+1 unless said otherwise) report executed heights more than `slack` above ours:
   * with f+1, at least one honest replica is that far ahead. Fetch the blocks from them (what they
   * send is checked against its commit certificate, so a peer that lies costs a request, no more).
   */
  #catchUpIfBehind(slack = 0, enough = this.#f + 1): boolean {
    const ahead = [...this.#peerStatus].filter(([, s]) => s.height > this.#executed.height + slack);
    if (ahead.length < enough) return false;
    const heights = ahead.map(([, s]) => s.height).sort((a, b) => b - a);
    this.#fetch(
      heights[enough - 1]!,
      ahead.map(([peer]) => peer),
    );
    return true;
  }

  // ---- timers -------------------------------------------------------------------------------------

  #ignoreTimer(timer: TimerId): boolean {
    return !TIMER_ACTS_IN[timer].includes(this.#status);
  }

  #onTimer(timer: TimerId): void {
    switch (timer) {
      case 'status': {
        this.#statusPeriod++;
        this.#answered.clear();
        // An unanswered fetch is asked again after a few periods (not each: applying many blocks takes
        // time, and a second request for the same blocks only delays the first).
        if (this.#statusPeriod - this.#fetchPeriod >= FETCH_RETRY_PERIODS) this.#fetching = false;
        if (this.#config.senderAccount) this.#mempool.refreshHeld(this.#config.senderAccount);
        // A build unanswered for a whole period will not be answered (the executor could not build
        // on that parent): ask again rather than never propose in this view.
        if (this.#building && this.#building.period < this.#statusPeriod - 1) {
          this.#building = null;
          this.#abandonedBuilds++;
        }
        this.#armRequestTimer();
        this.#maybePropose();
        this.#broadcast({
          kind: 'status',
          view: this.#workedInView(),
          changing: this.#status === 'view-change',
          height: this.#executed.height,
          blockHash: this.#executed.hash,
        });
        // Nothing executed for a whole period: a vote or a proposal may have been lost. (Waiting for the
        // usual commit latency first cut resends at saturation, but tripled p50 under 10% loss.)
        const stalled = this.#executed.height === this.#executedAtLastStatus;
        if (this.#status === 'view-change') this.#stillChangingView();
        else if (stalled) this.#resendStalledVotes();
        this.#askForBodies(null);
        this.#askForProposalTxs();
        if (stalled) this.#resendCheckpointVotes();
        this.#setTimer('status', this.#config.params.statusInterval_ms);
        // No progress for a whole period: any lead is worth fetching, even one peer's (a replica that
        // missed a vote of an old view may have no other way to the blocks the others committed).
        if (this.#executed.height > this.#executedAtLastStatus)
          this.#catchUpIfBehind(this.#config.params.window);
        else this.#catchUpIfBehind(0, 1);
        this.#executedAtLastStatus = this.#executed.height;
        this.#suspectSilentPrimary();
        return;
      }
      case 'batch':
        this.#batchTimerArmed = false;
        this.#batchDue = true;
        this.#maybePropose();
        return;
      case 'request':
        this.#onRequestTick();
        return;
      case 'viewchange':
        this.#viewChangeTimerArmed = false;
        if (this.#ignoreTimer('viewchange')) return;
        this.#startViewChange(this.#view + 1, 'the view change timed out');
        return;
      default:
        assertNever(timer);
    }
  }

  /**
   * A request period ended: age the waiting transactions, send the old ones to the primary again,
   * and replace a primary that shows no progress or censors (see the top of this file).
   */
  #onRequestTick(): void {
    this.#requestTimerArmed = false;
    this.#requestPeriod++;
    const progressed = this.#progressSinceTick;
    const waitedWholePeriod = this.#waitedWholePeriod;
    this.#progressSinceTick = false;
    if (this.#ignoreTimer('request') || this.#mempool.size === 0) return;
    const blame = this.#catchingUp() ? null : this.#blamePrimary(progressed, waitedWholePeriod);
    if (blame) {
      this.#startViewChange(this.#view + 1, blame);
      return;
    }
    this.#requestTimerArmed = true;
    this.#waitedWholePeriod = true;
    this.#setTimer('request', this.#requestTimeout.timeout_ms);
    this.#resendToPrimary();
  }

  /** The transport lost, or regained, its connection to `peer`. */
  #onPeerConnection(peer: number, connected: boolean): void {
    if (peer === this.#config.self || peer < 0 || peer >= this.#n) return;
    if (connected) this.#unreachable.delete(peer);
    else this.#unreachable.add(peer);
    this.#suspectUnreachablePrimary();
  }

  /**
   * Replaces a primary whose connection is lost while transactions wait, without waiting out a
   * request timeout (see the top of this file). A replica cut off from most peers is the one whose
   * network failed, and blames nobody.
   */
  #suspectUnreachablePrimary(): void {
    if (this.#status !== 'normal' || this.#mempool.size === 0) return;
    const primary = this.#primary();
    if (primary === this.#config.self || !this.#unreachable.has(primary)) return;
    if (this.#n - 1 - this.#unreachable.size < this.#quorum - 1 || this.#catchingUp()) return;
    this.#startViewChange(this.#view + 1, 'the connection to the primary was lost while transactions waited');
  }

  /**
   * At a STATUS tick: a primary silent for a whole request timeout (no message, no progress) while
   * transactions it has had waited is replaced now, not at the next request tick, which may be almost
   * a timeout later (see the top of this file).
   */
  #suspectSilentPrimary(): void {
    if (this.#status !== 'normal' || !this.#requestTimerArmed || this.#mempool.size === 0) return;
    if (this.#isPrimary()) return;
    const since = Math.max(
      this.#lastProgressStatusPeriod,
      this.#heardFromPrimaryIn,
      this.#waitingSinceStatusPeriod,
      this.#primaryHadTxsSince,
    );
    // What happened in STATUS period p happened before tick p + 1: silence is certain only from then.
    const silent_ms = (this.#statusPeriod - since - 1) * this.#config.params.statusInterval_ms;
    if (silent_ms < this.#requestTimeout.timeout_ms || this.#catchingUp()) return;
    this.#startViewChange(this.#view + 1, 'nothing from the primary within a request timeout');
  }

  /** Why the primary must be replaced at this request tick, or null (see the top of this file). */
  #blamePrimary(progressed: boolean, waitedWholePeriod: boolean): string | null {
    // A primary is judged on what it was given: in a view just entered, the waiting transactions are
    // sent to it once before it can be blamed for not proposing them.
    if (this.#requestPeriod - this.#viewStartPeriod < 2) return null;
    if (waitedWholePeriod && !progressed) return NO_PROGRESS;
    // Censorship: a transaction the primary has had for a while, left out of blocks with room for it.
    // We sent it again a period after it began to wait here, and the primary's intake may take `lag`
    // periods more to admit it; only blocks with room a whole period after that leave it out.
    const oldest = Math.max(this.#mempool.oldestPeriod(this.#inFlight), this.#viewStartPeriod);
    const waited = this.#requestPeriod - oldest;
    const lag = this.#intakeLag.periods;
    const roomSince = oldest + REGOSSIP_AFTER_PERIODS + 1 + lag;
    if (waited >= CENSORSHIP_PERIODS + lag && this.#lastRoomyProposalPeriod >= roomSince)
      return `a transaction waited ${waited} request timeouts while the primary proposed others (censorship)`;
    return null;
  }

  /**
   * Nothing executed for a whole STATUS period: send again what we signed for the heights in flight
   * (the proposal, if ours, and our PREPARE and COMMIT), as any of them may have been lost. PBFT would
   * leave this to a view change; a lost vote is far cheaper to repair by sending it again.
   */
  #resendStalledVotes(): void {
    const self = this.#config.self;
    const top = this.#executed.height + this.#config.params.window;
    for (let height = this.#executed.height + 1; height <= top; height++) {
      const slot = this.#slots.get(height);
      if (!slot?.prePrepare || slot.committed || slot.prePrepare.view !== this.#view) continue;
      if (slot.prePrepare.from === self) this.#broadcast({ kind: 'preprepare', ...slot.prePrepare });
      const prepare = slot.prepares.get(this.#view)?.get(self);
      if (prepare) this.#broadcast({ kind: 'prepare', ...prepare });
      const commit = slot.commits.get(this.#view)?.get(self);
      if (commit) this.#broadcast({ kind: 'commit', ...commit });
    }
  }

  /**
   * The votes of our stable checkpoint (a quorum's, relayed: each is signed by its sender) and ours
   * above it, sent again while nothing executes: a replica that lost some never sees a checkpoint
   * become stable, and a primary stops proposing at the high watermark (stable + logSize) until it
   * does.
   */
  #resendCheckpointVotes(): void {
    for (const vote of this.#stable.votes) this.#broadcast({ kind: 'checkpoint', ...vote });
    for (const [height, byReplica] of this.#checkpoints) {
      const ours = byReplica.get(this.#config.self);
      if (height > this.#stable.height && ours) this.#broadcast({ kind: 'checkpoint', ...ours });
    }
  }

  /** The view this replica last worked in: while changing, (at least) the one before. */
  #workedInView(): number {
    return this.#status === 'view-change' ? Math.max(0, this.#view - 1) : this.#view;
  }

  /**
   * A STATUS period passed in a view change: send our VIEW-CHANGE again (it may have been lost),
   * and if nobody joined it for a while, rejoin the group's lower view.
   */
  #stillChangingView(): void {
    this.#statusPeriodsChanging++;
    const quorumAsked = (this.#viewChanges.get(this.#view)?.size ?? 0) >= this.#quorum; // a NEW-VIEW is due
    const groupView = this.#groupView();
    if (
      this.#statusPeriodsChanging >= REJOIN_AFTER_STATUS_PERIODS &&
      !quorumAsked &&
      groupView !== null &&
      groupView < this.#view
    ) {
      this.#rejoin(groupView);
      return;
    }
    if (this.#ownViewChange) this.#broadcast({ kind: 'viewchange', ...this.#ownViewChange });
  }

  /** The view f+1 peers report working in (not changing from), if they agree on one. */
  #groupView(): number | null {
    const counts = new Map<number, number>();
    for (const { view, changing } of this.#freshStatuses()) {
      if (!changing) counts.set(view, (counts.get(view) ?? 0) + 1);
    }
    let best: number | null = null;
    for (const [view, count] of counts)
      if (count >= this.#f + 1 && (best === null || view > best)) best = view;
    return best;
  }

  /**
   * Returns to the group's view from a view change nobody joined. The view goes down, which PBFT
   * does not allow in general; it is safe here because no COMMIT is signed below `#commitFloor`
   * (see the top of this file).
   */
  #rejoin(view: number): void {
    assert(
      view < this.#view && this.#commitFloor >= this.#view,
      'a rejoin goes down from a view we asked for',
    );
    this.#rejoins++;
    this.#view = view;
    this.#status = 'normal';
    this.#beginWorkInView();
    this.#ownViewChange = null;
    this.#newViewMessage = null;
    if (this.#viewChangeTimerArmed) this.#emit({ kind: 'cancelTimer', timer: 'viewchange' });
    this.#viewChangeTimerArmed = false;
    this.#resetSlotsForView();
    this.#persist({ kind: 'view', view, changing: false });
    this.#lastViewChangeReason = `rejoined the group in view ${view}`;
    this.#nextProposal = Math.max(this.#executed.height + 1, this.#highestSignedProposal() + 1);
    this.#armRequestTimer();
    this.#maybePropose();
  }

  /** Transactions that waited a whole period go to the primary again: it may never have had them. */
  #resendToPrimary(): void {
    this.#primaryHasTxs();
    const primary = this.#primary();
    if (primary === this.#config.self) return;
    const txs = this.#mempool.waitingSince(this.#requestPeriod - REGOSSIP_AFTER_PERIODS, MAX_FORWARDED_TXS);
    if (txs.length > 0) this.#emit({ kind: 'send', to: primary, message: { kind: 'txs', txs } });
  }

  /**
   * Behind the others: a fetch is under way, f+1 peers report a higher executed height, or (just
   * started, or cut off) we have not heard from enough peers to know.
   */
  #catchingUp(): boolean {
    // Proposals held for want of their parents do not count: a faulty primary could send only
    // later heights and be spared blame for ever. f+1 peers ahead show a replica really behind.
    if (this.#fetching) return true;
    // Not hearing from enough peers, we are the one cut off (or just started): blame nobody.
    if (this.#freshStatuses().length < this.#quorum - 1) return true;
    return this.#catchUpIfBehind();
  }

  /** The peers' STATUS reports of the last few periods: who we hear from, and where they are. */
  #freshStatuses(): Array<{ view: number; changing: boolean; height: number }> {
    const since = this.#statusPeriod - STATUS_FRESH_PERIODS;
    return [...this.#peerStatus.values()].filter((s) => s.period >= since);
  }

  // ---- re-proposal bodies ---------------------------------------------------------------------------

  /** Asks for the transactions of the re-proposals still missing: `spread` holders each, or all. */
  #askForBodies(spread: number | null): void {
    if (this.#bodies.waiting === 0) return;
    for (const [peer, hashes] of this.#bodies.requests(spread)) {
      for (let at = 0; at < hashes.length; at += MAX_BODIES) {
        const message = { kind: 'getbodies', hashes: hashes.slice(at, at + MAX_BODIES) } as const;
        this.#emit({ kind: 'send', to: peer, message });
      }
    }
  }

  /** Answers with the blocks we hold of those asked for (none is secret: they were broadcast). */
  #onGetBodies(from: number, hashes: readonly Uint8Array[]): void {
    const held = hashes.flatMap((hash) => this.#bodies.get(hex(hash)) ?? []);
    const blocks = this.#withinAnswerBudget(from, held, (block) => Math.max(1, block.txs.length));
    if (blocks.length > 0) this.#emit({ kind: 'send', to: from, message: { kind: 'bodies', blocks } });
  }

  /**
   * What of `items` (in order) fits the peer's answer budget this STATUS period, which it then uses.
   * The budget is twice what the pipeline lets an honest replica ask for in a period (each proposal
   * of the window asked for on arrival and once more at the period's end): a faulty validator that
   * asks again and again cannot make this replica send without bound. What does not fit is left out;
   * an honest asker asks again for what it still misses.
   */
  #withinAnswerBudget<T>(from: number, items: readonly T[], size: (item: T) => number): T[] {
    if (this.#config.unsafe?.skipAnswerBudget) return [...items];
    const budget = 2 * this.#config.params.window * this.#config.params.maxBlockTxs;
    let used = this.#answered.get(from) ?? 0;
    const fits: T[] = [];
    for (const item of items) {
      if (used + size(item) > budget) break;
      used += size(item);
      fits.push(item);
    }
    this.#answered.set(from, used);
    return fits;
  }

  /** Takes up each re-proposal a received block completes; anything else is dropped. */
  #onBodies(blocks: readonly Block[]): void {
    for (const block of blocks) {
      if (this.#status !== 'normal') return;
      const pp = this.#bodies.complete(block);
      if (pp && pp.view === this.#view && pp.height > this.#executed.height)
        this.#acceptPrePrepare(pp, { reproposal: true });
    }
  }

  // ---- proposals by hash ----------------------------------------------------------------------------

  /**
   * A new proposal by hash, from its proposer (only it sends one): assembled from the mempool, with
   * what is missing asked for; whole, it is handled as a PRE-PREPARE. Proposals that would be ignored
   * whole are not assembled.
   */
  #onProposalByHash(from: number, proposal: ProposalByHash): void {
    const { view, height } = proposal;
    if (proposal.from !== from || from !== this.#primary(view)) return;
    if (view < this.#view || view > this.#view + 2 || !this.#inWindow(height)) return;
    // Nothing to assemble or ask for in a block no replica would accept (its primary, making no
    // progress, is replaced).
    const count = proposal.txHashes.length;
    if (count === 0 || count > this.#config.params.maxBlockTxs) return;
    const slot = this.#slots.get(height);
    if (slot?.prePrepare && bytesEqual(slot.prePrepare.signature, proposal.signature)) return; // a duplicate
    this.#assembly.prune(this.#view, this.#executed.height);
    const started = this.#assembly.start(proposal, (id) => this.#mempool.tx(id));
    if (!started) return;
    const missing = 'request' in started ? started.request.indexes.length : 0;
    this.#proposalTxs.held += count - missing;
    this.#proposalTxs.missing += missing;
    if ('complete' in started) this.#onPrePrepare(started.complete);
    else this.#askForTxs(started.request);
  }

  #askForTxs({ to, blockHash, indexes }: { to: number; blockHash: Uint8Array; indexes: number[] }): void {
    this.#emit({ kind: 'send', to, message: { kind: 'gettxs', blockHash, indexes } });
  }

  /** Asks again for what proposals sent by hash still miss (an answer may have been lost). */
  #askForProposalTxs(): void {
    this.#assembly.prune(this.#view, this.#executed.height);
    for (const request of this.#assembly.requests()) this.#askForTxs(request);
  }

  /** Answers with the transactions asked for of a block we hold (they were broadcast: none is secret). */
  #onGetTxs(from: number, hash: Uint8Array, indexes: readonly number[]): void {
    const block = this.#bodies.get(hex(hash));
    if (!block) return;
    const held = indexes.flatMap((index) => block.txs[index] ?? []);
    const txs = this.#withinAnswerBudget(from, held, () => 1);
    if (txs.length > 0)
      this.#emit({ kind: 'send', to: from, message: { kind: 'blocktxs', blockHash: hash, txs } });
  }

  /**
   * Fills proposals by hash with `txs` (admitted here, or an answer to GET-TXS for block `blockHash`)
   * and handles each PRE-PREPARE this completes.
   */
  #completeProposals(txs: readonly Transaction[], blockHash?: string): void {
    if (this.#assembly.waiting === 0) return;
    for (const tx of txs) {
      for (const pp of this.#assembly.offer(tx, hex(txHash(tx)), blockHash)) this.#onPrePrepare(pp);
    }
  }

  // ---- view change --------------------------------------------------------------------------------

  /** Moves to `newView` (only ever up) and waits there for its NEW-VIEW. */
  #startViewChange(newView: number, reason: string): void {
    if (newView <= this.#view) return;
    this.#lastViewChangeReason = reason;
    this.#view = newView;
    this.#status = 'view-change';
    this.#viewChangesStarted++;
    this.#viewChangeAttempts++;
    this.#building = null;
    this.#requestTimerArmed = false;
    this.#emit({ kind: 'cancelTimer', timer: 'request' });
    this.#emit({ kind: 'cancelTimer', timer: 'batch' });
    this.#batchTimerArmed = false;
    this.#resetSlotsForView();
    this.#commitFloor = Math.max(this.#commitFloor, newView);
    this.#persist(
      { kind: 'floor', view: this.#commitFloor },
      { kind: 'view', view: newView, changing: true },
    );
    this.#statusPeriodsChanging = 0;
    if (this.#viewChangeTimerArmed) this.#emit({ kind: 'cancelTimer', timer: 'viewchange' });
    this.#viewChangeTimerArmed = false;
    this.#sendViewChange();
  }

  /** Signs and broadcasts our VIEW-CHANGE for the view we are changing to. */
  #sendViewChange(): void {
    const prepared = [...this.#prepared.values()]
      .filter((c) => c.prePrepare.height > this.#stable.height)
      .sort((a, b) => a.prePrepare.height - b.prePrepare.height)
      .map((c) => ({ prePrepare: proposalOf(c.prePrepare), prepares: c.prepares }));
    const vc = signMessage(
      this.#config.chainId,
      'viewchange',
      { from: this.#config.self, newView: this.#view, checkpoint: this.#stable, prepared },
      this.#config.secretKey,
    );
    this.#broadcast({ kind: 'viewchange', ...vc });
    this.#ownViewChange = vc;
    this.#storeViewChange(vc);
    this.#maybeSendNewView();
  }

  /**
   * PBFT times a view change only once a quorum asked for it: then a NEW-VIEW is due, and a primary
   * that does not send one is replaced in turn. A replica alone in its view change waits (and may
   * rejoin the group) instead of climbing views on its own.
   */
  #maybeArmViewChangeTimer(): void {
    if (this.#status !== 'view-change' || this.#viewChangeTimerArmed) return;
    if ((this.#viewChanges.get(this.#view)?.size ?? 0) < this.#quorum) return;
    this.#viewChangeTimerArmed = true;
    const base = this.#config.params.viewChangeTimeout_ms;
    this.#setTimer('viewchange', base * Math.min(8, 2 ** Math.max(0, this.#viewChangeAttempts - 1)));
  }

  /** Forgets the current view's proposals and votes, keeping prepared certificates and commits. */
  #resetSlotsForView(): void {
    this.#inFlight.clear();
    this.#awaitingParent.clear();
    this.#bodies.forgetWanted();
    for (const slot of this.#slots.values()) {
      slot.prePrepare = null;
      slot.valid = false;
      slot.sentPrepare = false;
      slot.sentCommit = false;
      if (!slot.committed) {
        slot.block = null;
        slot.hash = null;
      }
      for (const view of slot.prepares.keys()) if (view < this.#view) slot.prepares.delete(view);
      for (const view of slot.commits.keys())
        if (view < this.#view && !slot.committed) slot.commits.delete(view);
    }
  }

  #storeViewChange(vc: ViewChange): void {
    const byView = getOrCreate(this.#viewChanges, vc.newView);
    if (!byView.has(vc.from)) byView.set(vc.from, vc);
    this.#maybeArmViewChangeTimer();
  }

  /** The sender asks for a view we are past or already work in: it is behind us. */
  #senderBehind(vc: ViewChange): boolean {
    return vc.newView < this.#view || this.#settledIn(vc.newView);
  }

  /** Too far ahead to be worth holding, a duplicate, or invalid. */
  #ignoreViewChange(vc: ViewChange): boolean {
    return (
      vc.newView > this.#view + 4 * this.#n ||
      this.#viewChanges.get(vc.newView)?.has(vc.from) === true ||
      Boolean(checkViewChange(vc, this.#ctx))
    );
  }

  #onViewChange(from: number, vc: ViewChange): void {
    if (this.#senderBehind(vc)) {
      // Hand it the NEW-VIEW of our view, if we work in one.
      if (this.#newViewMessage && this.#status === 'normal') {
        this.#emit({ kind: 'send', to: from, message: { kind: 'newview', ...this.#newViewMessage } });
      }
      return;
    }
    if (this.#ignoreViewChange(vc)) return;
    assert(vc.newView >= this.#view, 'a view change held is for our view or a later one');
    this.#storeViewChange(vc);
    // Its checkpoint is proven (checked above): ours may be older, as CHECKPOINT votes can be lost.
    this.#considerStable(vc.checkpoint);

    // f+1 replicas want a later view: at least one honest one does; join the smallest such view.
    const wanted = new Map<number, number>();
    for (const [view, byView] of this.#viewChanges) {
      if (view <= this.#view) continue;
      for (const sender of byView.keys()) wanted.set(sender, Math.min(wanted.get(sender) ?? view, view));
    }
    if (wanted.size >= this.#f + 1) {
      const views = [...wanted.values()].sort((a, b) => a - b);
      this.#startViewChange(views[0]!, 'f + 1 validators moved to a later view');
    }
    this.#maybeSendNewView();
  }

  #maybeSendNewView(): void {
    const view = this.#view;
    if (this.#status !== 'view-change' || this.#primary(view) !== this.#config.self) return;
    const byView = this.#viewChanges.get(view);
    if (!byView || byView.size < this.#quorum) return;
    const viewChanges = [...byView.values()].sort((a, b) => a.from - b.from).slice(0, this.#quorum);
    const { headers } = chooseReproposals(viewChanges);
    const prePrepares: SignedProposal[] = [];
    for (const header of headers) {
      const height = header.height;
      if (!this.#maySign('preprepare', view, height, hex(blockHash(header)))) return;
      prePrepares.push(
        signProposal(
          this.#config.chainId,
          { from: this.#config.self, view, height, header },
          this.#config.secretKey,
        ),
      );
    }
    const newView = signMessage(
      this.#config.chainId,
      'newview',
      { from: this.#config.self, view, viewChanges, prePrepares },
      this.#config.secretKey,
    );
    this.#broadcast({ kind: 'newview', ...newView });
    this.#enterView(newView);
  }

  /** A NEW-VIEW of a view we are past or already work in, not by its primary, or not valid. */
  #ignoreNewView(nv: NewView): boolean {
    return (
      nv.view < this.#view ||
      this.#settledIn(nv.view) ||
      nv.from !== this.#primary(nv.view) ||
      !verifyMessage(this.#config.chainId, 'newview', nv, this.#config.validators) ||
      !this.#checkNewView(nv)
    );
  }

  #onNewView(nv: NewView): void {
    if (this.#ignoreNewView(nv)) return;
    this.#enterView(nv);
  }

  /** A NEW-VIEW holds a quorum of valid VIEW-CHANGEs for its view and exactly the re-proposals they imply. */
  #checkNewView(nv: NewView): boolean {
    const senders = new Set<number>();
    for (const vc of nv.viewChanges) {
      if (vc.newView !== nv.view || senders.has(vc.from) || checkViewChange(vc, this.#ctx)) return false;
      senders.add(vc.from);
    }
    if (senders.size < this.#quorum) return false;
    for (const pp of nv.prePrepares) {
      if (pp.view !== nv.view || pp.from !== nv.from) return false;
      if (!verifyProposal(this.#config.chainId, pp, this.#config.validators)) return false;
    }
    if (this.#config.unsafe?.skipNewViewCheck) return true;
    const { headers } = chooseReproposals(nv.viewChanges);
    if (headers.length !== nv.prePrepares.length) return false;
    return headers.every((header, i) => {
      const pp = nv.prePrepares[i]!;
      return pp.height === header.height && bytesEqual(blockHash(pp.header), blockHash(header));
    });
  }

  /** The primary is judged afresh in a view we begin to work in (entered, or rejoined). */
  #beginWorkInView(): void {
    this.#viewStartPeriod = this.#requestPeriod;
    this.#intakeLag.reset();
    const hasThem = this.#mempool.size === 0 || this.#isPrimary();
    this.#primaryHadTxsSince = hasThem ? this.#statusPeriod : Number.POSITIVE_INFINITY;
  }

  /**
   * From now on the primary has had every transaction waiting here: they were just sent to it again,
   * or none waits, so any that comes later is shared with it on admission.
   */
  #primaryHasTxs(): void {
    this.#primaryHadTxsSince = Math.min(this.#primaryHadTxsSince, this.#statusPeriod);
  }

  /** Starts working in the NEW-VIEW's view: a later view, or the one we are changing to. */
  #enterView(nv: NewView): void {
    assert(
      nv.view > this.#view || (nv.view === this.#view && this.#status === 'view-change'),
      'a NEW-VIEW is entered only for a later view or the one we await',
    );
    this.#view = nv.view;
    this.#resetSlotsForView();
    this.#status = 'normal';
    this.#beginWorkInView();
    this.#viewChangeTimerArmed = false;
    this.#ownViewChange = null;
    this.#newViewMessage = nv;
    this.#persist({ kind: 'view', view: nv.view, changing: false });
    this.#emit({ kind: 'cancelTimer', timer: 'viewchange' });
    for (const view of this.#viewChanges.keys()) if (view <= nv.view) this.#viewChanges.delete(view);

    this.#considerStable(chooseReproposals(nv.viewChanges).checkpoint);
    let highest = this.#executed.height;
    for (const proposal of nv.prePrepares) {
      highest = Math.max(highest, proposal.height);
      if (proposal.height <= this.#executed.height) continue;
      const body = this.#bodies.get(hex(blockHash(proposal.header)));
      if (body) this.#acceptPrePrepare(withBody(proposal, body), { reproposal: true });
      else this.#bodies.want(proposal, holdersOf(proposal, nv, this.#config.self));
    }
    // f+1 holders include an honest one that has the block; all are asked at the next STATUS period.
    this.#askForBodies(this.#f + 1);
    this.#nextProposal = Math.max(highest + 1, this.#executed.height + 1, this.#highestSignedProposal() + 1);

    const future = this.#futurePrePrepares;
    this.#futurePrePrepares = [];
    for (const pp of future) if (pp.view >= this.#view) this.#onPrePrepare(pp, true);
    this.#armRequestTimer();
    this.#maybePropose();
  }
}

/**
 * Whether a new proposal's timestamp is within maxClockSkew_ms of the replica's clock. A block's time
 * drives grant expiry and emergency windows, so a faulty primary must not freeze it (old timestamps)
 * or stretch it (future ones); honest clocks and delivery delays stay well inside the bound.
 */
export function timely(timestamp_ms: number, config: Pick<ReplicaConfig, 'clock' | 'params'>): boolean {
  if (!config.clock) return true;
  return Math.abs(timestamp_ms - config.clock()) <= config.params.maxClockSkew_ms;
}

/** Who can send a re-proposal's transactions: the VIEW-CHANGE senders that prepared it, then the primary. */
function holdersOf(proposal: SignedProposal, nv: NewView, self: number): number[] {
  const hash = blockHash(proposal.header);
  const holders = nv.viewChanges
    .filter((vc) => vc.prepared.some((c) => bytesEqual(blockHash(c.prePrepare.header), hash)))
    .map((vc) => vc.from);
  if (!holders.includes(nv.from)) holders.push(nv.from);
  return holders.filter((peer) => peer !== self);
}
