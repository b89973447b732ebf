/**
 * The deterministic simulator: n real PBFT replicas (src/consensus) on a virtual clock and a
 * simulated network, with clients, crashes and restarts, and Byzantine wrappers.
 *
 * Everything happens through one event queue ordered by (virtual time, insertion order), and every
 * random choice comes from PRNG streams derived from the seed, so one seed is one run, byte for byte.
 * Messages are encoded with the canonical codec when sent and decoded at delivery, as on a real wire.
 * A replica's actions are carried out one at a time, in order; a crash may land between a `persist`
 * and the sends after it. A crashed replica loses everything but its DurableState and restarts from it.
 *
 * Faults are planned from the seed, or given as an explicit timeline (`options.schedule`, see
 * schedule.ts); the clients' transactions may be made by a caller-supplied `makeTx`.
 *
 * With the `twins` fault (twins.ts) f validators run two replicas each: the simulator then holds
 * n + f instances, and events name instances (instance i < n is validator i, so runs without twins
 * are unchanged); messages and clients name validators, and each is handed to the instances of its
 * addressee that the twins' partition of the moment lets the sender reach.
 */

import { bytesEqual, hex } from '../bytes.ts';
import { decode, encode } from '../codec/index.ts';
import { ConsensusMessage, wireForm } from '../consensus/messages.ts';
import type { Replica } from '../consensus/replica.ts';
import type { ConsensusAction, ConsensusEvent, TimerId } from '../consensus/types.ts';
import type { NodeExecutor } from '../driver/executor.ts';
import { type OpenedReplica, openReplica, type ReplicaDatabases } from '../driver/open.ts';
import { ReplicaDriver } from '../driver/replica-driver.ts';
import { assert } from '../errors.ts';
import { describeLinkFaults, hasLinkFaults } from '../faults/link-faults.ts';
import {
  Block,
  blockHash,
  type ChainStore,
  CommitCertificate,
  memoryChainDb,
  RECEIPT_OK,
  type Receipt,
  Transaction,
  txHash,
} from '../ledger/index.ts';
import { Prng } from '../prng.ts';
import { AnswerLog } from './answer-log.ts';
import { Adversary } from './byzantine.ts';
import { CollusionBoard } from './collusion.ts';
import { CommittedChain } from './committed-chain.ts';
import { describeMessage } from './describe.ts';
import { type FaultKind, type FaultPlan, planFaults, resolveFaults } from './faults.ts';
import { type LinkRule, Network, type NetworkStats } from './network.ts';
import { clientTargetOf, type SimOptions } from './options.ts';
import { type Admission, Progress, type StableSpan } from './progress.ts';
import { EventQueue } from './queue.ts';
import { planScenario, type SlowReplicas } from './scenarios.ts';
import {
  type AppliedFault,
  byzantineFrom,
  checkSchedule,
  type ScheduledFault,
  scheduledPlan,
} from './schedule.ts';
import { makeIdentities, SIM_GENESIS_TIME, type SimIdentities } from './setup.ts';
import { SignatureLog } from './signature-log.ts';
import { StateOracle } from './state-oracle.ts';
import { TraceDigest } from './trace.ts';
import { TwinsNetwork } from './twins.ts';
import { type PlannedTx, planWorkload, type TxMaker, workloadTx } from './workload.ts';

/** A problem the simulator or a checker found. */
export interface Violation {
  checker: string;
  detail: string;
}

type SimEvent =
  /** `twin`: sent by a twinned validator's second replica (for the log). */
  | { kind: 'deliver'; from: number; to: number; bytes: Uint8Array; twin?: true }
  /** A slow replica gets round to a message delivered earlier. */
  | { kind: 'handle'; from: number; to: number; incarnation: number; message: ConsensusMessage }
  | { kind: 'timer'; node: number; incarnation: number; timer: TimerId; token: number }
  | { kind: 'feedback'; node: number; incarnation: number; event: ConsensusEvent }
  | { kind: 'submit'; tx: number }
  | { kind: 'loop-batch'; loop: number }
  | { kind: 'client-tx'; to: number; tx: number; bytes: Uint8Array }
  | { kind: 'crash'; node: number; down_ms: number; midStep: boolean }
  | { kind: 'force-crash'; node: number; incarnation: number }
  /** `incarnation`: only if the replica is still down in that incarnation (a crash's own restart). */
  | { kind: 'restart'; node: number; incarnation?: number }
  | { kind: 'scheduled'; index: number }
  | { kind: 'partition'; groups: number[][] }
  | { kind: 'unpartition' }
  | { kind: 'heal' }
  | { kind: 'adversary-tick'; node: number }
  /** The twins' partition changes to the plan's phase `phase`. */
  | { kind: 'twins-phase'; phase: number };

/** Events' `node` and a delivery's `to` are instances (see the file comment); `from` is a validator. */
interface SimNode {
  /** The validator it runs as (its key, `self`). */
  index: number;
  /** Its place among the simulator's instances: `index`, or n + k for the k-th twin. */
  instance: number;
  /** Either replica of a twinned validator: Byzantine to the checkers. */
  twinned: boolean;
  secretKey: Uint8Array;
  /** Its "disks": the chain store's and the consensus log's in-memory databases (survive crashes). */
  disks: ReplicaDatabases | null;
  /** What it committed, as its chain store accepted it (survives crashes, like the store). */
  chain: CommittedChain;
  /** The running incarnation's parts (null while down): opened from the disks at each start. */
  replica: Replica | null;
  store: ChainStore | null;
  executor: NodeExecutor | null;
  /** Carries out the replica's actions on this simulator (one per incarnation). */
  driver: ReplicaDriver | null;
  incarnation: number;
  timers: Map<TimerId, number>;
  adversary: Adversary | null;
  /** Virtual time from which the adversary acts (0 unless a schedule turns the replica later). */
  adversaryFrom_ms: number;
  /** Set by a mid-step crash fault: crash right after the next persist that precedes a send. */
  armedCrash: { down_ms: number } | null;
  /** View changes started by earlier incarnations. */
  viewChangesBefore: number;
  maxView: number;
  /** A CPU-starved replica is busy (handling messages, executing) until then. */
  busyUntil_ms: number;
  /** Its databases are being opened (a start in progress). */
  booting: boolean;
}

export interface SimStats {
  network: NetworkStats;
  /** Messages that reached a crashed replica. */
  messagesToDownNodes: number;
  clientSubmissions: number;
  clientResubmissions: number;
  crashes: number;
  midStepCrashes: number;
  restarts: number;
  /** State-transfer requests served, and blocks they carried. */
  fetches: number;
  fetchedBlocks: number;
  /** View changes started by honest replicas (all incarnations). */
  viewChanges: number;
  /** Highest view an honest replica reached. */
  maxView: number;
  /** Height of the longest honest committed chain. */
  committedBlocks: number;
  /** Committed transactions the rule engine refused, by receipt code. */
  refusedTxs: Record<string, number>;
  /** The most transactions one honest replica sent one peer in answers within one STATUS period. */
  answerPeak_txs: number;
  events: number;
  /** With twins, what the twinned validators did (null without). */
  twins: TwinsStats | null;
}

