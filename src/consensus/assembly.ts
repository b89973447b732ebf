/**
 * Proposals sent by hash (messages.ts PROPOSAL), assembled into the PRE-PREPAREs they stand for.
 *
 * A new proposal names its transactions by hash. A backup fills each from its mempool; what it lacks
 * it asks the proposer for (GET-TXS, by place in the block), and it also takes a missing transaction
 * from its own admissions, as gossip that was still on its way lands. Whoever supplies a transaction,
 * it counts only if it hashes to the hash the proposal names, so a lying peer can only fail to help.
 * Once every place is filled, the replica handles the PRE-PREPARE as if it had come whole: the header
 * signature, the txRoot and every transaction are checked there.
 *
 * Bounded: at most MAX_ASSEMBLING proposals wait, each for at most its own transaction count.
 * Pure bookkeeping for the replica: no I/O, no clock.
 */
import { hex } from '../bytes.ts';
import { blockHash, type Transaction } from '../ledger/index.ts';
import type { PrePrepare, ProposalByHash } from './messages.ts';

/** Proposals waiting for transactions at once (a window of heights, in this view and the next two). */
export const MAX_ASSEMBLING = 64;

interface Assembling {
  proposal: ProposalByHash;
  /** The block's hash (hex), as GET-TXS names it. */
  hash: string;
  txs: Array<Transaction | undefined>;
  /** Places still empty, by the hex hash the proposal names there. */
  missing: Map<string, number[]>;
}

/** What to ask for: the proposer, the block's hash, the places still empty. */
export interface TxRequest {
  to: number;
  blockHash: Uint8Array;
  indexes: number[];
}

export class ProposalAssembly {
  /** By the block's hex hash. */
  readonly #waiting = new Map<string, Assembling>();

  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Starts assembling `proposal` from `held` (the mempool's transactions by hex hash). Returns the
   * PRE-PREPARE when nothing is missing, else the request for what is (null when the proposal is
   * assembling already, or too many are).
   */
  start(
    proposal: ProposalByHash,
    held: (id: string) => Transaction | undefined,
  ): { complete: PrePrepare } | { request: TxRequest } | null {
    const hash = hex(blockHash(proposal.header));
    if (this.#waiting.has(hash) || this.#waiting.size >= MAX_ASSEMBLING) return null;
    const entry: Assembling = { proposal, hash, txs: [], missing: new Map() };
    proposal.txHashes.forEach((txHash, index) => {
      const id = hex(txHash);
      const tx = held(id);
      entry.txs.push(tx);
      if (tx) return;
      const places = entry.missing.get(id);
      if (places) places.push(index);
      else entry.missing.set(id, [index]);
    });
    if (entry.missing.size === 0) return { complete: prePrepareOf(entry) };
    this.#waiting.set(hash, entry);
    return { request: requestOf(entry) };
  }

  /**
   * Fills the places `tx` (whose hex hash is `id`) is missing from; returns the PRE-PREPAREs this
   * completes. `blockHash`: only that proposal's places (an answer to GET-TXS), else any.
   */
  offer(tx: Transaction, id: string, blockHash?: string): PrePrepare[] {
    const complete: PrePrepare[] = [];
    const entries = blockHash === undefined ? this.#waiting.values() : [this.#waiting.get(blockHash)];
    for (const entry of entries) {
      const places = entry?.missing.get(id);
      if (!entry || !places) continue;
      for (const index of places) entry.txs[index] = tx;
      entry.missing.delete(id);
      if (entry.missing.size > 0) continue;
      this.#waiting.delete(entry.hash);
      complete.push(prePrepareOf(entry));
    }
    return complete;
  }

  /** The requests for everything still missing (asked again when an answer was lost). */
  requests(): TxRequest[] {
    return [...this.#waiting.values()].map(requestOf);
  }

  /** Forgets proposals of views below `view`, or at or below the executed `height`. */
  prune(view: number, height: number): void {
    for (const [hash, { proposal }] of this.#waiting)
      if (proposal.view < view || proposal.height <= height) this.#waiting.delete(hash);
  }
}

function requestOf(entry: Assembling): TxRequest {
  return {
    to: entry.proposal.from,
    blockHash: Buffer.from(entry.hash, 'hex'),
    indexes: [...entry.missing.values()].flat(),
  };
}

function prePrepareOf({ proposal, txs }: Assembling): PrePrepare {
  const { from, view, height, header, signature } = proposal;
  return { from, view, height, block: { header, txs: txs as Transaction[] }, signature };
}
