/**
 * A validator node: the pure PBFT replica driven by real timers, a libp2p network, LevelDB and the
 * rule engine.
 *
 * Every input (client transactions, peer messages, timer expiries, execution results, fetched blocks)
 * goes through one ordered queue; each event's actions are carried out in order before the next
 * event is stepped. A `persist` is awaited (a synced LevelDB batch) before any later send leaves, so a
 * vote is on disk before a peer can see it. A `commit` is awaited too: the block, its receipts, state
 * writes and indexes are one atomic batch in the chain store.
 */
import { join } from 'node:path';
import { hex } from '../bytes.ts';
import { decode, encode } from '../codec/index.ts';
import {
  type ConsensusAction,
  type ConsensusEvent,
  ConsensusMessage,
  type ConsensusParams,
  DEFAULT_CONSENSUS_PARAMS,
  MAX_FORWARDED_TXS,
  type Replica,
  type TimerId,
  wireForm,
} from '../consensus/index.ts';
import { signingPublicKeyFrom } from '../crypto/index.ts';
import type { ConsensusLog } from '../driver/consensus-log.ts';
import type { NodeExecutor } from '../driver/executor.ts';
import { type BuildRequest, type DriverPorts, type FetchRequest, ReplicaDriver } from '../driver/index.ts';
import { openReplica } from '../driver/open.ts';
import { describeLinkFaults, type LinkFaults } from '../faults/link-faults.ts';
import {
  type Block,
  type ChainStore,
  type CommitCertificate,
  type Genesis,
  openChainDb,
  quorumSize,
  type Receipt,
  type Transaction,
  txHash,
} from '../ledger/index.ts';
import { type Logger, SILENT_LOGGER } from '../logger.ts';
import { P2PHost, type PeerEntry, type ProtocolSpec } from '../p2p/host.ts';
import { ActivityReport, SUMMARY_INTERVAL_MS } from './activity.ts';
import { fetchBlocks, serveBlockSync } from './block-sync.ts';
import { EventQueue } from './event-queue.ts';
import { type ConsensusLink, composeLink, FaultyLink, faultSeedFromEnv } from './faulty-link.ts';
import { NodeMetrics } from './metrics.ts';
import { TxSignatureChecks } from './tx-signature-checks.ts';

/** Client submissions are refused (API_BUSY) while this many transaction events wait. */
const MAX_QUEUED_EVENTS = 20_000;
/** How often the node checks whether consensus is stalled (and then logs what it waits on). */
const STALL_CHECK_MS = 5000;
/** Longest run of transaction admissions before the event loop gets a turn. */
const YIELD_EVERY_MS = 5;
/** Signature checks remembered (joined rather than redone) at most. */
const REMEMBERED_SIGNATURE_CHECKS = 100_000;

export const CONSENSUS_PROTOCOL: ProtocolSpec = {
  id: '/medledger/consensus/1.0.0',
  maxFrameBytes: 48 * 1024 * 1024,
};

/** Transport faults for experiments (the link-fault model); all off by default. */
export type TransportFaults = LinkFaults;

export interface ValidatorOptions {
  /** Directory for the chain and consensus databases. */
  dataDir: string;
  genesis: Genesis;
  /** This validator's Ed25519 secret key (32-byte seed). */
  secretKey: Uint8Array;
  listen: string[];
  /** Where to dial each other validator (by public key); observers may be listed too. */
  peers: PeerEntry[];
  params?: Partial<ConsensusParams>;
  faults?: TransportFaults;
  /** Threads that verify transaction signatures off the event loop (0, the default: on it). */
  signatureThreads?: number;
  /** Called once when the node cannot safely continue (for example its state diverged). */
  onFatal?: (error: Error) => void;
  /** Structured log (pino-compatible); silent by default. */
  log?: NodeLogger;
}

/** The node's log (pino in the daemon). */
export type NodeLogger = Logger;

/** The most pending transactions shared with a peer when it connects (its mempool's share of ours). */
const MAX_REGOSSIP_TXS = 4096;

export interface NodeStatus {
  height: number;
  hash: string;
  stateRoot: string;
  view: number;
  changingView: boolean;
  viewChanges: number;
  peers: number;
}

type CommitListener = (height: number, txs: Transaction[], receipts: Receipt[]) => void;