/** How much the twins bit: equivocation they put on the wire and honest replicas received. */
export interface TwinsStats {
  /** Messages a twin's partition kept from an instance (counted per addressee instance). */
  cut: number;
  /** Distinct (key, phase, view, height) for which a twinned key signed two different blocks. */
  equivocations: number;
  /** Of those, how many reached honest replicas in both versions. */
  equivocationsSeen: number;
  /** Blocks the twins' instances committed (their chains' heights summed). */
  committedBlocks: number;
  /** Times a twin's replica threw or could not apply a commit (not violations: it is Byzantine). */
  failures: number;
  firstFailure: string | null;
}

export interface SimulationResult {
  options: SimOptions;
  faults: FaultKind[];
  plan: FaultPlan;
  identities: SimIdentities;
  honest: number[];
  byzantine: number[];
  /** Per instance: what it committed (its chain store's blocks and certificates). */
  chains: CommittedChain[];
  workload: PlannedTx[];
  /** Per replica: transaction id → virtual time it first committed there. */
  commitTimes: Map<string, number>[];
  signatures: SignatureLog;
  /** What honest replicas sent in answer to GET-TXS and GET-BODIES, per addressee and STATUS period. */
  answers: AnswerLog;
  /** Block hash (hex) → virtual time a PRE-PREPARE first carried it. */
  firstProposed_ms: Map<string, number>;
  /** Failures seen while running: exceptions in the core, commits the executor could not apply. */
  runtimeViolations: Violation[];
  heal_ms: number;
  deadline_ms: number;
  end_ms: number;
  stats: SimStats;
  traceHash: string;
  /** The scheduled faults as applied (empty without a schedule). */
  applied: AppliedFault[];
  /** Client transactions delivered to an up honest replica, first per (tx, replica, incarnation). */
  admissions: Admission[];
  /** Per honest replica: when it was among n - f or more honest replicas up and connected. */
  stableSpans: StableSpan[][];
  /** Per replica: the virtual times it crashed. */
  crashTimes: number[][];
  /** Per replica: height → virtual time it committed that height. */
  blockCommitTimes: Map<number, number>[];
  /** The CPU-starved replicas of a `slow` scenario. */
  slow: SlowReplicas | null;
}

export interface SimHooks {
  /** Receives a line per delivery, commit, view change, crash and restart. */
  log?: (line: string) => void;
  /** Makes the clients' transactions (default: `sim.note` transactions of txBodyBytes random bytes). */
  makeTx?: TxMaker;
}

const EXEC_DELAY_MS = 0.5;
const CLIENT_DELAY_MIN_MS = 0.5;
const CLIENT_DELAY_MAX_MS = 3;
const ADVERSARY_TICK_MIN_MS = 30;
const ADVERSARY_TICK_MAX_MS = 70;
/** A mid-step crash that finds no persist-then-send within this long crashes anyway. */
const ARMED_CRASH_TIMEOUT_MS = 150;
/** A fetch whose peer is down or cut off is answered empty after this long. */
const FETCH_TIMEOUT_MS = 20;
/** A replica that threw, or whose commit could not be applied, is restarted after this long. */
const FAILED_REPLICA_DOWN_MS = 50;
/** Runtime failures after which a run is abandoned. */
const MAX_RUNTIME_VIOLATIONS = 20;

