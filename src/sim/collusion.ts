/**
 * The Byzantine replicas' shared board: PBFT assumes the f faulty replicas collude, so what one of
 * them proposes or sees (including an equivocating primary's two blocks, and who was sent which) is
 * known to all of them at once, and their votes can back each block towards the replicas that hold it.
 */
import type { PrePrepare, SignedProposal } from '../consensus/messages.ts';

export interface Posting {
  /** The Byzantine replica that posted it. */
  by: number;
  /** A proposal, with its transactions when known. */
  prePrepare: PrePrepare | SignedProposal;
  /** Replicas that were sent this block; null when unknown (a proposal seen on the wire). */
  targets: ReadonlySet<number> | null;
}

export class CollusionBoard {
  readonly #listeners: Array<(posting: Posting) => void> = [];

  /** Every Byzantine replica listens; posting tells all the others, synchronously, in listen order. */
  listen(listener: (posting: Posting) => void): void {
    this.#listeners.push(listener);
  }

  post(posting: Posting): void {
    for (const listener of this.#listeners) listener(posting);
  }
}
