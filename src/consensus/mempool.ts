/**
 * The mempool: admitted client transactions waiting to be committed, bounded in size.
 *
 * Each transaction's signature is verified once, on admission (or by the driver before it, which
 * says so: the node's API checks it to answer the client at once); proposal validation reuses that
 * result through `isVerified`. Batches take each sender's transactions in nonce order and go round
 * the senders, so one busy sender cannot starve the others.
 */

import { hex } from '../hex.ts';
import { type Transaction, txHash, verifyTransactionSignature } from '../ledger/index.ts';

export type AdmitResult = 'admitted' | 'duplicate' | 'full' | 'bad-signature' | 'wrong-chain' | 'committed';

interface Entry {
  tx: Transaction;
  id: string;
  /** The request-timer period in which it was admitted (the core has no clock; periods count time). */
  period: number;
}

export class Mempool {
  readonly #chainId: string;
  readonly #maxTxs: number;
  /** By tx hash. */
  readonly #entries = new Map<string, Entry>();
  /** Per sender (hex), entries sorted by nonce. */
  readonly #bySender = new Map<string, Entry[]>();
  /** Hashes of transactions whose signature verified, admitted or seen in a valid proposal. */
  readonly #verified = new Set<string>();

  constructor(chainId: string, maxTxs: number) {
    this.#chainId = chainId;
    this.#maxTxs = maxTxs;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /**
   * `isCommitted` tells whether a transaction hash is already on chain (recently);
   * `signatureChecked`: the caller verified the signature already, which is remembered, not redone.
   */
  admit(
    tx: Transaction,
    isCommitted: (id: string) => boolean,
    period = 0,
    signatureChecked = false,
  ): AdmitResult {
    if (tx.chainId !== this.#chainId) return 'wrong-chain';
    const id = hex(txHash(tx));
    if (this.#entries.has(id)) return 'duplicate';
    if (isCommitted(id)) return 'committed';
    if (this.#entries.size >= this.#maxTxs) return 'full';
    if (signatureChecked) this.#remember(id);
    else if (!this.verify(tx, id)) return 'bad-signature';
    const entry = { tx, id, period };
    this.#entries.set(id, entry);
    const sender = hex(tx.sender);
    const queue = this.#bySender.get(sender) ?? [];
    let at = queue.length;
    while (at > 0 && queue[at - 1]!.tx.nonce > tx.nonce) at--;
    queue.splice(at, 0, entry);
    this.#bySender.set(sender, queue);
    return 'admitted';
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

  /** Up to `max` transactions not in `exclude`, each sender's in nonce order, senders in turn. */
  batch(max: number, exclude: ReadonlySet<string>): Transaction[] {
    const out: Transaction[] = [];
    const cursors = [...this.#bySender.values()].map((queue) => ({ queue, at: 0 }));
    while (out.length < max && cursors.length > 0) {
      for (let i = 0; i < cursors.length && out.length < max; ) {
        const cursor = cursors[i]!;
        while (cursor.at < cursor.queue.length && exclude.has(cursor.queue[cursor.at]!.id)) cursor.at++;
        if (cursor.at >= cursor.queue.length) {
          cursors.splice(i, 1);
          continue;
        }
        out.push(cursor.queue[cursor.at++]!.tx);
        i++;
      }
    }
    return out;
  }

  /** Drops committed transactions. */
  remove(ids: Iterable<string>): void {
    for (const id of ids) {
      const entry = this.#entries.get(id);
      this.#verified.delete(id);
      if (!entry) continue;
      this.#entries.delete(id);
      const sender = hex(entry.tx.sender);
      const queue = this.#bySender.get(sender)!;
      queue.splice(queue.indexOf(entry), 1);
      if (queue.length === 0) this.#bySender.delete(sender);
    }
  }

  /** The earliest admission period among pending transactions (Infinity when empty). */
  oldestPeriod(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries.values()) oldest = Math.min(oldest, entry.period);
    return oldest;
  }
}