/**
 * The consensus parameters: defaults, then local settings, then the network's own from the genesis
 * (checkpoint interval and block size limit: every validator must use the same; a local batch size
 * above the limit is lowered to it); the log covers the pipeline and two checkpoint intervals unless set.
 */
export function consensusParams(genesis: Genesis, local: Partial<ConsensusParams> = {}): ConsensusParams {
  const merged = {
    ...DEFAULT_CONSENSUS_PARAMS,
    ...local,
    checkpointInterval: genesis.params.checkpointInterval,
    maxBlockTxs: genesis.params.maxBlockTxs,
  };
  // A block over the network's limit would be refused by every chain store: never propose one.
  merged.batchMaxTxs = Math.min(merged.batchMaxTxs, merged.maxBlockTxs);
  if (local.logSize === undefined) merged.logSize = merged.window + 2 * merged.checkpointInterval;
  return merged;
}

export class ValidatorNode {
  readonly store: ChainStore;
  readonly host: P2PHost;
  readonly #log: ConsensusLog;
  readonly #replica: Replica;
  readonly #executor: NodeExecutor;
  readonly #driver: ReplicaDriver;
  readonly #validators: Uint8Array[];
  readonly #self: number;
  readonly #indexOfKey: Map<string, number>;
  readonly #timers = new Map<TimerId, NodeJS.Timeout>();
  readonly #queue = new EventQueue();
  readonly #signatureChecks: TxSignatureChecks;
  readonly #commitListeners = new Set<CommitListener>();
  readonly #onFatal: (error: Error) => void;
  /** The consensus link without faults, and the one in use (it, or a fault-injecting wrapper). */
  readonly #direct: ConsensusLink;
  #link: ConsensusLink;
  /** MEDLEDGER_FAULTS_SEED, read at start. */
  readonly #envFaultSeed: number | undefined;
  #pumping = false;
  #stopped = false;
  #outgoingTxs: Transaction[] = [];
  readonly metrics: NodeMetrics;
  readonly #logger: NodeLogger;
  #maxMempoolTxs = Number.POSITIVE_INFINITY;
  /** The view last logged, negative (-view - 1) while changing to it. */
  #lastView = 0;
  #abandonedBuilds = 0;
  /**
   * Submitted transactions queued for admission, by hex hash: the node holds them already, so a
   * client's resubmission meanwhile is recognised (ValidatorNode.holds). Each is forgotten once the
   * replica has taken it (into its mempool, or refused it).
   */
  readonly #queuedSubmissions = new Set<string>();
  readonly #activity = new ActivityReport(Date.now());
  #summaryTimer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** The height at the last stall check. */
  #stallHeight = -1;

