/**
 * The state a block executes against: an in-memory overlay on the node's committed (or speculative)
 * state, and on top of it a scope per transaction, so a refused transaction's writes can be dropped
 * whole and later transactions see earlier ones' writes.
 *
 * Within a block, reads of the underlying state are remembered (the state does not change under a
 * block), and decoded values are cached next to their bytes (valid while the bytes are the same
 * object), so a bucket of a thousand policies is decoded once per block, not once per decision.
 * Large values are also kept across blocks (valid while the bytes are equal), because decoding a
 * patient's thousand policies costs milliseconds and comparing their bytes microseconds.
 *
 * Cached values are shared: handlers treat what they read as immutable and write new objects; the
 * values kept across blocks are frozen, so a handler that mutated one would fail loudly rather than
 * let one block's execution leak into another's. Caching never changes a result: a decoded value is
 * a pure function of its bytes.
 */
import { bytesEqual } from '../bytes.ts';
import { encode, type Schema } from '../codec/index.ts';
import { Reader } from '../codec/reader.ts';
import type { StateWrite } from '../ledger/types.ts';
import { type Key, keyToBytes } from './keys.ts';

/** Synchronous reads of committed and speculative state. */
export interface StateReader {
  get(key: Uint8Array): Uint8Array | undefined;
}

interface Decoded {
  bytes: Uint8Array;
  schema: Schema<unknown>;
  value: unknown;
}

/**
 * Decodes a state value with the schema's strict, bounded reader. Unlike codec.decode it skips the
 * re-encoding that proves canonical form: state values are written only by this engine, through
 * encode, so they are canonical already, and the check would double the cost of every read.
 */
export function decodeState<T>(schema: Schema<T>, bytes: Uint8Array): T {
  const reader = new Reader(bytes);
  const value = schema.read(reader, '');
  reader.done();
  return value;
}

/** Values at least this large are kept across blocks. */
const SHARED_MIN_BYTES = 4096;
const SHARED_MAX_ENTRIES = 512;
const shared = new Map<Key, Decoded>();

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** A large decoded value kept from an earlier block, if its bytes are the same. */
function sharedHit(key: Key, bytes: Uint8Array, schema: Schema<unknown>): Decoded | undefined {
  if (bytes.length < SHARED_MIN_BYTES) return undefined;
  const hit = shared.get(key);
  return hit !== undefined && hit.schema === schema && (hit.bytes === bytes || bytesEqual(hit.bytes, bytes))
    ? hit
    : undefined;
}

function share(key: Key, decoded: Decoded): void {
  if (decoded.bytes.length < SHARED_MIN_BYTES) return;
  deepFreeze(decoded.value);
  shared.delete(key); // re-inserted last: the map's order is least recently stored first
  shared.set(key, decoded);
  if (shared.size > SHARED_MAX_ENTRIES) shared.delete(shared.keys().next().value!);
}

let caching = true;

/**
 * Turns all caching of decoded values off (or back on), forgetting what was kept. Results must not
 * change: the determinism test runs with and without, and benchmarks use it to measure decoding.
 */
export function setDecodeCaching(on: boolean): void {
  caching = on;
  shared.clear();
}

export class BlockOverlay {
  readonly #base: StateReader;
  /** null: deleted by this block. */
  readonly #writes = new Map<Key, Uint8Array | null>();
  /** What the base state holds, as read so far. */
  readonly #read = new Map<Key, Uint8Array | undefined>();
  readonly #decoded = new Map<Key, Decoded>();

  constructor(base: StateReader) {
    this.#base = base;
  }

  /** The value under `key`, undefined when absent or deleted. */
  lookup(key: Key): Uint8Array | undefined {
    const written = this.#writes.get(key);
    if (written !== undefined) return written ?? undefined;
    if (this.#read.has(key)) return this.#read.get(key);
    const value = this.#base.get(keyToBytes(key));
    this.#read.set(key, value);
    return value;
  }

  /** The decoded value of `bytes` stored under `key`, decoding only when the bytes changed. */
  decoded<T>(key: Key, bytes: Uint8Array, schema: Schema<T>): T {
    if (!caching) return decodeState(schema, bytes);
    const hit = this.#decoded.get(key);
    if (hit !== undefined && hit.bytes === bytes && hit.schema === schema) return hit.value as T;
    const kept = sharedHit(key, bytes, schema as Schema<unknown>);
    if (kept !== undefined) {
      this.#decoded.set(key, { ...kept, bytes });
      return kept.value as T;
    }
    const decoded: Decoded = { bytes, schema: schema as Schema<unknown>, value: decodeState(schema, bytes) };
    this.#decoded.set(key, decoded);
    // Only values decoded from bytes are kept across blocks: they are exactly what any node decodes.
    share(key, decoded);
    return decoded.value as T;
  }

  /** Caches the value a handler just wrote, for later transactions of this block. */
  remember<T>(key: Key, bytes: Uint8Array, schema: Schema<T>, value: T): void {
    if (caching) this.#decoded.set(key, { bytes, schema: schema as Schema<unknown>, value });
  }

  apply(writes: Map<Key, Uint8Array | null>): void {
    for (const [key, value] of writes) this.#writes.set(key, value);
  }

  /** The block's writes: sorted by key bytes (latin1 string order is byte order), null deletes. */
  writes(): StateWrite[] {
    return [...this.#writes.keys()]
      .sort()
      .map((key) => ({ key: keyToBytes(key), value: this.#writes.get(key)! }));
  }
}

/** One transaction's view: reads fall through to the block; writes stay here until commit. */
export class TxScope {
  readonly #block: BlockOverlay;
  readonly #writes = new Map<Key, Uint8Array | null>();

  constructor(block: BlockOverlay) {
    this.#block = block;
  }

  bytes(key: Key): Uint8Array | undefined {
    const written = this.#writes.get(key);
    if (written !== undefined) return written ?? undefined;
    return this.#block.lookup(key);
  }

  has(key: Key): boolean {
    return this.bytes(key) !== undefined;
  }

  read<T>(schema: Schema<T>, key: Key): T | undefined {
    const bytes = this.bytes(key);
    return bytes === undefined ? undefined : this.#block.decoded(key, bytes, schema);
  }

  /** Writes `value` and returns its encoding (a caller bounding the size need not encode it again). */
  put<T>(schema: Schema<T>, key: Key, value: T): Uint8Array {
    const bytes = encode(schema, value);
    this.#writes.set(key, bytes);
    this.#block.remember(key, bytes, schema, value);
    return bytes;
  }

  putBytes(key: Key, value: Uint8Array): void {
    this.#writes.set(key, value);
  }

  delete(key: Key): void {
    this.#writes.set(key, null);
  }

  /** Makes this transaction's writes visible to the rest of the block. */
  commit(): void {
    this.#block.apply(this.#writes);
    this.#writes.clear();
  }
}
