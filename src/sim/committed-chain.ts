/**
 * The simulator's copy of what a replica committed: each block, with its certificate, as the
 * replica's chain store accepted it. The checkers, the adversaries and the progress measures read
 * it synchronously; the run ends by checking that it matches the chain store itself.
 *
 * Values are copied on the way in, so nothing the replica later does to its in-memory objects can
 * change it.
 */

import { hex } from '../bytes.ts';
import { decode, encode } from '../codec/index.ts';
import { assert } from '../errors.ts';
import { Block, blockHash, CommitCertificate } from '../ledger/index.ts';

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

  constructor(genesis: Block) {
    assert(genesis.header.height === 0, 'the chain starts at height 0');
    this.#push({ block: genesis, certificate: null, hash: blockHash(genesis.header) });
  }

  #push(entry: CommittedEntry): void {
    this.#heightByHash.set(hex(entry.hash), entry.block.header.height);
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

  heightOf(hash: Uint8Array): number | undefined {
    return this.#heightByHash.get(hex(hash));
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