  private constructor(parts: {
    store: ChainStore;
    host: P2PHost;
    log: ConsensusLog;
    replica: Replica;
    executor: NodeExecutor;
    validators: Uint8Array[];
    self: number;
    envFaultSeed: number | undefined;
    onFatal: (error: Error) => void;
    logger: NodeLogger;
    signatureThreads: number;
  }) {
    this.#signatureChecks = new TxSignatureChecks({
      maxInFlight: parts.signatureThreads,
      maxRemembered: REMEMBERED_SIGNATURE_CHECKS,
    });
    this.store = parts.store;
    this.host = parts.host;
    this.#log = parts.log;
    this.#replica = parts.replica;
    this.#validators = parts.validators;
    this.#self = parts.self;
    this.#envFaultSeed = parts.envFaultSeed;
    this.#direct = {
      send: (to, payload) => {
        this.metrics.messageSent(payload.length);
        this.host.send(CONSENSUS_PROTOCOL, hex(this.#validators[to]!), payload);
      },
      receive: (from, payload) => this.#onConsensusFrame(from, payload),
      close: () => {},
    };
    this.#link = this.#direct;
    this.#onFatal = parts.onFatal;
    this.#indexOfKey = new Map(parts.validators.map((k, i) => [hex(k), i]));
    this.#executor = parts.executor;
    this.#driver = new ReplicaDriver(this.#driverPorts());
    this.#logger = parts.logger;
    this.#lastView = parts.replica.info.view;
    this.metrics = new NodeMetrics({
      height: () => this.store.head.height,
      view: () => this.#replica.info.view,
      viewChanges: () => this.#replica.info.viewChangesStarted,
      mempoolSize: () => this.#replica.info.mempoolSize,
      proposalTxs: () => this.#replica.info.proposalTxs,
      peers: () => this.host.connectedPeers().length,
      misbehaviour: () => this.host.metrics.disconnectedForMisbehaviour,
    });
  }

  static async start(options: ValidatorOptions): Promise<ValidatorNode> {
    const { genesis } = options;
    const validators = genesis.validators.map((v) => v.publicKey);
    const self = validators.findIndex((k) => hex(k) === hex(signingPublicKeyFrom(options.secretKey)));
    if (self < 0) throw new Error('this key is not one of the genesis validators');
    const envFaultSeed = faultSeedFromEnv(process.env);
    const chainDir = join(options.dataDir, 'chain');
    const params = consensusParams(genesis, options.params);
    const { store, log, replica, executor } = await openReplica(
      {
        chain: await openChainDb(chainDir),
        log: await openChainDb(join(options.dataDir, 'consensus')),
        where: chainDir,
      },
      {
        genesis,
        self,
        secretKey: options.secretKey,
        params,
        clock: () => Date.now(),
      },
    );
    const host = await P2PHost.start({
      secretKey: options.secretKey,
      listen: options.listen,
      peers: options.peers,
      log: options.log,
    });
    const node = new ValidatorNode({
      store,
      host,
      log,
      replica,
      executor,
      validators,
      self,
      envFaultSeed,
      onFatal: options.onFatal ?? (() => {}),
      logger: options.log ?? SILENT_LOGGER,
      signatureThreads: options.signatureThreads ?? 0,
    });
    node.#maxMempoolTxs = params.mempoolMaxTxs;
    node.setFaults(options.faults ?? {});
    await host.onMessage(CONSENSUS_PROTOCOL, (peer, payload) => node.#onPeerMessage(peer, payload));
    host.onPeerConnected((peer) => {
      node.#onConnection(peer, true);
      node.#shareMempoolWith(peer);
    });
    host.onPeerLost((peer) => node.#onConnection(peer, false));
    await serveBlockSync(host, store);
    node.#run(replica.start());
    node.#summaryTimer = setInterval(() => node.#logSummary(), SUMMARY_INTERVAL_MS);
    node.#summaryTimer.unref();
    node.#stallTimer = setInterval(() => node.#noticeStall(), STALL_CHECK_MS);
    node.#stallTimer.unref();
    return node;
  }

  /** Queues a client's transaction; `signatureChecked` when the caller verified its signature. */
  submit(tx: Transaction, options: { signatureChecked?: boolean } = {}): Uint8Array {
    const hash = txHash(tx);
    const id = hex(hash);
    this.#queuedSubmissions.add(id);
    this.#enqueue({
      kind: 'txs',
      txs: [tx],
      from: null,
      signatureChecked: options.signatureChecked === true,
    });
    this.metrics.submitted(id, Date.now());
    return hash;
  }

  /** Whether each transaction's signature verifies, checked off the event loop (see TxSignatureChecks). */
  checkSignatures(txs: readonly Transaction[]): Promise<boolean[]> {
    return this.#signatureChecks.check(txs);
  }

  /**
   * Whether this node holds the transaction already: submitted and queued for admission, pending in
   * its mempool, or committed.
   */
  holds(hash: Uint8Array): boolean {
    const id = hex(hash);
    return this.#queuedSubmissions.has(id) || this.#replica.holdsPending(id) || this.store.hasTxSync(hash);
  }

  onCommit(listener: CommitListener): () => void {
    this.#commitListeners.add(listener);
    return () => this.#commitListeners.delete(listener);
  }

  /**
   * Whether the node can take more client transactions now: its mempool is not full and its event
   * queue is not backed up (a flood of submissions must not grow memory without bound).
   */
  accepting(): { ok: true } | { ok: false; code: 'API_MEMPOOL_FULL' | 'API_BUSY'; message: string } {
    const { mempoolSize } = this.#replica.info;
    if (mempoolSize >= this.#maxMempoolTxs) {
      return {
        ok: false,
        code: 'API_MEMPOOL_FULL',
        message: `the mempool holds ${mempoolSize} transactions`,
      };
    }
    if (this.#queue.transactions + this.#signatureChecks.waiting >= MAX_QUEUED_EVENTS) {
      return { ok: false, code: 'API_BUSY', message: 'the node is behind on its work; retry shortly' };
    }
    return { ok: true };
  }

  /** This validator's index in the genesis validator set. */
  get validatorIndex(): number {
    return this.#self;
  }

  /** Resolves once the chain reaches `height`, or after `wait_ms` (whichever comes first). */
  waitForHeight(height: number, wait_ms: number): Promise<void> {
    if (this.store.head.height >= height) return Promise.resolve();
    return this.waitForCommit((committed) => committed >= height, wait_ms);
  }

  /** Resolves at the first commit `matches`, or after `wait_ms` (whichever comes first). */
  waitForCommit(matches: (height: number, txs: Transaction[]) => boolean, wait_ms: number): Promise<void> {
    if (wait_ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, wait_ms);
      const unsubscribe = this.onCommit((height, txs) => {
        if (matches(height, txs)) done();
      });
      function done() {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    });
  }

  /**
   * Sets the transport faults: with any, consensus frames go through a fault-injecting link seeded
   * as `composeLink` says (the seed is logged, to replay the run); with none, straight to the peers.
   * Frames the previous setting delayed still go out when their delay ends.
   */
  setFaults(faults: TransportFaults): void {
    const previous = this.#link;
    this.#link = composeLink(this.#direct, faults, this.#envFaultSeed);
    if (this.#link instanceof FaultyLink) {
      this.#logger.warn(
        { faults, seed: this.#link.seed },
        `transport faults on: ${describeLinkFaults(faults)} (seed ${this.#link.seed}; faults.seed replays it)`,
      );
    } else if (previous !== this.#direct) {
      this.#logger.info({ faults: {} }, 'transport faults off');
    }
  }

  /** The transport faults in force and their seed, or null when frames go straight to the peers. */
  get transportFaults(): { faults: TransportFaults; seed: number } | null {
    const link = this.#link;
    return link instanceof FaultyLink ? { faults: link.faults, seed: link.seed } : null;
  }

  status(): NodeStatus {
    const { view, changingView, viewChangesStarted } = this.#replica.info;
    const head = this.store.head;
    return {
      height: head.height,
      hash: hex(head.hash),
      stateRoot: hex(head.stateRoot),
      view,
      changingView,
      viewChanges: viewChangesStarted,
      peers: this.host.connectedPeers().length,
    };
  }

  /** Why this node cannot be part of a quorum now (too few validators connected), or null. */
  noQuorum(): string | null {
    const needed = quorumSize(this.#validators.length) - 1;
    const peers = this.host.connectedPeers().length;
    return peers < needed ? `connected to ${peers} validators, ${needed} needed for a quorum` : null;
  }

  /** Ready to serve: connected to enough peers to make a quorum, and not in the middle of a view change. */
  ready(): { ok: boolean; reason?: string } {
    const noQuorum = this.noQuorum();
    if (noQuorum) return { ok: false, reason: noQuorum };
    if (this.#replica.info.changingView) return { ok: false, reason: 'changing view' };
    return { ok: true };
  }

  /** Tells consensus that a validator's connection opened or closed (a dead primary is noticed so). */
  #onConnection(peerKey: string, connected: boolean): void {
    const peer = this.#indexOfKey.get(peerKey);
    if (peer !== undefined) this.#enqueue({ kind: 'peer', peer, connected });
  }

  #onPeerMessage(peer: string, payload: Uint8Array): void {
    const from = this.#indexOfKey.get(peer);
    if (from !== undefined) this.#link.receive(from, payload);
  }

  #onConsensusFrame(from: number, payload: Uint8Array): void {
    this.metrics.messageReceived(payload.length);
    let message: ConsensusMessage;
    try {
      message = decode(ConsensusMessage, payload, CONSENSUS_PROTOCOL.maxFrameBytes);
    } catch {
      this.host.punish(hex(this.#validators[from]!), 'malformed-consensus-message');
      return;
    }
    // On the event loop, shared transactions are verified in the replica, in the event queue's
    // transaction lane: after consensus messages.
    if (message.kind === 'txs' && this.#signatureChecks.offLoop) void this.#onSharedTxs(from, message.txs);
    else this.#enqueue({ kind: 'message', from, message });
  }

  /**
   * Transactions a peer shared reach the replica once their signatures are checked off the event
   * loop (those the mempool holds already are not checked again); a peer that shares a forged one is
   * punished.
   */
  async #onSharedTxs(from: number, txs: Transaction[]): Promise<void> {
    const fresh = txs.filter((tx) => !this.#replica.holdsPending(hex(txHash(tx))));
    const verified = await this.#signatureChecks.check(fresh);
    if (this.#stopped) return;
    const good = fresh.filter((_, i) => verified[i]);
    if (good.length < fresh.length)
      this.host.punish(hex(this.#validators[from]!), 'forged-transaction-in-gossip');
    if (good.length > 0) this.#enqueue({ kind: 'txs', txs: good, from, signatureChecked: true });
  }

  #enqueue(event: ConsensusEvent): void {
    if (this.#stopped) return;
    this.#queue.push(event);
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      let busySince = performance.now();
      for (let next = this.#queue.take(); next && !this.#stopped; next = this.#queue.take()) {
        await this.#driver.perform(this.#replica.step(next.event));
        if (next.event.kind === 'txs' && next.event.from === null)
          for (const tx of next.event.txs) this.#queuedSubmissions.delete(hex(txHash(tx)));
        this.#noticeViewChange();
        // Admitting transactions does no I/O, so a burst would hold the event loop: let arriving
        // consensus messages and timers in every few milliseconds.
        if (next.transactions && performance.now() - busySince > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          busySince = performance.now();
        }
      }
    } catch (error) {
      this.#fail(error as Error);
    } finally {
      this.#pumping = false;
    }
  }

  #run(actions: ConsensusAction[]): void {
    this.#pumping = true;
    void (async () => this.#driver.perform(actions))()
      .catch((error) => this.#fail(error as Error))
      .finally(() => {
        this.#pumping = false;
        if (this.#queue.length > 0) void this.#pump();
      });
  }

  #noticeViewChange(): void {
    const { view, changingView, abandonedBuilds } = this.#replica.info;
    if (abandonedBuilds > this.#abandonedBuilds) {
      this.#abandonedBuilds = abandonedBuilds;
      this.#logger.warn({ abandonedBuilds }, 'a block build was never answered; proposing again');
    }
    const state = changingView ? -view - 1 : view;
    if (state === this.#lastView) return;
    this.#lastView = state;
    const { lastViewChangeReason, mempoolSize, heldTxs } = this.#replica.info;
    const reason = changingView ? lastViewChangeReason : undefined;
    this.#logger.info(
      { view, changingView, height: this.store.head.height, reason, mempoolSize, heldTxs },
      changingView ? 'view change started' : 'entered view',
    );
  }

  #fail(error: Error): void {
    if (this.#stopped) return;
    this.#onFatal(error);
    void this.stop();
  }

  /** The driver's ports: libp2p, the consensus log, the rule engine's executor and real timers. */
  #driverPorts(): DriverPorts {
    return {
      transport: {
        send: (to, message) => this.#send(to, encode(ConsensusMessage, wireForm(message))),
        broadcast: (message) => this.#broadcast(message),
        fetch: (request) => this.#fetch(request),
        punish: (peer, reason) => this.host.punish(hex(this.#validators[peer]!), reason),
      },
      timers: {
        set: (timer, delay_ms) => {
          clearTimeout(this.#timers.get(timer));
          const handle = setTimeout(() => {
            this.#timers.delete(timer);
            this.#enqueue({ kind: 'timer', timer });
          }, delay_ms);
          this.#timers.set(timer, handle);
        },
        cancel: (timer) => {
          clearTimeout(this.#timers.get(timer));
          this.#timers.delete(timer);
        },
      },
      log: this.#log,
      executor: {
        build: (request) => this.#build(request),
        execute: (block) => this.#executor.execute(block),
        commit: (block, certificate) => this.#commit(block, certificate),
      },
      inbox: (event) => this.#enqueue(event),
      live: () => !this.#stopped,
    };
  }

  #broadcast(message: ConsensusMessage): void {
    if (message.kind === 'txs') {
      this.#shareTxs(message.txs);
      return;
    }
    const payload = encode(ConsensusMessage, wireForm(message));
    for (let to = 0; to < this.#validators.length; to++) if (to !== this.#self) this.#send(to, payload);
  }

  #build(request: BuildRequest): Block | null {
    const block = this.#executor.build(request);
    if (!block)
      this.#logger.warn(
        { height: request.height, view: request.view, parent: hex(request.parent.hash) },
        'could not build a block: its parent is neither the head nor a block executed here',
      );
    return block;
  }

  async #commit(block: Block, certificate: CommitCertificate): Promise<void> {
    const { receipts } = await this.#executor.commit(block, certificate);
    this.metrics.committed(
      block.txs.map((tx) => hex(txHash(tx))),
      Date.now(),
    );
    this.#logger.debug({ height: block.header.height, txs: block.txs.length }, 'committed');
    this.#activity.committed(block.txs.length);
    for (const listener of this.#commitListeners) {
      try {
        listener(block.header.height, block.txs, receipts);
      } catch (error) {
        // A listener (API waiters, the record store) must never stop consensus.
        this.#logger.warn({ err: error }, 'a commit listener failed');
      }
    }
  }

  #fetch(request: FetchRequest): void {
    const progress = this.#activity.catchingUp(Date.now(), this.store.head.height, request.toHeight);
    if (progress) this.#logger.info(progress.fields, progress.message);
    const peers = request.peers.map((i) => hex(this.#validators[i]!));
    void fetchBlocks(this.host, peers, request.fromHeight, request.toHeight).then((blocks) =>
      this.#enqueue({ kind: 'fetched', blocks }),
    );
  }

  /**
   * Client transactions are shared with every replica. They arrive one event at a time; sending
   * each alone would cost a message per transaction per peer, so they leave together once the
   * current burst of events has been processed.
   */
  #shareTxs(txs: Transaction[]): void {
    this.#outgoingTxs.push(...txs);
    if (this.#outgoingTxs.length > txs.length) return; // a flush is already scheduled
    setImmediate(() => {
      const all = this.#outgoingTxs;
      this.#outgoingTxs = [];
      for (let k = 0; k < all.length; k += MAX_FORWARDED_TXS) {
        const payload = encode(ConsensusMessage, { kind: 'txs', txs: all.slice(k, k + MAX_FORWARDED_TXS) });
        for (let to = 0; to < this.#validators.length; to++) if (to !== this.#self) this.#send(to, payload);
      }
    });
  }

  /**
   * Transactions are gossiped once, when they arrive; a validator that was down then (or cut off:
   * frames to an unconnected peer are dropped) never got them, and if it becomes primary it cannot
   * propose them. So a peer that connects gets what this node's mempool holds.
   */
  #shareMempoolWith(peer: string): void {
    const to = this.#indexOfKey.get(peer);
    if (to === undefined || this.#stopped) return;
    const txs = this.#replica.pendingTxs(MAX_REGOSSIP_TXS);
    for (let k = 0; k < txs.length; k += MAX_FORWARDED_TXS) {
      this.#send(to, encode(ConsensusMessage, { kind: 'txs', txs: txs.slice(k, k + MAX_FORWARDED_TXS) }));
    }
    if (txs.length > 0) this.#logger.debug({ peer: to, txs: txs.length }, 'shared the mempool with a peer');
  }

  #send(to: number, payload: Uint8Array): void {
    this.#link.send(to, payload);
  }

  /** Says what consensus waits on when nothing commits for a while although transactions wait. */
  #noticeStall(): void {
    const height = this.store.head.height;
    const stalled = height === this.#stallHeight && this.#replica.info.mempoolSize > 0;
    this.#stallHeight = height;
    if (!stalled) return;
    this.#logger.warn(
      { height, progress: this.#replica.describeProgress() },
      `no block committed for ${STALL_CHECK_MS / 1000} s while transactions wait`,
    );
  }

  #logSummary(): void {
    const line = this.#activity.summary(Date.now(), this.store.head.height, this.#replica.info.view);
    if (line) this.#logger.info(line.fields, line.message);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#summaryTimer);
    clearInterval(this.#stallTimer);
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#link.close();
    await this.host.stop();
    // Let an in-flight persist or commit finish before closing the databases under it.
    while (this.#pumping) await new Promise((r) => setTimeout(r, 5));
    await this.store.close();
    await this.#log.close();
  }
}
