/**
 * The simulator's event queue: a binary min-heap ordered by (virtual time, insertion sequence).
 *
 * Two events at the same virtual time come out in the order they were scheduled, so a run depends
 * only on the seed, never on heap internals or on float ties.
 */
import { assert } from '../errors.ts';

interface Entry<T> {
  time_ms: number;
  seq: number;
  item: T;
}

export class EventQueue<T> {
  readonly #heap: Entry<T>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time_ms: number, item: T): void {
    assert(Number.isFinite(time_ms) && time_ms >= 0, `event time ${time_ms} is a finite, non-negative ms`);
    const heap = this.#heap;
    heap.push({ time_ms, seq: this.#seq++, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Time of the earliest event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.#heap[0]?.time_ms;
  }

  pop(): { time_ms: number; item: T } | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && before(heap[left]!, heap[least]!)) least = left;
        if (right < heap.length && before(heap[right]!, heap[least]!)) least = right;
        if (least === i) break;
        [heap[i], heap[least]] = [heap[least]!, heap[i]!];
        i = least;
      }
    }
    return { time_ms: top.time_ms, item: top.item };
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.time_ms < b.time_ms || (a.time_ms === b.time_ms && a.seq < b.seq);
}
