/**
 * The PBFT replica: a pure state machine. `step(event)` returns the actions to carry out; it reads no
 * clock, does no I/O, uses no randomness and never awaits. See types.ts for the driver contract and
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
 */

import { assert } from '../errors.ts';
import { hex } from '../hex.ts';
import type { Block, CommitCertificate, Transaction } from '../ledger/index.ts';
import {
  BLOCK_VERSION,
  blockHash,
  checkCertificate,
  merkleRoot,
  quorumSize,
  txHash,
} from '../ledger/index.ts';
import { Mempool } from './mempool.ts';
import {
  type Checkpoint,
  type CheckpointProof,
  type Commit,
  type ConsensusMessage,
  type NewView,
  type PrePrepare,
  type Prepare,
  type PreparedCert,
  signCommitMessage,
  signMessage,
  type ViewChange,
  verifyCommitMessage,
  verifyMessage,
} from './messages.ts';
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

/** Request-timer periods a transaction may wait, while the primary proposes others, before it is replaced. */
const CENSORSHIP_PERIODS = 4;
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(b);

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
  #viewChangeAttempts = 0;
  #viewChangesStarted = 0;
  #lastViewChangeReason: string | null = null;
  /** The NEW-VIEW that started the current view, to hand to replicas still changing to it. */
  #newViewMessage: NewView | null = null;

  #executed: ExecutedHead;
  /** Block hashes of executed heights above the stable checkpoint. */
  #executedHashes = new Map<number, string>();
  #stable: CheckpointProof;

  #slots = new Map<number, Slot>();
  /** Highest-view prepared certificate per height above the stable checkpoint. */
  #prepared = new Map<number, PreparedCert>();
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
  #peerStatus = new Map<number, { view: number; height: number }>();

  #mempool: Mempool;
  /** Tx hash → height, for recently committed transactions. */
  #committedTxs = new Map<string, number>();
  /** Tx hashes in accepted, not yet executed proposals of this view. */
  #inFlight = new Set<string>();

  #nextProposal: number;
  /** The block the primary asked the executor to build, if any. */
  #building: { height: number; view: number } | null = null;
  #batchDue = false;
  #batchTimerArmed = false;
  #requestTimerArmed = false;
  /** Request-timer expiries so far: the core's measure of how long transactions have waited. */
  #requestPeriod = 0;
  /** A proposal was accepted in this view since the request timer was armed: the primary is alive. */
  #proposedSinceTimer = false;
  #fetching = false;
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
    this.#quorum = quorumSize(this.#n);
    this.#commitQuorum = config.unsafe?.commitQuorum ?? this.#quorum;
    this.#ctx = {
      chainId: config.chainId,
      validators: config.validators,
      quorum: this.#quorum,
      genesis: config.genesis,
    };
    this.#validatorSet = new Set(config.validators.map(hex));
    this.#mempool = new Mempool(config.chainId, config.params.mempoolMaxTxs);
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
    return this.#mempool.batch(max, new Set());
  }

  get info(): ReplicaInfo {
    return {
      view: this.#view,
      changingView: this.#status === 'view-change',
      executedHeight: this.#executed.height,
      viewChangesStarted: this.#viewChangesStarted,
      lastViewChangeReason: this.#lastViewChangeReason,
      mempoolSize: this.#mempool.size,
    };
  }

  start(): ConsensusAction[] {
    this.#setTimer('status', this.#config.params.statusInterval_ms);
    if (this.#status === 'view-change')
      this.#setTimer('viewchange', this.#config.params.viewChangeTimeout_ms);
    return this.#flush();
  }

  step(event: ConsensusEvent): ConsensusAction[] {
    this.#assertInvariants();
    const viewBefore = this.#view;
    switch (event.kind) {
      case 'tx':
        this.#onClientTxs([event.tx], true, event.signatureChecked === true);
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
        this.#onExecuted(event.height, hex(event.blockHash), event.ok, event.stateRoot);
        break;
      case 'fetched':
        this.#onFetched(event.blocks);
        break;
      default:
        assertNever(event);
    }
    assert(this.#view >= viewBefore, 'the view never decreases');
    this.#assertInvariants();
    return this.#flush();
  }

  /** What holds between any two steps. */
  #assertInvariants(): void {
    const { height: executed } = this.#executed;
    assert(this.#stable.height <= executed, 'the stable checkpoint is executed');
    assert(this.#nextProposal > executed, 'the next proposal is above the executed chain');
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

  #persist(...records: DurableRecord[]): void {
    this.#emit({ kind: 'persist', records });
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
      case 'view':
        if (record.view >= this.#view) {
          this.#view = record.view;
          this.#status = record.changing ? 'view-change' : 'normal';
        }
        break;
      case 'signed':
        this.#signed.set(`${record.phase}/${record.view}/${record.height}`, hex(record.blockHash));
        break;
      case 'prepared': {
        const height = record.cert.prePrepare.height;
        const current = this.#prepared.get(height);
        if (!current || current.prePrepare.view <= record.cert.prePrepare.view)
          this.#prepared.set(height, record.cert);
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

  #onClientTxs(txs: Transaction[], fromClient: boolean, signatureChecked = false): void {
    const admitted: Transaction[] = [];
    for (const tx of txs) {
      const result = this.#mempool.admit(tx, this.#isCommittedTx, this.#requestPeriod, signatureChecked);
      if (result === 'admitted') admitted.push(tx);
    }
    if (admitted.length === 0) return;
    // Share client transactions with every replica, so that all of them watch for their commit.
    if (fromClient) this.#broadcast({ kind: 'txs', txs: admitted });
    this.#armRequestTimer();
    this.#maybePropose();
  }

  #armRequestTimer(): void {
    if (this.#requestTimerArmed || this.#status !== 'normal' || this.#mempool.size === 0) return;
    this.#requestTimerArmed = true;
    // Only proposals made while this timer runs show that the primary is alive.
    this.#proposedSinceTimer = false;
    this.#setTimer('request', this.#config.params.requestTimeout_ms);
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
    this.#building = { height, view: this.#view };
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
    if (!this.#isPrimary() || height !== this.#nextProposal || !this.#settledIn(view)) return;
    const parent = this.#blockAt(height - 1);
    if (!parent || !same(parent.hash, block.header.prevHash)) return;
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

  /** Messages count only from the other validators; each kind is then handled in either status. */
  #ignoreMessage(from: number): boolean {
    return from < 0 || from >= this.#n || from === this.#config.self;
  }

  #onMessage(from: number, message: ConsensusMessage): void {
    if (this.#ignoreMessage(from)) return;
    switch (message.kind) {
      case 'txs':
        this.#onClientTxs(message.txs, false);
        return;
      case 'status':
        this.#onStatus(from, message.view, message.height);
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

  #onPrePrepare(pp: PrePrepare): void {
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
      if (same(slot.prePrepare.signature, pp.signature)) return; // a duplicate
      if (
        hex(blockHash(pp.block.header)) !== slot.hash &&
        verifyMessage(this.#config.chainId, 'preprepare', pp, this.#config.validators)
      ) {
        this.#startViewChange(this.#view + 1, 'the primary equivocated');
      }
      return;
    }
    if (!verifyMessage(this.#config.chainId, 'preprepare', pp, this.#config.validators)) return;
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
      if (!how.reproposal) this.#startViewChange(this.#view + 1, `invalid proposal: ${problem}`);
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
    if (pp.view === this.#view) this.#proposedSinceTimer = true;
    for (const tx of block.txs) this.#inFlight.add(hex(txHash(tx)));
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
    if (!same(header.proposer, this.#config.validators[this.#primary(header.view)]!)) return 'proposer';
    if (!same(header.prevHash, parent.hash)) return 'does not extend the chain';
    if (header.timestamp < parent.timestamp) return 'timestamp goes backwards';
    if (txs.length > this.#config.params.maxBlockTxs || txs.length === 0) return 'batch size';
    const ids = txs.map(txHash);
    if (!same(header.txRoot, merkleRoot(ids))) return 'txRoot';
    const seen = new Set<string>();
    for (let i = 0; i < txs.length; i++) {
      const id = hex(ids[i]!);
      if (seen.has(id)) return 'duplicate tx';
      seen.add(id);
      if (txs[i]!.chainId !== this.#config.chainId || !this.#mempool.verify(txs[i]!, id))
        return 'tx signature';
      if (!reproposal && (this.#inFlight.has(id) || this.#isCommittedTx(id)))
        return 'tx already committed or in flight';
    }
    return null;
  }

  #onExecuted(height: number, hash: string, ok: boolean, stateRoot: Uint8Array): void {
    const slot = this.#slots.get(height);
    if (!slot || slot.hash !== hash || !slot.block) return;
    const valid = ok && same(stateRoot, slot.block.header.stateRoot);
    this.#executions.set(hash, valid);
    if (!valid) {
      if (slot.prePrepare && this.#settledIn(slot.prePrepare.view))
        this.#startViewChange(this.#view + 1, 'the proposed block does not execute to its state root');
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
    const matching = [...(slot.prepares.get(this.#view)?.values() ?? [])].filter(
      (p) => hex(p.blockHash) === slot.hash,
    );
    if (matching.length < this.#quorum - 1) return;
    if (!this.#parentPreparedOrCommitted(slot)) return;
    if (!this.#maySign('commit', this.#view, slot.height, slot.hash!)) return;
    matching.sort((a, b) => a.from - b.from);
    const cert: PreparedCert = { prePrepare: slot.prePrepare, prepares: matching.slice(0, this.#quorum - 1) };
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
      progressed = true;
    }
    if (progressed) this.#afterProgress();
  }

  #applyCommitted(block: Block, certificate: CommitCertificate): void {
    const { header } = block;
    assert(header.height === this.#executed.height + 1, 'commits are applied in height order');
    assert(same(header.prevHash, this.#executed.hash), 'a committed block extends the executed chain');
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
    this.#mempool.remove(ids);
    this.#slots.delete(header.height);
    this.#awaitingParent.delete(header.height);
    if (this.#nextProposal <= header.height) this.#nextProposal = header.height + 1;
    if (header.height % this.#config.params.checkpointInterval === 0) this.#signCheckpoint();
  }

  #afterProgress(): void {
    // Progress resets the request timer: it measures time without any commit.
    this.#requestTimerArmed = false;
    if (this.#mempool.size > 0) this.#armRequestTimer();
    else this.#emit({ kind: 'cancelTimer', timer: 'request' });
    const waiting = this.#awaitingParent.get(this.#executed.height + 1);
    if (waiting) {
      this.#awaitingParent.delete(this.#executed.height + 1);
      if (waiting.pp.view === this.#view)
        this.#acceptPrePrepare(waiting.pp, { reproposal: waiting.reproposal });
    }
    for (const slot of this.#slots.values()) this.#checkPrepared(slot);
    this.#maybePropose();
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
        (c) => same(c.blockHash, candidate.blockHash) && same(c.stateRoot, candidate.stateRoot),
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
    const fromHeight = this.#executed.height + 1;
    const to = Math.min(toHeight, fromHeight + this.#config.params.fetchMaxBlocks - 1);
    this.#emit({ kind: 'fetch', fromHeight, toHeight: to, peers: candidates });
  }

  #onFetched(blocks: Array<{ block: Block; certificate: CommitCertificate }>): void {
    this.#fetching = false;
    let progressed = false;
    for (const { block, certificate } of blocks) {
      const { header } = block;
      if (header.height !== this.#executed.height + 1) continue;
      if (!same(header.prevHash, this.#executed.hash) || header.chainId !== this.#config.chainId) break;
      if (!same(header.txRoot, merkleRoot(block.txs.map(txHash)))) break;
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

  #onStatus(from: number, view: number, height: number): void {
    this.#peerStatus.set(from, { view, height });
    // A replica still changing to (or behind) our view gets the NEW-VIEW that started it.
    if (view < this.#view && this.#status === 'normal' && this.#newViewMessage) {
      this.#emit({ kind: 'send', to: from, message: { kind: 'newview', ...this.#newViewMessage } });
    }
    // While we progress, peers a few heights ahead are just the pipeline; fetch only a real gap.
    this.#catchUpIfBehind(this.#config.params.window);
  }

  /**
   * f+1 peers report executed heights more than `slack` above ours: at least one honest replica is
   * that far ahead; fetch the blocks from them.
   */
  #catchUpIfBehind(slack = 0): boolean {
    const ahead = [...this.#peerStatus].filter(([, s]) => s.height > this.#executed.height + slack);
    if (ahead.length < this.#f + 1) return false;
    const heights = ahead.map(([, s]) => s.height).sort((a, b) => b - a);
    this.#fetch(
      heights[this.#f]!,
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
      case 'status':
        this.#fetching = false; // an unanswered fetch may be retried once per status period
        this.#broadcast({
          kind: 'status',
          // While changing, the view we last worked in is (at least) the one before.
          view: this.#status === 'view-change' ? Math.max(0, this.#view - 1) : this.#view,
          height: this.#executed.height,
          blockHash: this.#executed.hash,
        });
        this.#setTimer('status', this.#config.params.statusInterval_ms);
        // No progress for a whole period: any lead of f+1 peers is worth fetching.
        this.#catchUpIfBehind(
          this.#executed.height > this.#executedAtLastStatus ? this.#config.params.window : 0,
        );
        this.#executedAtLastStatus = this.#executed.height;
        return;
      case 'batch':
        this.#batchTimerArmed = false;
        this.#batchDue = true;
        this.#maybePropose();
        return;
      case 'request': {
        this.#requestTimerArmed = false;
        this.#requestPeriod++;
        const primaryAlive = this.#proposedSinceTimer;
        if (this.#ignoreTimer('request') || this.#mempool.size === 0) return;
        // Behind rather than stuck: catch up instead of blaming the primary.
        if (this.#catchUpIfBehind()) {
          this.#armRequestTimer();
          return;
        }
        // A primary that keeps proposing is slow, not dead (overload must not cause view changes),
        // unless some transaction has waited CENSORSHIP_PERIODS timeouts: then it is censoring.
        const waited = this.#requestPeriod - this.#mempool.oldestPeriod();
        if (primaryAlive && waited < CENSORSHIP_PERIODS) {
          this.#armRequestTimer();
          return;
        }
        this.#startViewChange(
          this.#view + 1,
          primaryAlive
            ? `a transaction waited ${waited} request timeouts (censorship)`
            : 'no proposal from the primary within a request timeout',
        );
        return;
      }
      case 'viewchange':
        if (this.#ignoreTimer('viewchange')) return;
        this.#startViewChange(this.#view + 1, 'the view change timed out');
        return;
      default:
        assertNever(timer);
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
    const prepared = [...this.#prepared.values()]
      .filter((c) => c.prePrepare.height > this.#stable.height)
      .sort((a, b) => a.prePrepare.height - b.prePrepare.height);
    const vc = signMessage(
      this.#config.chainId,
      'viewchange',
      { from: this.#config.self, newView, checkpoint: this.#stable, prepared },
      this.#config.secretKey,
    );
    this.#persist({ kind: 'view', view: newView, changing: true });
    this.#broadcast({ kind: 'viewchange', ...vc });
    this.#storeViewChange(vc);
    const base = this.#config.params.viewChangeTimeout_ms;
    this.#setTimer('viewchange', base * Math.min(8, 2 ** (this.#viewChangeAttempts - 1)));
    this.#maybeSendNewView();
  }

  /** Forgets the current view's proposals and votes, keeping prepared certificates and commits. */
  #resetSlotsForView(): void {
    this.#inFlight.clear();
    this.#awaitingParent.clear();
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
    if (vc.checkpoint.height > this.#executed.height) this.#fetch(vc.checkpoint.height, [vc.from]);

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
    const { blocks } = chooseReproposals(viewChanges);
    const prePrepares: PrePrepare[] = [];
    for (const block of blocks) {
      const height = block.header.height;
      if (!this.#maySign('preprepare', view, height, hex(blockHash(block.header)))) return;
      prePrepares.push(
        signMessage(
          this.#config.chainId,
          'preprepare',
          { from: this.#config.self, view, height, block },
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
      if (!verifyMessage(this.#config.chainId, 'preprepare', pp, this.#config.validators)) return false;
    }
    if (this.#config.unsafe?.skipNewViewCheck) return true;
    const { blocks } = chooseReproposals(nv.viewChanges);
    if (blocks.length !== nv.prePrepares.length) return false;
    return blocks.every((block, i) => {
      const pp = nv.prePrepares[i]!;
      return pp.height === block.header.height && same(blockHash(pp.block.header), blockHash(block.header));
    });
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
    this.#viewChangeAttempts = 0;
    this.#newViewMessage = nv;
    this.#persist({ kind: 'view', view: nv.view, changing: false });
    this.#emit({ kind: 'cancelTimer', timer: 'viewchange' });
    for (const view of this.#viewChanges.keys()) if (view <= nv.view) this.#viewChanges.delete(view);

    const { checkpoint } = chooseReproposals(nv.viewChanges);
    if (checkpoint.height > this.#executed.height)
      this.#fetch(
        checkpoint.height,
        checkpoint.votes.map((v) => v.from),
      );
    let highest = this.#executed.height;
    for (const pp of nv.prePrepares) {
      highest = Math.max(highest, pp.height);
      if (pp.height <= this.#executed.height) continue;
      this.#acceptPrePrepare(pp, { reproposal: true });
    }
    this.#nextProposal = Math.max(highest + 1, this.#executed.height + 1, this.#highestSignedProposal() + 1);

    const future = this.#futurePrePrepares;
    this.#futurePrePrepares = [];
    for (const pp of future) if (pp.view >= this.#view) this.#onPrePrepare(pp);
    this.#armRequestTimer();
    this.#maybePropose();
  }
}
