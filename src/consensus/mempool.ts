/**
 * The mempool: admitted client transactions waiting to be committed, bounded in size.
 *
 * Each transaction's signature is verified once, on admission (or by the driver before it, which
 * says so: the node's API checks it to answer the client at once); proposal validation reuses that
 * result through `isVerified`. Batches take each sender's transactions in nonce order and go round
 * the senders, so one busy sender cannot starve the others.
 *
 * With a sender lookup (the driver's committed state), admission also applies the rule engine's
 * sender rules, so that what can never succeed never reaches a block: the sender must be a
 * registered key, and the nonce must be above its last committed one and at most NONCE_WINDOW
 * above it. A nonce after a gap is held, not refused (gossip reorders transactions), until the gap
 * fills; only the run of consecutive nonces after the committed one is proposed, one transaction
 * per nonce. Each sender's share of the mempool, and the held transactions, are bounded.
 */

import { hex } from '../bytes.ts';
import { type Transaction, txHash, verifyTransactionSignature } from '../ledger/index.ts';

/** A sender as the committed state knows it. */
export interface SenderAccount {
  /** Whether the key is a registered identity's signing key (the rule engine refuses others). */
  registered: boolean;
  /** The last nonce the sender used on chain (0 before its first transaction). */
  nonce: number;
}

/** Answers synchronously from the committed state. */
export type SenderLookup = (sender: Uint8Array) => SenderAccount;

/**
 * How far above a sender's last committed nonce a transaction's nonce may be. Load generators sign
 * ahead: a benchmark posts over a hundred transactions per key at once (bench/run-real.ts).
 */
export const NONCE_WINDOW = 256;
/** Held transactions (after a nonce gap) one sender may have waiting: concurrent batches reorder a whole window. */
export const HELD_PER_SENDER = NONCE_WINDOW;

/** Why a sender's transaction can never commit as it stands, or too far ahead to keep. */
export type SenderRefusal = 'unregistered' | 'stale' | 'too-far';

/**
 * The sender rules, shared by the mempool and the API's submit (one rule, so the API refuses at
 * once exactly what the mempool would drop).
 */
export function senderRefusal(account: SenderAccount, nonce: number): SenderRefusal | null {
  if (!account.registered) return 'unregistered';
  if (nonce <= account.nonce) return 'stale';
  if (nonce > account.nonce + NONCE_WINDOW) return 'too-far';
  return null;
}

/** The most transactions one sender may have in a mempool of `maxTxs`. */
export function senderCap(maxTxs: number): number {
  return Math.max(256, Math.floor(maxTxs / 64));
}

/** The most held (gapped) transactions in a mempool of `maxTxs`, all senders together. */
export function heldCap(maxTxs: number): number {
  return Math.max(HELD_PER_SENDER, Math.floor(maxTxs / 8));
}

export type AdmitResult =
  | 'admitted'
  | 'duplicate'
  | 'full'
  | 'bad-signature'
  | 'wrong-chain'
  | 'committed'
  | SenderRefusal
  /** The sender has its share of the mempool already. */
  | 'sender-full'
  /** Held after a nonce gap, but the sender's or the mempool's bound on held transactions is reached. */
  | 'held-full';

interface Entry {
  tx: Transaction;
  id: string;
  /**
   * The request-timer period in which it became proposable (the core has no clock; periods count
   * time): a transaction held for a gap is late for no one while it waits.
   */
  period: number;
  /** In the run of consecutive nonces after the committed one: proposable now, or in flight. */
  ready: boolean;
}

interface SenderQueue {
  /** The sender's key, hex. */
  sender: string;
  /** Sorted by nonce, then by arrival. */
  entries: Entry[];
  /** The sender's last committed nonce as known here; null without a lookup (every entry is ready). */
  committed: number | null;
  /** The last nonce of the run of consecutive nonces after `committed`. */
  runEnd: number;
  ready: number;
}

export class Mempool {
  readonly #chainId: string;
  readonly #maxTxs: number;
  /** By tx hash. */
  readonly #entries = new Map<string, Entry>();
  /** Per sender (hex). */
  readonly #bySender = new Map<string, SenderQueue>();
  /** Hashes of transactions whose signature verified, admitted or seen in a valid proposal. */
  readonly #verified = new Set<string>();
  #ready = 0;
  /** The latest request-timer period an admission was made in. */
  #period = 0;

  constructor(chainId: string, maxTxs: number) {
    this.#chainId = chainId;
    this.#maxTxs = maxTxs;
  }

  /**
   * Transactions that can be proposed now or are in flight. Held ones (after a nonce gap) are left
   * out: nothing can be done with them, so they must not make a primary look slow.
   */
  get size(): number {
    return this.#ready;
  }

