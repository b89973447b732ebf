/**
 * The validator's event queue, in two lanes. Client transactions (from clients and shared by other
 * validators) cost a signature verification each and arrive in bursts of thousands; consensus
 * messages, timers and execution results are few and each one gates progress. One FIFO would make a
 * proposal wait behind a whole burst of verifications, so peers time out and change view under load
 * although every validator is working. Consensus events therefore go first; transactions are taken
 * when no consensus event waits. Each lane keeps its own order.
 *
 * The replica is correct under any delivery order (the simulator reorders freely); this only
 * chooses a better one.
 */
import type { ConsensusEvent } from '../consensus/index.ts';

/** A FIFO with O(1) take (Array.shift is O(n) on the long queues a burst of transactions makes). */
class Lane {
  #items: ConsensusEvent[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(event: ConsensusEvent): void {
    this.#items.push(event);
  }

  take(): ConsensusEvent | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const event = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as never;
    // Compact once the consumed prefix dominates, so memory follows the queue's length.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return event;
  }
}

/**
 * Client transactions, directly or shared by a peer: verified on admission, so costly in bulk. The
 * primary's batch timer goes with them: when it fires, the transactions that arrived before it are
 * admitted first, so the block it closes holds them (consensus first, it would close near-empty
 * blocks under load, and per-block costs would swamp the machine).
 */
function isTransactions(event: ConsensusEvent): boolean {
  if (event.kind === 'txs') return true;
  if (event.kind === 'message') return event.message.kind === 'txs';
  return event.kind === 'timer' && event.timer === 'batch';
}

export class EventQueue {
  readonly #consensus = new Lane();
  readonly #transactions = new Lane();

  get length(): number {
    return this.#consensus.length + this.#transactions.length;
  }

  /** Transaction events waiting (what a flood of submissions grows). */
  get transactions(): number {
    return this.#transactions.length;
  }

  push(event: ConsensusEvent): void {
    (isTransactions(event) ? this.#transactions : this.#consensus).push(event);
  }

  /** The next event: consensus first, then transactions. */
  take(): { event: ConsensusEvent; transactions: boolean } | undefined {
    const event = this.#consensus.take();
    if (event) return { event, transactions: false };
    const tx = this.#transactions.take();
    return tx ? { event: tx, transactions: true } : undefined;
  }
}
