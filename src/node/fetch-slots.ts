/**
 * At most `limit` fetches from peers at once, the rest waiting their turn in order (a finishing fetch
 * hands its slot to the longest waiting). Once closed, no fetch starts: those waiting and any asked
 * for later reject at once with NODE_STOPPED, so a stopping service waits for the few fetches already
 * running, not for every queued one in turn (a node with a few thousand records to replicate would
 * otherwise take minutes to stop).
 */
import { MedledgerError } from '../errors.ts';

interface Waiter {
  start: () => void;
  refuse: (error: Error) => void;
}

const stopped = () => new MedledgerError('NODE_STOPPED', 'the node is stopping: no new fetch from peers');

export class FetchSlots {
  readonly #limit: number;
  readonly #waiting: Waiter[] = [];
  #running = 0;
  #closed = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `fetch` once it holds a slot; rejects with NODE_STOPPED instead when closed first. */
  async run<T>(fetch: () => Promise<T>): Promise<T> {
    if (this.#closed) throw stopped();
    if (this.#running < this.#limit) this.#running++;
    else await new Promise<void>((start, refuse) => this.#waiting.push({ start, refuse }));
    try {
      return await fetch();
    } finally {
      this.#release();
    }
  }

  /** Starts no more fetches; the running ones go on to their end. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.refuse(stopped());
  }

  /** Hands the slot to the longest waiting, or frees it. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next.start();
    else this.#running--;
  }
}