  /** Transactions waiting for an earlier nonce of their sender. */
  get held(): number {
    return this.#entries.size - this.#ready;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** The pending transaction with hex hash `id`, proposable or held. */
  tx(id: string): Transaction | undefined {
    return this.#entries.get(id)?.tx;
  }

  /**
   * `isCommitted` tells whether a transaction hash is already on chain (recently);
   * `signatureChecked`: the caller verified the signature already, which is remembered, not redone;
   * `lookup`: the sender's committed account, which turns on the sender rules.
   */
  admit(
    tx: Transaction,
    isCommitted: (id: string) => boolean,
    period = 0,
    signatureChecked = false,
    lookup?: SenderLookup,
  ): AdmitResult {
    if (tx.chainId !== this.#chainId) return 'wrong-chain';
    const id = hex(txHash(tx));
    if (this.#entries.has(id)) return 'duplicate';
    if (isCommitted(id)) return 'committed';
    if (this.#entries.size >= this.#maxTxs) return 'full';
    this.#period = Math.max(this.#period, period);
    const sender = hex(tx.sender);
    const queue = this.#bySender.get(sender);
    let committed: number | null = null;
    if (lookup) {
      const account = lookup(tx.sender);
      // The lookup's state may lag this core's commits by a step; what was seen committed stays.
      committed = Math.max(account.nonce, queue?.committed ?? 0);
      const refused = senderRefusal({ registered: account.registered, nonce: committed }, tx.nonce);
      if (refused) return refused;
      if (queue) this.#advance(queue, committed);
      const full = this.#bounded(queue ?? newQueue(sender, committed), tx.nonce);
      if (full) return full;
    }
    if (signatureChecked) this.#remember(id);
    else if (!this.verify(tx, id)) return 'bad-signature';
    this.#insert(queue ?? newQueue(sender, committed), { tx, id, period, ready: false });
    return 'admitted';
  }

  /** Whether the sender's queue takes one more transaction with `nonce`, or why not. */
  #bounded(queue: SenderQueue, nonce: number): AdmitResult | null {
    if (queue.entries.length >= senderCap(this.#maxTxs)) return 'sender-full';
    if (nonce <= queue.runEnd + 1) return null;
    const held = queue.entries.length - queue.ready;
    if (held >= HELD_PER_SENDER || this.held >= heldCap(this.#maxTxs)) return 'held-full';
    return null;
  }

  #insert(queue: SenderQueue, entry: Entry): void {
    this.#entries.set(entry.id, entry);
    const { entries } = queue;
    let at = entries.length;
    while (at > 0 && entries[at - 1]!.tx.nonce > entry.tx.nonce) at--;
    entries.splice(at, 0, entry);
    this.#bySender.set(queue.sender, queue);
    this.#recount(queue);
  }

  /** Raises what is known of the sender's committed nonce, dropping what can no longer commit. */
  #advance(queue: SenderQueue, committed: number): void {
    if (queue.committed === null || committed <= queue.committed) return;
    queue.committed = committed;
    const stale = queue.entries.filter((e) => e.tx.nonce <= committed);
    for (const entry of stale) this.#entries.delete(entry.id);
    if (stale.length > 0) queue.entries = queue.entries.filter((e) => e.tx.nonce > committed);
    this.#settle(queue);
  }

  /** Recounts a sender's queue after removals; an empty one is forgotten (the lookup knows it). */
  #settle(queue: SenderQueue): void {
    this.#recount(queue);
    if (queue.entries.length === 0) this.#bySender.delete(queue.sender);
  }

  /** Marks the entries in the run of consecutive nonces after the committed one as ready. */
  #recount(queue: SenderQueue): void {
    let ready = 0;
    let runEnd = queue.committed ?? 0;
    for (const entry of queue.entries) {
      const nonce = entry.tx.nonce;
      const inRun = queue.committed === null || nonce <= runEnd || nonce === runEnd + 1;
      if (inRun && queue.committed !== null) runEnd = Math.max(runEnd, nonce);
      if (inRun && !entry.ready) entry.period = Math.max(entry.period, this.#period);
      entry.ready = inRun;
      if (inRun) ready++;
    }
    this.#ready += ready - queue.ready;
    queue.ready = ready;
    queue.runEnd = runEnd;
  }

  /** Verifies a transaction signature once per hash, remembering success. */
  verify(tx: Transaction, id: string): boolean {
    if (this.#verified.has(id)) return true;
    if (!verifyTransactionSignature(tx)) return false;
    this.#remember(id);
    return true;
  }

  #remember(id: string): void {
    // A cache: transactions seen only in proposals that never commit must not pile up.
    if (this.#verified.size >= 4 * this.#maxTxs) this.#verified.clear();
    this.#verified.add(id);
  }

  /**
   * Up to `max` proposable transactions not in `exclude` (those in flight), senders in turn: per
   * sender, the run of consecutive nonces after its committed one, one transaction per nonce (the
   * first to arrive); a nonce with a transaction in flight is filled already.
   */
  batch(max: number, exclude: ReadonlySet<string>): Transaction[] {
    return this.#roundRobin(max, (queue) => proposable(queue, exclude));
  }

  /** Up to `max` pending transactions, held ones too, each sender's in nonce order, senders in turn. */
  pending(max: number): Transaction[] {
    return this.#roundRobin(max, (queue) => queue.entries.map((e) => e.tx)[Symbol.iterator]());
  }

  #roundRobin(max: number, of: (queue: SenderQueue) => Iterator<Transaction>): Transaction[] {
    const out: Transaction[] = [];
    const cursors = [...this.#bySender.values()].map(of);
    while (out.length < max && cursors.length > 0) {
      for (let i = 0; i < cursors.length && out.length < max; ) {
        const next = cursors[i]!.next();
        if (next.done) {
          cursors.splice(i, 1);
          continue;
        }
        out.push(next.value);
        i++;
      }
    }
    return out;
  }

  /**
   * Drops the transactions of a committed block (`ids`, hex hashes of `txs`), and every pending
   * transaction of their senders whose nonce the block used: a different transaction with a used
   * nonce can never commit. `period` is the request-timer period now, from which what the block
   * unblocked waits.
   */
  remove(ids: Iterable<string>, txs: readonly Transaction[] = [], period = 0): void {
    this.#period = Math.max(this.#period, period);
    const touched = new Set<SenderQueue>();
    for (const id of ids) {
      this.#verified.delete(id);
      const entry = this.#entries.get(id);
      if (!entry) continue;
      this.#entries.delete(id);
      const queue = this.#bySender.get(hex(entry.tx.sender))!;
      queue.entries.splice(queue.entries.indexOf(entry), 1);
      touched.add(queue);
    }
    // In block order, as the rule engine takes a nonce: only the next one counts.
    const used = new Map<SenderQueue, number>();
    for (const tx of txs) {
      const queue = this.#bySender.get(hex(tx.sender));
      if (queue?.committed === null || queue === undefined) continue;
      const last = used.get(queue) ?? queue.committed;
      if (tx.nonce === last + 1) used.set(queue, tx.nonce);
    }
    for (const [queue, nonce] of used) {
      touched.delete(queue);
      this.#advance(queue, nonce);
    }
    for (const queue of touched) this.#settle(queue);
  }

  /**
   * Asks the lookup again for each sender with held transactions. What this mempool knows of a
   * sender's committed nonce can fall behind the chain (the lookup lags a commit by a step, and a
   * block's nonces count only from a known one), and a transaction held behind a nonce the chain has
   * used would otherwise wait for ever; the core calls this every STATUS period.
   */
  refreshHeld(lookup: SenderLookup): void {
    for (const queue of [...this.#bySender.values()]) {
      if (queue.committed === null || queue.ready === queue.entries.length) continue;
      this.#advance(queue, lookup(Buffer.from(queue.sender, 'hex')).nonce);
    }
  }

  /** Up to `max` proposable transactions waiting since `period` or before, in admission order. */
  waitingSince(period: number, max: number): Transaction[] {
    const out: Transaction[] = [];
    for (const entry of this.#entries.values()) {
      if (out.length >= max) break;
      if (entry.ready && entry.period <= period) out.push(entry.tx);
    }
    return out;
  }

  /**
   * The earliest period since which a proposable transaction not in `exclude` (those in flight)
   * waits (Infinity when none).
   */
  oldestPeriod(exclude: ReadonlySet<string> = new Set()): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries.values())
      if (entry.ready && !exclude.has(entry.id)) oldest = Math.min(oldest, entry.period);
    return oldest;
  }

  /** The period since which the proposable transaction `id` waits, or undefined if none waits here. */
  waitingPeriod(id: string): number | undefined {
    const entry = this.#entries.get(id);
    return entry?.ready ? entry.period : undefined;
  }
}

function newQueue(sender: string, committed: number | null): SenderQueue {
  return { sender, entries: [], committed, runEnd: committed ?? 0, ready: 0 };
}

/** A sender's proposable transactions, in nonce order (see Mempool.batch). */
function* proposable(queue: SenderQueue, exclude: ReadonlySet<string>): Generator<Transaction> {
  const { entries } = queue;
  for (let at = 0; at < entries.length && entries[at]!.ready; ) {
    if (queue.committed === null) {
      // Without sender rules, every transaction is its own.
      const entry = entries[at++]!;
      if (!exclude.has(entry.id)) yield entry.tx;
      continue;
    }
    const nonce = entries[at]!.tx.nonce;
    let end = at;
    let inFlight = false;
    for (; end < entries.length && entries[end]!.tx.nonce === nonce; end++) {
      if (exclude.has(entries[end]!.id)) inFlight = true;
    }
    if (!inFlight) yield entries[at]!.tx;
    at = end;
  }
}
