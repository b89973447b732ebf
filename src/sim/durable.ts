/**
 * What a simulated replica keeps on "disk": its committed chain (blocks with their commit
 * certificates) and the durable records its core asked to persist. It survives crashes; everything
 * else (the replica object, the executor's speculative results, timers) is lost.
 *
 * Values are copied on the way in, so nothing the replica later does to its in-memory objects can
 * change what is on disk.
 */
import { decode, encode } from '../codec/index.ts';
import type { DurableRecord, ExecutedHead, RestoredState } from '../consensus/types.ts';
import { assert } from '../errors.ts';
import { hex } from '../hex.ts';
import { Block, blockHash, CommitCertificate, txHash } from '../ledger/index.ts';

export interface CommittedEntry {
  block: Block;
  /** Null only for the genesis block. */
  certificate: CommitCertificate | null;
  hash: Uint8Array;
}

/** A replica's committed chain, genesis at index 0, one entry per height. */
export class CommittedChain {
  readonly #entries: CommittedEntry[] = [];
  readonly #heightByHash = new Map<string, number>();
  /** Hex hashes of every committed transaction: the chain's tx index. */
  readonly #txIds = new Set<string>();
  /**
   * Hex sender key → the last nonce it used, as the rule engine counts (a nonce counts only right
   * after the last one): the account the mempool's admission asks for.
   */
  readonly #lastNonce = new Map<string, number>();

  constructor(genesis: Block) {
    assert(genesis.header.height === 0, 'the chain starts at height 0');
    this.#push({ block: genesis, certificate: null, hash: blockHash(genesis.header) });
  }

  #push(entry: CommittedEntry): void {
    this.#heightByHash.set(hex(entry.hash), entry.block.header.height);
    for (const tx of entry.block.txs) {
      this.#txIds.add(hex(txHash(tx)));
      const sender = hex(tx.sender);
      if (tx.nonce === (this.#lastNonce.get(sender) ?? 0) + 1) this.#lastNonce.set(sender, tx.nonce);
    }
    this.#entries.push(entry);
  }

  /** Height of the last committed block (0: only genesis). */
  get height(): number {
    return this.#entries.length - 1;
  }

  get tip(): CommittedEntry {
    return this.#entries[this.#entries.length - 1]!;
  }

  at(height: number): CommittedEntry | undefined {
    return this.#entries[height];
  }

  /** Committed entries from height 1 up. */
  blocks(): readonly CommittedEntry[] {
    return this.#entries.slice(1);
  }

  /** Whether a transaction is on this chain (what a node's tx index answers). */
  hasTx(txHashBytes: Uint8Array): boolean {
    return this.#txIds.has(hex(txHashBytes));
  }

  /** The last nonce `sender` used on this chain (0 before its first transaction). */
  lastNonce(sender: Uint8Array): number {
    return this.#lastNonce.get(hex(sender)) ?? 0;
  }

  /** The last nonce `sender` used up to `height`: below the tip, counted again from the start. */
  lastNonceAt(sender: Uint8Array, height: number): number {
    if (height >= this.height) return this.lastNonce(sender);
    let last = 0;
    for (const { block } of this.#entries.slice(1, height + 1))
      for (const tx of block.txs)
        if (tx.nonce === last + 1 && Buffer.from(tx.sender).equals(sender)) last = tx.nonce;
    return last;
  }

  heightOf(hash: Uint8Array): number | undefined {
    return this.#heightByHash.get(hex(hash));
  }

  head(): ExecutedHead {
    const { block, hash } = this.tip;
    return {
      height: block.header.height,
      hash,
      stateRoot: block.header.stateRoot,
      timestamp: block.header.timestamp,
    };
  }

  /** Appends the next block (a private copy of it); the caller has checked it extends the tip. */
  append(block: Block, certificate: CommitCertificate): CommittedEntry {
    assert(block.header.height === this.height + 1, 'a committed block extends the tip');
    const entry = {
      block: decode(Block, encode(Block, block)),
      certificate: decode(CommitCertificate, encode(CommitCertificate, certificate)),
      hash: blockHash(block.header),
    };
    this.#push(entry);
    return entry;
  }
}

/** A replica's disk: its committed chain and the records its core persisted, in order. */
export class DurableState {
  readonly chain: CommittedChain;
  readonly #records: DurableRecord[] = [];

  constructor(genesis: Block) {
    this.chain = new CommittedChain(genesis);
  }

  persist(records: readonly DurableRecord[]): void {
    for (const record of records) this.#records.push(structuredClone(record));
  }

  get recordCount(): number {
    return this.#records.length;
  }

  /** What a restarted replica is given: its last executed block and copies of its records. */
  restore(): RestoredState {
    return { executed: this.chain.head(), records: this.#records.map((r) => structuredClone(r)) };
  }
}