export class Simulator {
  readonly #options: SimOptions;
  readonly #ids: SimIdentities;
  readonly #plan: FaultPlan;
  readonly #faults: FaultKind[];
  readonly #queue = new EventQueue<SimEvent>();
  readonly #network: Network;
  readonly #nodes: SimNode[];
  readonly #honest: number[];
  readonly #workload: PlannedTx[];
  /** Closed loop: the workload's prng and options, each loop's unfinished transactions, and the loop of each transaction. */
  readonly #prngWorkload: Prng;
  readonly #makeTx: TxMaker | undefined;
  readonly #loopPending: number[] = [];
  readonly #loopOf = new Map<string, number>();
  readonly #nonces: number[];
  readonly #commitTimes: Map<string, number>[];
  readonly #committedByHonest = new Set<string>();
  /** Workload indexes submitted at least once. */
  readonly #submitted = new Set<number>();
  readonly #signatures = new SignatureLog();
  readonly #answers = new AnswerLog();
  /** With twins: what the twinned keys signed, as sent, and as honest replicas received it. */
  readonly #twinSigned = new SignatureLog();
  readonly #twinSeen = new SignatureLog();
  readonly #twins: TwinsNetwork;
  readonly #prngTwins: Prng;
  #twinsCut = 0;
  readonly #twinFailures: string[] = [];
  /** Block hash → virtual time a PRE-PREPARE first carried it (for the block-time checker). */
  readonly #firstProposed = new Map<string, number>();
  readonly #board = new CollusionBoard();
  readonly #trace = new TraceDigest();
  readonly #violations: Violation[] = [];
  readonly #prngClients: Prng;
  readonly #prngFetch: Prng;
  readonly #prngAdversary: Prng;
  readonly #heal_ms: number;
  readonly #deadline_ms: number;
  #end_ms: number;
  #now_ms = 0;
  #timerTokens = 0;
  #aborted = false;
  #started = false;
  /** Committed transactions the rule engine refused, by receipt code (first honest commit of each). */
  readonly #refused = new Map<string, number>();
  /** Storage work of the current event (see #settle). */
  #pending: Promise<void>[] = [];
  #settling = false;
  readonly #schedule: readonly ScheduledFault[];
  readonly #applied: AppliedFault[] = [];
  /** Link rules set by the schedule, in force until a heal. */
  #rules: LinkRule[] = [];
  readonly #stats = {
    messagesToDownNodes: 0,
    clientSubmissions: 0,
    clientResubmissions: 0,
    crashes: 0,
    midStepCrashes: 0,
    restarts: 0,
    fetches: 0,
    fetchedBlocks: 0,
    events: 0,
  };

  readonly #log: ((line: string) => void) | undefined;
  readonly #slow: SlowReplicas | null;
  readonly #progress: Progress;
  readonly #crashTimes: number[][];
  readonly #blockCommitTimes: Map<number, number>[];

  constructor(options: SimOptions, hooks: SimHooks = {}) {
    this.#log = hooks.log;
    if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new RangeError('nodes must be >= 1');
    this.#options = options;
    const root = new Prng(options.seed);
    this.#ids = makeIdentities(options.seed, options.nodes, options.clients, options.params);
    const scenario = options.scenario
      ? planScenario(options.scenario, options.seed, options.nodes, options.faultPeriod_ms)
      : null;
    this.#slow = scenario?.slow ?? null;
    const schedule = scenario?.schedule ?? options.schedule;
    this.#schedule = schedule ?? [];
    if (schedule) {
      checkSchedule(schedule, options.nodes);
      this.#faults = [];
      this.#plan = scheduledPlan(schedule);
    } else {
      this.#faults = resolveFaults(options.faults, root.derive('fault-kinds'));
      this.#plan = planFaults(
        this.#faults,
        options.nodes,
        options.faultPeriod_ms,
        root.derive('fault-plan'),
        options.params.maxClockSkew_ms,
      );
    }
    this.#network = new Network(options.nodes, this.#plan.network, root.derive('network'));
    this.#twins = new TwinsNetwork(options.nodes, this.#plan.twins);
    this.#prngTwins = root.derive('twins');
    this.#prngClients = root.derive('clients');
    this.#prngFetch = root.derive('fetch');
    this.#prngAdversary = root.derive('adversary');
    this.#prngWorkload = root.derive('workload');
    this.#makeTx = hooks.makeTx;
    this.#nonces = this.#ids.clients.map(() => 0);
    this.#workload = options.closedLoop
      ? []
      : planWorkload(
          {
            chainId: this.#ids.chainId,
            clients: this.#ids.clients,
            txs: options.txs,
            submitUntil_ms: options.faultPeriod_ms,
            ...(hooks.makeTx ? { makeTx: hooks.makeTx } : {}),
          },
          this.#prngWorkload,
        );
    this.#heal_ms = options.faultPeriod_ms;
    this.#deadline_ms = this.#heal_ms + options.livenessBound_ms;
    this.#end_ms = this.#deadline_ms;
    const turns = byzantineFrom(this.#schedule);
    this.#nodes = this.#ids.validators.map((keys, index) =>
      this.#makeNode(index, index, keys.secretKey, turns.get(index) ?? 0),
    );
    for (let instance = options.nodes; instance < this.#twins.instances; instance++) {
      const index = this.#twins.validatorOf(instance);
      this.#nodes.push(this.#makeNode(index, instance, this.#ids.validators[index]!.secretKey, 0));
    }
    this.#honest = this.#nodes.filter((n) => this.#isHonest(n)).map((n) => n.index);
    this.#commitTimes = this.#nodes.map(() => new Map());
    this.#blockCommitTimes = this.#nodes.map(() => new Map());
    this.#crashTimes = this.#nodes.map(() => []);
    this.#progress = new Progress(options.nodes, this.#honest);
  }

  #makeNode(index: number, instance: number, secretKey: Uint8Array, adversaryFrom_ms: number): SimNode {
    const chain = new CommittedChain(this.#ids.genesisBlock);
    const oracle = new StateOracle(this.#ids.genesis, chain);
    const node: SimNode = {
      index,
      instance,
      twinned: this.#twins.isTwinned(index),
      secretKey,
      disks: null,
      chain,
      replica: null,
      store: null,
      executor: null,
      driver: null,
      incarnation: 0,
      timers: new Map(),
      adversary: null,
      adversaryFrom_ms,
      armedCrash: null,
      viewChangesBefore: 0,
      maxView: 0,
      busyUntil_ms: 0,
      booting: false,
    };
    const behaviours = this.#plan.byzantine.get(index);
    if (behaviours) {
      node.adversary = new Adversary(
        behaviours,
        {
          self: index,
          chainId: this.#ids.chainId,
          secretKey,
          validators: this.#ids.validatorKeys,
          genesis: this.#ids.genesisCheckpoint,
          view: () => node.replica?.info.view ?? 0,
          executedHeight: () => node.chain.height,
          committed: (height) => node.chain.at(height)?.block,
          stateRootAfter: (parent, header, txs) =>
            node.executor?.stateRootAfter(parent, header, txs) ?? oracle.stateRootAfter(parent, header, txs),
          send: (out) => {
            if (node.replica && this.#now_ms >= node.adversaryFrom_ms) this.#transmitAll(node, out);
          },
          now_ms: () => this.#now_ms,
          maxClockSkew_ms: this.#options.params.maxClockSkew_ms,
        },
        this.#board,
        this.#prngAdversary.derive(index),
      );
    }
    return node;
  }

  /** Runs the simulation to its end (once per Simulator). */
  async run(): Promise<SimulationResult> {
    assert(!this.#started, 'a Simulator runs once');
    this.#started = true;
    for (const node of this.#nodes) node.disks = { chain: await memoryChainDb(), log: await memoryChainDb() };
    for (const node of this.#nodes) this.#track(this.#boot(node));
    await this.#settle();
    this.#workload.forEach((planned, tx) => {
      this.#queue.push(planned.at_ms, { kind: 'submit', tx });
    });
    for (let loop = 0; loop < (this.#options.closedLoop?.loops ?? 0); loop++) {
      this.#loopPending.push(0);
      this.#queue.push(this.#prngClients.between(0, CLIENT_DELAY_MAX_MS), { kind: 'loop-batch', loop });
    }
    for (const crash of this.#plan.crashes) {
      this.#queue.push(crash.at_ms, {
        kind: 'crash',
        node: crash.node,
        down_ms: crash.down_ms,
        midStep: crash.midStep,
      });
    }
    for (const p of this.#plan.partitions) {
      this.#queue.push(p.start_ms, { kind: 'partition', groups: p.groups });
      this.#queue.push(p.end_ms, { kind: 'unpartition' });
    }
    this.#schedule.forEach((fault, index) => {
      this.#queue.push(fault.at_ms, { kind: 'scheduled', index });
    });
    this.#plan.twins?.phases.forEach((phase, index) => {
      this.#queue.push(phase.start_ms, { kind: 'twins-phase', phase: index });
    });
    this.#network.faulty = true;
    this.#noteConnectivity();
    this.#queue.push(this.#heal_ms, { kind: 'heal' });
    for (const node of this.#nodes) {
      if (node.adversary)
        this.#queue.push(node.adversaryFrom_ms + this.#adversaryTickDelay(), {
          kind: 'adversary-tick',
          node: node.instance,
        });
    }

    let done = false;
    while (!this.#aborted) {
      const next = this.#queue.peekTime();
      if (next === undefined || next > this.#end_ms) break;
      const { time_ms, item } = this.#queue.pop()!;
      assert(time_ms >= this.#now_ms, 'virtual time never goes backwards');
      this.#now_ms = time_ms;
      this.#stats.events++;
      this.#handle(item);
      if (this.#pending.length > 0) await this.#settle();
      // A closed loop submits until heal_ms: all committed before then is only a pause between batches.
      const submitting = this.#options.closedLoop !== undefined && this.#now_ms < this.#heal_ms;
      if (!done && !submitting && this.#allCommitted()) {
        done = true;
        this.#end_ms = Math.min(this.#end_ms, Math.max(this.#now_ms, this.#heal_ms) + this.#options.grace_ms);
      }
    }
    this.#checkStores();
    return this.#result();
  }

  /**
   * Waits for the storage work the last event started (synced appends, commits, state-transfer
   * reads, restarts). It takes no virtual time, and no event runs before it is done, so a seed's run
   * does not depend on when a promise settles.
   */
  async #settle(): Promise<void> {
    // Only the run loop settles: work that waited on a settle would itself be waited on (a cycle).
    assert(!this.#settling, 'one settle at a time');
    this.#settling = true;
    while (this.#pending.length > 0) await this.#pending.shift();
    this.#settling = false;
  }

  /** Counts `work` (if a promise) in what the current event waits for; its failure ends the run. */
  #track(work: void | Promise<void>): void {
    if (!work) return;
    this.#pending.push(
      work.catch((error) => this.#fail('simulator', `storage work failed: ${describe(error)}`)),
    );
  }

  /** Every up replica's chain store holds exactly the chain the simulator saw it commit. */
  #checkStores(): void {
    for (const node of this.#nodes) {
      const store = node.store;
      if (!store) continue;
      const { height, hash } = store.head;
      const tip = node.chain.tip;
      if (height !== node.chain.height || !bytesEqual(hash, tip.hash))
        this.#violation(
          'chain-store',
          `replica ${this.#name(node)}: its chain store's head is ${height} ${hex(hash).slice(0, 8)}, but it committed ${node.chain.height} ${hex(tip.hash).slice(0, 8)}`,
        );
    }
  }

  // ---- events ------------------------------------------------------------------------------------

  #handle(event: SimEvent): void {
    switch (event.kind) {
      case 'deliver':
        this.#deliver(event.from, event.to, event.bytes, event.twin === true);
        return;
      case 'handle': {
        const node = this.#nodes[event.to]!;
        if (node.incarnation !== event.incarnation || !node.replica) return;
        node.adversary?.observe(event.message, event.from);
        this.#step(node, { kind: 'message', from: event.from, message: event.message });
        return;
      }
      case 'timer': {
        const node = this.#nodes[event.node]!;
        if (node.incarnation !== event.incarnation || node.timers.get(event.timer) !== event.token) return;
        node.timers.delete(event.timer);
        this.#step(node, { kind: 'timer', timer: event.timer });
        return;
      }
      case 'feedback': {
        const node = this.#nodes[event.node]!;
        if (node.incarnation !== event.incarnation || !node.replica) return;
        this.#step(node, event.event);
        return;
      }
      case 'submit':
        this.#submit(event.tx);
        return;
      case 'loop-batch':
        this.#loopBatch(event.loop);
        return;
      case 'client-tx':
        this.#clientTx(event.to, event.tx, event.bytes);
        return;
      case 'crash':
        this.#crashFault(event.node, event.down_ms, event.midStep);
        return;
      case 'force-crash': {
        const node = this.#nodes[event.node]!;
        if (node.incarnation === event.incarnation && node.armedCrash)
          this.#crash(node, node.armedCrash.down_ms);
        return;
      }
      case 'restart': {
        const node = this.#nodes[event.node]!;
        if (event.incarnation === undefined || event.incarnation === node.incarnation) this.#restart(node);
        return;
      }
      case 'scheduled':
        this.#applyScheduled(event.index);
        this.#noteConnectivity();
        return;
      case 'partition':
        this.#trace.record(`P ${this.#now_ms} ${JSON.stringify(event.groups)}`);
        this.#network.partition(event.groups);
        this.#noteConnectivity();
        return;
      case 'unpartition':
        this.#trace.record(`U ${this.#now_ms}`);
        this.#network.heal();
        this.#noteConnectivity();
        return;
      case 'heal':
        this.#trace.record(`H ${this.#now_ms}`);
        this.#network.faulty = false;
        this.#network.heal();
        this.#twins.setGroups(null);
        this.#rules = [];
        this.#network.setRules([]);
        for (const node of this.#nodes) if (!node.replica) this.#restart(node);
        this.#noteConnectivity();
        return;
      case 'adversary-tick': {
        const node = this.#nodes[event.node]!;
        if (node.adversary && node.replica) node.adversary.tick();
        this.#queue.push(this.#now_ms + this.#adversaryTickDelay(), event);
        return;
      }
      case 'twins-phase': {
        // The heal (at the end of the fault period) reconnects everyone; no phase starts after it.
        if (this.#now_ms >= this.#heal_ms) return;
        const { groups } = this.#plan.twins!.phases[event.phase]!;
        this.#trace.record(`W ${this.#now_ms} ${JSON.stringify(groups)}`);
        this.#log?.(
          `${this.#now_ms.toFixed(2)} twins partition ${groups.map((g) => `{${g.map((i) => this.#name(this.#nodes[i]!)).join(',')}}`).join(' | ')}`,
        );
        this.#twins.setGroups(groups);
        this.#noteConnectivity();
        return;
      }
    }
  }

  /** Records which honest replicas are up and connected (the largest such group, if n - f strong). */
  #noteConnectivity(): void {
    const up = this.#honest.filter((i) => this.#nodes[i]!.replica !== null);
    let best: number[] = [];
    for (const i of up) {
      const group = up.filter(
        (j) => this.#network.reachable(i, j) && this.#network.reachable(j, i) && this.#twins.reachable(i, j),
      );
      if (group.length > best.length) best = group;
    }
    this.#progress.connectivity(this.#now_ms, best);
  }

  #adversaryTickDelay(): number {
    return this.#prngAdversary.between(ADVERSARY_TICK_MIN_MS, ADVERSARY_TICK_MAX_MS);
  }

  #deliver(from: number, to: number, bytes: Uint8Array, fromTwin: boolean): void {
    const node = this.#nodes[to]!;
    if (!node.replica) {
      this.#stats.messagesToDownNodes++;
      return;
    }
    let message: ConsensusMessage;
    try {
      message = decode(ConsensusMessage, bytes);
    } catch (error) {
      this.#fail('codec', `a message from ${from} to ${to} does not decode: ${String(error)}`);
      return;
    }
    this.#network.delivered(bytes.length);
    this.#trace.record(`D ${this.#now_ms} ${from} ${to}`, bytes);
    if (this.#log && message.kind !== 'status' && message.kind !== 'txs') {
      this.#log(
        `${this.#now_ms.toFixed(2)} ${from}${fromTwin ? "'" : ''}->${this.#name(node)} ${describeMessage(message)}`,
      );
    }
    if (this.#twins.isTwinned(from) && this.#isHonest(node)) this.#twinSeen.sent(from, message);
    if (this.#slow?.nodes.includes(node.index) && this.#slow.message_ms > 0) {
      // A CPU-starved replica handles its messages one at a time, each taking message_ms.
      node.busyUntil_ms = Math.max(node.busyUntil_ms, this.#now_ms) + this.#slow.message_ms;
      this.#queue.push(node.busyUntil_ms, {
        kind: 'handle',
        from,
        to,
        incarnation: node.incarnation,
        message,
      });
      return;
    }
    node.adversary?.observe(message, from);
    this.#step(node, { kind: 'message', from, message });
  }

  /** How long a build or an execution takes: longer, and queued behind other work, when CPU-starved. */
  #executionDelay(node: SimNode): number {
    if (!this.#slow?.nodes.includes(node.index) || this.#slow.execute_ms === 0) return EXEC_DELAY_MS;
    node.busyUntil_ms = Math.max(node.busyUntil_ms, this.#now_ms) + this.#slow.execute_ms;
    return node.busyUntil_ms - this.#now_ms + EXEC_DELAY_MS;
  }

  #submit(index: number): void {
    const planned = this.#workload[index]!;
    if (this.#committedByHonest.has(planned.id)) return;
    const prng = this.#prngClients;
    // A pinned client sends to its own replica; the draw is made either way, so that both modes
    // use the client stream alike.
    const drawn = prng.int(this.#options.nodes);
    const to = clientTargetOf(this.#options) === 'pinned' ? planned.client % this.#options.nodes : drawn;
    if (this.#submitted.has(index)) this.#stats.clientResubmissions++;
    this.#submitted.add(index);
    this.#stats.clientSubmissions++;
    this.#trace.record(`S ${this.#now_ms} ${index} ${to}`);
    const bytes = encode(Transaction, planned.tx);
    this.#queue.push(this.#now_ms + prng.between(CLIENT_DELAY_MIN_MS, CLIENT_DELAY_MAX_MS), {
      kind: 'client-tx',
      to,
      tx: index,
      bytes,
    });
    this.#queue.push(this.#now_ms + this.#options.clientRetry_ms, { kind: 'submit', tx: index });
  }

  /** A closed loop's next batch: new transactions from its client, submitted now. */
  #loopBatch(loop: number): void {
    const closed = this.#options.closedLoop!;
    if (this.#now_ms >= this.#heal_ms) return;
    const client = loop % this.#ids.clients.length;
    const options = {
      chainId: this.#ids.chainId,
      clients: this.#ids.clients,
      ...(this.#makeTx ? { makeTx: this.#makeTx } : {}),
    };
    for (let k = 0; k < closed.batch; k++) {
      const nonce = ++this.#nonces[client]!;
      const planned = workloadTx(options, this.#now_ms, client, nonce, this.#prngWorkload);
      this.#workload.push(planned);
      this.#loopOf.set(planned.id, loop);
      this.#loopPending[loop]!++;
      this.#submit(this.#workload.length - 1);
    }
  }

  /** A client's transaction reaches validator `to`: each of its instances, twins alike (clients are not partitioned). */
  #clientTx(to: number, index: number, bytes: Uint8Array): void {
    for (const instance of this.#twins.instancesOf(to)) {
      const node = this.#nodes[instance]!;
      if (!node.replica) continue;
      this.#trace.record(`T ${this.#now_ms} ${index} ${instance}`);
      if (this.#isHonest(node))
        this.#progress.admitted(
          { tx: this.#workload[index]!.id, node: to, incarnation: node.incarnation },
          this.#now_ms,
        );
      this.#step(node, { kind: 'txs', txs: [decode(Transaction, bytes)], from: null });
    }
  }

  // ---- replicas ----------------------------------------------------------------------------------

  /**
   * Starts a replica from its disks through the daemon's own open path (driver/open.ts): the chain
   * store and the consensus log reopened, the replica restored from them.
   */
  #boot(node: SimNode): Promise<void> {
    node.booting = true;
    const incarnation = node.incarnation;
    const opening = openReplica(node.disks!, {
      genesis: this.#ids.genesis,
      self: node.index,
      secretKey: node.secretKey,
      params: this.#options.params,
      // Block timestamps are whole milliseconds.
      clock: () => Math.floor(this.#clockOf(node.index)),
      ...(this.#options.unsafe ? { unsafe: this.#options.unsafe } : {}),
    }).then(
      (opened) => {
        node.booting = false;
        assert(node.incarnation === incarnation && !node.replica, 'a replica starts once per incarnation');
        node.replica = opened.replica;
        node.store = opened.store;
        node.executor = opened.executor;
        node.driver = this.#driverFor(node, opened);
        let actions: ConsensusAction[];
        try {
          actions = opened.replica.start();
        } catch (error) {
          this.#fail('replica-invariant', `replica ${this.#name(node)} failed to start: ${describe(error)}`);
          return;
        }
        this.#perform(node, actions);
      },
      (error) => {
        node.booting = false;
        this.#fail('replica-invariant', `replica ${this.#name(node)} failed to open: ${describe(error)}`);
      },
    );
    return opening;
  }

  #step(node: SimNode, event: ConsensusEvent): void {
    const replica = node.replica;
    if (!replica) return;
    let actions: ConsensusAction[];
    try {
      actions = replica.step(event);
    } catch (error) {
      // Like a process dying on a failed assertion: report it, then crash and restart the replica.
      this.#replicaFailure(
        node,
        'replica-invariant',
        `replica ${this.#name(node)} threw on a ${event.kind} event: ${describe(error)}`,
      );
      this.#crash(node, FAILED_REPLICA_DOWN_MS);
      return;
    }
    if (this.#log && replica.info.view > node.maxView) {
      this.#log(`${this.#now_ms.toFixed(2)} replica ${this.#name(node)} moves to view ${replica.info.view}`);
    }
    node.maxView = Math.max(node.maxView, replica.info.view);
    this.#perform(node, actions);
  }

  /**
   * Carries out actions through the node's driver; an armed crash strikes right after the first
   * persist that precedes a send (the driver is handed the actions up to it).
   */
  #perform(node: SimNode, actions: ConsensusAction[]): void {
    const driver = node.driver;
    if (!driver) return;
    const crashAt = node.armedCrash ? midStepCrashPoint(actions) : -1;
    if (crashAt < 0) {
      this.#track(driver.perform(actions));
      return;
    }
    const incarnation = node.incarnation;
    const crash = () => {
      if (node.incarnation !== incarnation || !node.armedCrash || this.#aborted) return;
      this.#stats.midStepCrashes++;
      this.#crash(node, node.armedCrash.down_ms);
    };
    const pending = driver.perform(actions.slice(0, crashAt + 1));
    if (pending) this.#track(pending.then(crash));
    else crash();
  }

  /** The simulated world a replica's driver acts on: this simulator's network, clock and disk. */
  #driverFor(node: SimNode, opened: OpenedReplica): ReplicaDriver {
    const incarnation = node.incarnation;
    const { executor, log } = opened;
    const others = this.#ids.validators.map((_, j) => j).filter((j) => j !== node.index);
    return new ReplicaDriver({
      transport: {
        send: (to, message) => this.#emit(node, message, [to]),
        broadcast: (message) => this.#emit(node, message, others),
        fetch: (request) =>
          this.#track(this.#fetch(node, request.fromHeight, request.toHeight, request.peers)),
        punish: () => {},
      },
      timers: {
        set: (timer, delay_ms) => {
          const token = ++this.#timerTokens;
          node.timers.set(timer, token);
          this.#queue.push(this.#now_ms + delay_ms, {
            kind: 'timer',
            node: node.instance,
            incarnation,
            timer,
            token,
          });
        },
        cancel: (timer) => {
          node.timers.delete(timer);
        },
      },
      log,
      executor: {
        build: (request) => executor.build(request),
        execute: (block) => executor.execute(block),
        commit: (block, certificate) => this.#commit(node, executor, block, certificate),
      },
      inbox: (event) => this.#feedback(node, this.#executionDelay(node), event),
      live: () => node.incarnation === incarnation && !this.#aborted,
    });
  }

  #feedback(node: SimNode, delay_ms: number, event: ConsensusEvent): void {
    this.#queue.push(this.#now_ms + delay_ms, {
      kind: 'feedback',
      node: node.instance,
      incarnation: node.incarnation,
      event,
    });
  }

  #emit(node: SimNode, message: ConsensusMessage, targets: number[]): void {
    if (!node.adversary || this.#now_ms < node.adversaryFrom_ms) {
      if (node.twinned) this.#twinSigned.sent(node.index, message);
      else if (!node.adversary) {
        this.#signatures.sent(node.index, message);
        this.#answers.sent(node.index, node.incarnation, message, targets);
      }
      this.#transmitAll(
        node,
        targets.map((to) => ({ to, message })),
      );
      return;
    }
    this.#transmitAll(node, node.adversary.outgoing(message, targets));
  }

  /** Honest: neither wrapped by an adversary nor twinned. */
  #isHonest(node: SimNode): boolean {
    return node.adversary === null && !node.twinned;
  }

  /** How logs name an instance: its validator, primed for a twin's second replica. */
  #name(node: SimNode): string {
    return node.instance === node.index ? String(node.index) : `${node.index}'`;
  }

  /** Replica `index`'s wall clock: true (virtual) time plus the skew of the clock-skew fault. */
  #clockOf(index: number): number {
    const { skews_ms, bad } = this.#plan.clocks;
    const badNow = bad?.node === index && this.#now_ms < this.#heal_ms;
    return SIM_GENESIS_TIME + this.#now_ms + (badNow ? bad.skew_ms : (skews_ms[index] ?? 0));
  }

  /** Puts `sender`'s messages on the wire, each to the instances of its addressee the sender reaches. */
  #transmitAll(sender: SimNode, out: ReadonlyArray<{ to: number; message: ConsensusMessage }>): void {
    const from = sender.index;
    const twin = sender.instance !== sender.index ? { twin: true as const } : {};
    const encoded = new Map<ConsensusMessage, Uint8Array>();
    const encodedWireForm = new Map<ConsensusMessage, Uint8Array>();
    for (const { to, message } of out) {
      if (to === from) continue;
      if (message.kind === 'preprepare') {
        const hash = hex(blockHash(message.block.header));
        if (!this.#firstProposed.has(hash)) this.#firstProposed.set(hash, this.#now_ms);
      }
      // Validators send proposals by hash (wireForm), but not to or from an adversary: one keeps what
      // it sees whole, as material for its attacks, and sends what its attacks make.
      const whole = sender.adversary !== null || this.#nodes[to]!.adversary !== null;
      const cache = whole ? encoded : encodedWireForm;
      let bytes = cache.get(message);
      if (!bytes) {
        bytes = encode(ConsensusMessage, whole ? message : wireForm(message));
        cache.set(message, bytes);
      }
      for (const instance of this.#twins.instancesOf(to)) {
        if (!this.#twins.reachable(sender.instance, instance)) {
          this.#twinsCut++;
          continue;
        }
        for (const delay_ms of this.#network.transmit(from, to, bytes.length)) {
          this.#queue.push(this.#now_ms + delay_ms, { kind: 'deliver', from, to: instance, bytes, ...twin });
        }
      }
    }
  }

  /** Applies a committed block through the replica's executor and chain store, then records it. */
  async #commit(
    node: SimNode,
    executor: NodeExecutor,
    block: Block,
    certificate: CommitCertificate,
  ): Promise<void> {
    let problem: string | null = null;
    let receipts: Receipt[] = [];
    try {
      receipts = (await executor.commit(block, certificate)).receipts;
      node.chain.append(block, certificate);
    } catch (error) {
      problem = describe(error);
    }
    const hash = blockHash(block.header);
    this.#trace.record(`C ${this.#now_ms} ${node.instance} ${block.header.height} ${hex(hash)}`);
    this.#log?.(
      `${this.#now_ms.toFixed(2)} replica ${this.#name(node)} COMMITTED h=${block.header.height} block=${hex(hash).slice(0, 8)} view=${certificate.view} votes=${certificate.votes.length}`,
    );
    if (problem) {
      this.#replicaFailure(node, 'commit-apply', `replica ${this.#name(node)}: ${problem}`);
      this.#crash(node, FAILED_REPLICA_DOWN_MS);
      return;
    }
    if (!this.#isHonest(node)) return;
    this.#blockCommitTimes[node.index]!.set(block.header.height, this.#now_ms);
    const times = this.#commitTimes[node.index]!;
    block.txs.forEach((tx, index) => {
      const id = hex(txHash(tx));
      if (!times.has(id)) times.set(id, this.#now_ms);
      if (this.#committedByHonest.has(id)) return;
      this.#committedByHonest.add(id);
      const code = receipts[index]?.code ?? RECEIPT_OK;
      if (code !== RECEIPT_OK) this.#refused.set(code, (this.#refused.get(code) ?? 0) + 1);
      const loop = this.#loopOf.get(id);
      if (loop !== undefined && --this.#loopPending[loop]! === 0) {
        this.#queue.push(this.#now_ms + this.#prngClients.between(CLIENT_DELAY_MIN_MS, CLIENT_DELAY_MAX_MS), {
          kind: 'loop-batch',
          loop,
        });
      }
    });
  }

  /** State transfer: a peer's chain store serves the blocks, which arrive after a round trip. */
  async #fetch(node: SimNode, fromHeight: number, toHeight: number, peers: number[]): Promise<void> {
    const incarnation = node.incarnation;
    const candidates = peers.filter((p) => p >= 0 && p < this.#ids.validators.length && p !== node.index);
    let blocks: Array<{ block: Block; certificate: CommitCertificate }> = [];
    let delay_ms = FETCH_TIMEOUT_MS;
    if (candidates.length > 0) {
      const server = this.#fetchServer(node, this.#prngFetch.pick(candidates));
      const roundTrip = this.#network.roundTrip(node.index, server.index);
      if (server.store && roundTrip !== null && this.#twins.reachable(node.instance, server.instance)) {
        delay_ms = roundTrip;
        const last = Math.min(toHeight, fromHeight + this.#options.params.fetchMaxBlocks - 1);
        blocks = await readCommitted(server.store, Math.max(1, fromHeight), last);
        if (server.adversary) blocks = server.adversary.serveFetch(blocks);
        // Over the wire: the requester gets its own copies.
        blocks = blocks.map(({ block, certificate }) => {
          const b = encode(Block, block);
          const c = encode(CommitCertificate, certificate);
          this.#network.delivered(b.length + c.length);
          return { block: decode(Block, b), certificate: decode(CommitCertificate, c) };
        });
      }
      this.#trace.record(
        `F ${this.#now_ms} ${node.instance} ${server.instance} ${fromHeight} ${toHeight} ${blocks.length}`,
      );
    }
    if (node.incarnation !== incarnation) return;
    // A slow replica executes each block it did not have before using it.
    const fresh = blocks.filter(({ block }) => block.header.height > node.chain.height).length;
    if (this.#slow?.nodes.includes(node.index) && fresh > 0 && this.#slow.fetch_ms > 0) {
      node.busyUntil_ms = Math.max(node.busyUntil_ms, this.#now_ms + delay_ms) + fresh * this.#slow.fetch_ms;
      delay_ms = node.busyUntil_ms - this.#now_ms;
    }
    this.#stats.fetches++;
    this.#stats.fetchedBlocks += blocks.length;
    this.#feedback(node, delay_ms, { kind: 'fetched', blocks });
  }

  /** Which instance of validator `peer` serves a fetch: one the requester reaches, if any. */
  #fetchServer(requester: SimNode, peer: number): SimNode {
    const instances = this.#twins.instancesOf(peer);
    if (instances.length === 1) return this.#nodes[peer]!;
    const reached = instances.filter((i) => this.#twins.reachable(requester.instance, i));
    return this.#nodes[reached.length > 0 ? this.#prngTwins.pick(reached) : peer]!;
  }

  // ---- crashes -----------------------------------------------------------------------------------

  #crashFault(index: number, down_ms: number, midStep: boolean): void {
    const node = this.#nodes[index]!;
    if (!node.replica || node.armedCrash) return;
    if (!midStep) {
      this.#crash(node, down_ms);
      return;
    }
    node.armedCrash = { down_ms };
    this.#queue.push(this.#now_ms + ARMED_CRASH_TIMEOUT_MS, {
      kind: 'force-crash',
      node: node.instance,
      incarnation: node.incarnation,
    });
  }

  #crash(node: SimNode, down_ms: number): void {
    const replica = node.replica;
    if (!replica) return;
    this.#trace.record(`X ${this.#now_ms} ${node.instance}`);
    this.#log?.(`${this.#now_ms.toFixed(2)} replica ${this.#name(node)} CRASHES`);
    this.#stats.crashes++;
    this.#crashTimes[node.instance]!.push(this.#now_ms);
    node.busyUntil_ms = 0;
    node.viewChangesBefore += replica.info.viewChangesStarted;
    node.maxView = Math.max(node.maxView, replica.info.view);
    // Its disks stay as they are; the objects over them are dropped, as a killed process's are.
    node.replica = null;
    node.store = null;
    node.executor = null;
    node.driver = null;
    node.incarnation++;
    node.timers.clear();
    node.armedCrash = null;
    // Fault crashes restart by the time the network heals; crashes after it (failed replicas) later.
    const restart_ms =
      this.#now_ms < this.#heal_ms ? Math.min(this.#now_ms + down_ms, this.#heal_ms) : this.#now_ms + down_ms;
    this.#queue.push(restart_ms, { kind: 'restart', node: node.instance, incarnation: node.incarnation });
    this.#announceConnection(node, false);
    this.#noteConnectivity();
  }

  /**
   * Tells the replicas that can reach `node` that its connections closed (it crashed) or opened (it
   * restarted), after a round trip, as a transport would. Partitioned replicas hear nothing, as a
   * TCP peer behind a cut link hears nothing. A twinned validator's peers stay connected to its other
   * instance, so its crashes are not announced.
   */
  #announceConnection(node: SimNode, connected: boolean): void {
    if (node.twinned) return;
    for (const other of this.#nodes) {
      if (other.index === node.index || !other.replica) continue;
      if (!this.#twins.reachable(node.instance, other.instance)) continue;
      const delay_ms = this.#network.roundTrip(node.index, other.index);
      if (delay_ms === null) continue;
      this.#queue.push(this.#now_ms + delay_ms, {
        kind: 'feedback',
        node: other.instance,
        incarnation: other.incarnation,
        event: { kind: 'peer', peer: node.index, connected },
      });
    }
  }

  #restart(node: SimNode): void {
    if (node.replica || node.booting) return;
    this.#trace.record(`R ${this.#now_ms} ${node.instance}`);
    this.#log?.(`${this.#now_ms.toFixed(2)} replica ${this.#name(node)} RESTARTS`);
    this.#stats.restarts++;
    // Its peers see its connections open once it runs again.
    this.#track(
      this.#boot(node).then(() => {
        this.#announceConnection(node, true);
        this.#noteConnectivity();
      }),
    );
  }

  // ---- scheduled faults --------------------------------------------------------------------------

  /** The primary of the view most live honest replicas are in (the highest such view on a tie). */
  #currentPrimary(): { node: number; view: number } {
    const votes = new Map<number, number>();
    for (const i of this.#honest) {
      const view = this.#nodes[i]!.replica?.info.view;
      if (view !== undefined) votes.set(view, (votes.get(view) ?? 0) + 1);
    }
    let view = 0;
    let most = 0;
    for (const [v, count] of votes) {
      if (count > most || (count === most && v > view)) {
        view = v;
        most = count;
      }
    }
    return { node: view % this.#options.nodes, view };
  }

  #applyScheduled(index: number): void {
    const fault = this.#schedule[index]!;
    const note = (description: string) => {
      this.#applied.push({ index, at_ms: this.#now_ms, kind: fault.kind, description });
      this.#trace.record(`Z ${this.#now_ms} ${index}`);
      this.#log?.(`${this.#now_ms.toFixed(2)} scheduled fault: ${description}`);
    };
    switch (fault.kind) {
      case 'crash': {
        let target: number;
        let what: string;
        if (fault.node === 'primary') {
          const primary = this.#currentPrimary();
          target = primary.node;
          what = `replica ${target} (primary of view ${primary.view})`;
        } else {
          target = fault.node;
          what = `replica ${target}`;
        }
        const node = this.#nodes[target]!;
        if (!node.replica) {
          note(`crash ${what}: already down`);
          return;
        }
        note(
          `crash ${what}${fault.restartAfter_ms === null ? '' : `, restart after ${fault.restartAfter_ms} ms`}`,
        );
        this.#crash(node, fault.restartAfter_ms ?? Number.POSITIVE_INFINITY);
        return;
      }
      case 'restart': {
        const targets = fault.node === 'all' ? this.#nodes : [this.#nodes[fault.node]!];
        const down = targets.filter((n) => !n.replica);
        note(
          down.length === 0
            ? `restart ${fault.node === 'all' ? 'crashed replicas' : `replica ${fault.node}`}: none down`
            : `restart replica${down.length > 1 ? 's' : ''} ${down.map((n) => n.index).join(', ')}`,
        );
        for (const node of down) this.#restart(node);
        return;
      }
      case 'partition':
        note(`partition ${fault.groups.map((g) => `{${g.join(',')}}`).join(' | ')}`);
        this.#network.partition(fault.groups);
        return;
      case 'heal':
        note('heal partitions and link faults');
        this.#network.heal();
        this.#rules = [];
        this.#network.setRules([]);
        return;
      case 'links': {
        const what = hasLinkFaults(fault.faults) ? describeLinkFaults(fault.faults) : 'no change';
        const to = fault.faults.to ?? this.#ids.validators.map((_, i) => i);
        note(`${what} on links {${fault.from.join(',')}} -> {${to.join(',')}}`);
        this.#rules.push({ from: fault.from, faults: fault.faults });
        this.#network.setRules(this.#rules);
        return;
      }
      case 'byzantine':
        note(
          `replica${fault.nodes.length > 1 ? 's' : ''} ${fault.nodes.join(', ')} turn${fault.nodes.length > 1 ? '' : 's'} Byzantine: ${fault.behaviours.join(', ')}`,
        );
        return;
    }
  }

  // ---- bookkeeping -------------------------------------------------------------------------------

  #allCommitted(): boolean {
    const total = this.#workload.length;
    return this.#honest.every((i) => this.#commitTimes[i]!.size >= total) && this.#allSubmittedCommitted();
  }

  #allSubmittedCommitted(): boolean {
    for (const i of this.#honest) {
      const times = this.#commitTimes[i]!;
      for (const planned of this.#workload) if (!times.has(planned.id)) return false;
    }
    return true;
  }

  /**
   * Records a runtime failure; too many of them end the run. A twinned validator's failures are a
   * Byzantine replica's (its key signed what it never saw, and it may trip over that): counted in the
   * twins' stats, not held against the run.
   */
  #replicaFailure(node: SimNode, checker: string, detail: string): void {
    if (node.twinned)
      this.#twinFailures.push(`${checker}: ${detail} (at ${this.#now_ms.toFixed(3)} virtual ms)`);
    else this.#violation(checker, detail);
  }

  /** Records a runtime failure; too many of them end the run. */
  #violation(checker: string, detail: string): void {
    this.#violations.push({ checker, detail: `${detail} (at ${this.#now_ms.toFixed(3)} virtual ms)` });
    if (this.#violations.length >= MAX_RUNTIME_VIOLATIONS) this.#aborted = true;
  }

  /** Records a failure the run cannot go on from, and ends it. */
  #fail(checker: string, detail: string): void {
    this.#violation(checker, detail);
    this.#aborted = true;
  }

  #twinsStats(): TwinsStats {
    const distinct = (log: SignatureLog) =>
      new Set(log.conflicts.map((c) => `${c.node}/${c.phase}/${c.view}/${c.height}`)).size;
    return {
      cut: this.#twinsCut,
      equivocations: distinct(this.#twinSigned),
      equivocationsSeen: distinct(this.#twinSeen),
      committedBlocks: this.#nodes.filter((n) => n.twinned).reduce((sum, n) => sum + n.chain.height, 0),
      failures: this.#twinFailures.length,
      firstFailure: this.#twinFailures[0] ?? null,
    };
  }

  #result(): SimulationResult {
    let viewChanges = 0;
    let maxView = 0;
    let committedBlocks = 0;
    for (const i of this.#honest) {
      const node = this.#nodes[i]!;
      viewChanges += node.viewChangesBefore + (node.replica?.info.viewChangesStarted ?? 0);
      maxView = Math.max(maxView, node.maxView, node.replica?.info.view ?? 0);
      committedBlocks = Math.max(committedBlocks, node.chain.height);
    }
    return {
      options: this.#options,
      faults: this.#faults,
      plan: this.#plan,
      identities: this.#ids,
      honest: this.#honest,
      byzantine: [...this.#plan.byzantine.keys(), ...(this.#plan.twins?.nodes ?? [])].sort((a, b) => a - b),
      chains: this.#nodes.map((n) => n.chain),
      workload: this.#workload,
      commitTimes: this.#commitTimes,
      signatures: this.#signatures,
      answers: this.#answers,
      firstProposed_ms: this.#firstProposed,
      runtimeViolations: this.#violations,
      heal_ms: this.#heal_ms,
      deadline_ms: this.#deadline_ms,
      end_ms: this.#now_ms,
      stats: {
        network: { ...this.#network.stats },
        ...this.#stats,
        viewChanges,
        maxView,
        committedBlocks,
        refusedTxs: Object.fromEntries([...this.#refused].sort(([a], [b]) => a.localeCompare(b))),
        answerPeak_txs: Math.max(0, ...this.#answers.peaks().map((peak) => peak.txs)),
        twins: this.#plan.twins ? this.#twinsStats() : null,
      },
      traceHash: this.#trace.digest(),
      applied: this.#applied,
      admissions: this.#progress.admissions,
      stableSpans: this.#progress.spans(this.#now_ms),
      crashTimes: this.#crashTimes,
      blockCommitTimes: this.#blockCommitTimes,
      slow: this.#slow,
    };
  }
}

/** Committed blocks [from, to] with their certificates, as a chain store serves them to a peer. */
async function readCommitted(
  store: ChainStore,
  from: number,
  to: number,
): Promise<Array<{ block: Block; certificate: CommitCertificate }>> {
  const out: Array<{ block: Block; certificate: CommitCertificate }> = [];
  for (let height = from; height <= Math.min(to, store.head.height); height++) {
    const [block, certificate] = await Promise.all([store.block(height), store.certificate(height)]);
    if (!block || !certificate) break;
    out.push({ block, certificate });
  }
  return out;
}

/** Where a mid-step crash strikes: the first persist that some send or broadcast follows, or -1. */
function midStepCrashPoint(actions: readonly ConsensusAction[]): number {
  const lastSend = actions.findLastIndex((a) => a.kind === 'send' || a.kind === 'broadcast');
  return actions.findIndex((a, k) => a.kind === 'persist' && k < lastSend);
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return `${error.message}${error.stack ? ` | ${error.stack.split('\n')[1]?.trim()}` : ''}`;
  return String(error);
}
