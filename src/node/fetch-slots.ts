/**
 * At most `limit` fetches from peers at once, the rest waiting their turn in order. Once closed, no
 * fetch starts: those waiting and any asked for later reject at once with NODE_STOPPED, so a stopping
 * service waits for the few fetches already running, not for every queued one in turn (a node with a
 * few thousand records to replicate would otherwise take minutes to stop).
 */
import { MedledgerError } from '../errors.ts';

export class FetchSlots {
  readonly #limit: number;
  readonly #waiting: Array<() => void> = [];
  #running = 0;
  #closed = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `fetch` once a slot is free; rejects with NODE_STOPPED instead when closed first. */
  async run<T>(fetch: () => Promise<T>): Promise<T> {
    while (this.#running >= this.#limit && !this.#closed) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    if (this.#closed)
      throw new MedledgerError('NODE_STOPPED', 'the node is stopping: no new fetch from peers');
    this.#running++;
    try {
      return await fetch();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** Starts no more fetches; the running ones go on to their end. */
  close(): void {
    this.#closed = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }
}
