/**
 * What a running replica needs from the world, as narrow interfaces (ports). The daemon fills them
 * with libp2p, LevelDB, the rule engine and real timers; the simulator and the consensus tests with a
 * virtual network, clock and disks. The replica driver (replica-driver.ts) is written against these
 * alone, so every host carries out the core's actions by the same code.
 *
 * A port's method returns a promise only when the work is asynchronous (a synced write, a chain
 * append); the driver awaits it before the next action. A host whose ports all answer synchronously
 * (the simulator) is driven without a single await, and stays deterministic and fast.
 */

import type { ConsensusMessage } from '../consensus/messages.ts';
import type { ConsensusAction, ConsensusEvent, DurableRecord, TimerId } from '../consensus/types.ts';
import type { Block, CommitCertificate } from '../ledger/types.ts';

/** The core's `build` request: assemble and speculatively execute the next block. */
export type BuildRequest = Extract<ConsensusAction, { kind: 'build' }>;
/** The core's `fetch` request: committed blocks from some peers (state transfer). */
export type FetchRequest = Extract<ConsensusAction, { kind: 'fetch' }>;

/** The consensus network: messages to other validators, state transfer, and punishing a peer. */
export interface Transport {
  send(to: number, message: ConsensusMessage): void;
  /** To every other validator. */
  broadcast(message: ConsensusMessage): void;
  /** Starts fetching committed blocks; the answer comes back through `Inbox` as a `fetched` event. */
  fetch(request: FetchRequest): void;
  /** A peer sent what no honest validator sends; the host may disconnect it. */
  punish(peer: number, reason: string): void;
}

/** The core's named timers; an expiry comes back through `Inbox` as a `timer` event. */
export interface Timers {
  /** Starts `timer`, replacing a pending one of the same name. */
  set(timer: TimerId, delay_ms: number): void;
  cancel(timer: TimerId): void;
}

/** The core's write-ahead log: an append is durable (synced) once it returns or resolves. */
export interface DurableLog {
  append(records: DurableRecord[]): void | Promise<void>;
}

/** What executing a proposed block found: valid with this state root, or not. */
export interface ExecutionResult {
  ok: boolean;
  stateRoot: Uint8Array;
  reason?: string;
}

/** Runs blocks through the state machine (the rule engine in the daemon). */
export interface Executor {
  /** Assembles and speculatively executes a block; null when its parent is unknown here. */
  build(request: BuildRequest): Block | null;
  /** Speculatively executes a proposed block on top of its parent. */
  execute(block: Block): ExecutionResult;
  /** Applies a committed block (durably, once it returns or resolves). */
  commit(block: Block, certificate: CommitCertificate): void | Promise<void>;
}

/** Where the answers to `build`, `execute` and `fetch` go: back into the replica's event stream. */
export type Inbox = (event: ConsensusEvent) => void;
