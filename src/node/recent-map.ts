/** A small in-memory map for recent things: entries expire, and the oldest go beyond a capacity. */

/** A small map that forgets entries after `ttl_ms` and its oldest beyond `capacity`. */
export class RecentMap<V> {
  readonly #entries = new Map<string, { value: V; at_ms: number }>();
  readonly #capacity: number;
  readonly #ttl_ms: number;

  constructor(capacity: number, ttl_ms: number) {
    this.#capacity = capacity;
    this.#ttl_ms = ttl_ms;
  }

  remember(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, at_ms: Date.now() });
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry || Date.now() - entry.at_ms > this.#ttl_ms) return undefined;
    return entry.value;
  }
}
