/**
 * Proposal bodies: the blocks a replica holds by hash, and the re-proposals it waits to complete.
 *
 * VIEW-CHANGEs and NEW-VIEWs name proposals by signed header only (messages.ts: a PRE-PREPARE's
 * signature covers its block hash), so a view change costs headers, not transactions. A replica
 * takes a re-proposal up with the block it holds; otherwise it asks the peers whose VIEW-CHANGEs
 * prepared it. Any of them may answer: a body counts only if it hashes to the signed header and its
 * transactions to the header's txRoot. Liveness: a prepared block was accepted by a quorum, so f+1
 * honest replicas hold it; asking f+1 of the holders named reaches at least one honest one, and the
 * others are asked too on each retry.
 *
 * Pure bookkeeping for the replica: no I/O, no clock.
 */
import { bytesEqual, hex } from '../bytes.ts';
import { type Block, blockHash, merkleRoot, txHash } from '../ledger/index.ts';
import { type PrePrepare, type SignedProposal, withBody } from './messages.ts';

interface Wanted {
  proposal: SignedProposal;
  /** Peers whose VIEW-CHANGE carried this block's prepared certificate, or who proposed it. */
  holders: number[];
}

export class ProposalBodies {
  /** Blocks of accepted or prepared proposals above the stable checkpoint, by hex hash. */
  readonly #known = new Map<string, Block>();
  /** Re-proposals of the current view waiting for their transactions, by hex hash. */
  readonly #wanted = new Map<string, Wanted>();

  /** `hash`: the block's hex hash, when the caller has it already. */
  remember(block: Block, hash = hex(blockHash(block.header))): void {
    this.#known.set(hash, block);
  }

  /** The block with this hex hash, if held. */
  get(hash: string): Block | undefined {
    return this.#known.get(hash);
  }

  /** Notes a re-proposal whose transactions must be asked for. */
  want(proposal: SignedProposal, holders: number[]): void {
    this.#wanted.set(hex(blockHash(proposal.header)), { proposal, holders });
  }

  get waiting(): number {
    return this.#wanted.size;
  }

  /** The hashes to ask each peer for: `spread` holders per body (all of them when null). */
  requests(spread: number | null): Map<number, Uint8Array[]> {
    const byPeer = new Map<number, Uint8Array[]>();
    for (const { proposal, holders } of this.#wanted.values()) {
      const hash = blockHash(proposal.header);
      for (const peer of spread === null ? holders : holders.slice(0, spread)) {
        const list = byPeer.get(peer);
        if (list) list.push(hash);
        else byPeer.set(peer, [hash]);
      }
    }
    return byPeer;
  }

  /**
   * The PRE-PREPARE a received block completes, or null when it is not wanted or does not match
   * its signed header (a lying peer's answer is dropped, and the body is asked for again later).
   */
  complete(block: Block): PrePrepare | null {
    const hash = hex(blockHash(block.header));
    const wanted = this.#wanted.get(hash);
    if (!wanted || !bytesEqual(merkleRoot(block.txs.map(txHash)), block.header.txRoot)) return null;
    this.#wanted.delete(hash);
    this.#known.set(hash, block);
    return withBody(wanted.proposal, block);
  }

  /** Forgets the re-proposals of a view being left. */
  forgetWanted(): void {
    this.#wanted.clear();
  }

  /** Forgets the blocks at or below `height` (the stable checkpoint: nothing there is re-proposed). */
  prune(height: number): void {
    for (const [hash, block] of this.#known) if (block.header.height <= height) this.#known.delete(hash);
    for (const [hash, { proposal }] of this.#wanted) if (proposal.height <= height) this.#wanted.delete(hash);
  }
}
