/** Stream helpers: fixed-size re-chunking and a look-ahead byte reader over async iterables. */
import { plainBytes } from '../bytes.ts';

/** Bytes from anywhere a caller may hold them: a Node Readable, an async generator, an array. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** A fresh, uninitialised byte array (no zero fill: every byte is written before it is read). */
export function allocBytes(length: number): Uint8Array {
  return plainBytes(Buffer.allocUnsafeSlow(length));
}

function checkPiece(piece: unknown): Uint8Array {
  if (!(piece instanceof Uint8Array)) {
    throw new TypeError('a byte source must yield Uint8Array or Buffer pieces (no string encoding)');
  }
  return piece;
}

/**
 * Cuts `source` into chunks of exactly `size` bytes (the last one shorter, never empty), each given
 * as the list of pieces (views into the source's buffers) that make it up: nothing is copied. The
 * source must not reuse a buffer after yielding it (Node streams and generators of fresh buffers
 * do not).
 */
export async function* chunkPieces(source: ByteSource, size: number): AsyncGenerator<Uint8Array[]> {
  let pieces: Uint8Array[] = [];
  let filled = 0;
  for await (const item of source) {
    const piece = checkPiece(item);
    let offset = 0;
    while (offset < piece.length) {
      const n = Math.min(size - filled, piece.length - offset);
      pieces.push(n === piece.length ? piece : piece.subarray(offset, offset + n));
      filled += n;
      offset += n;
      if (filled === size) {
        yield pieces;
        pieces = [];
        filled = 0;
      }
    }
  }
  if (filled > 0) yield pieces;
}

/** Total length of `pieces`. */
export function piecesLength(pieces: Uint8Array[]): number {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  return length;
}

/** Pulls pieces from an async iterable on demand and hands out exact byte counts. */
export class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  #pieces: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;

  constructor(source: ByteSource) {
    this.#iterator =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
        : (source as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  get buffered(): number {
    return this.#buffered;
  }

  /** Reads until at least `n` bytes are buffered or the source ends; returns the buffered count. */
  async fill(n: number): Promise<number> {
    while (this.#buffered < n && !this.#ended) {
      const next = await this.#iterator.next();
      if (next.done) {
        this.#ended = true;
        break;
      }
      const piece = checkPiece(next.value);
      if (piece.length === 0) continue;
      this.#pieces.push(piece);
      this.#buffered += piece.length;
    }
    return this.#buffered;
  }

  /** Removes and returns the next `n` buffered bytes (n <= buffered), as the pieces that hold them. */
  take(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let left = n;
    while (left > 0) {
      const head = this.#pieces[0]!;
      if (head.length <= left) {
        out.push(head);
        this.#pieces.shift();
        left -= head.length;
      } else {
        out.push(head.subarray(0, left));
        this.#pieces[0] = head.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= n;
    return out;
  }

  /** Stops the source early (runs its cleanup) when the reader is abandoned. */
  async close(): Promise<void> {
    this.#pieces = [];
    this.#buffered = 0;
    if (!this.#ended) {
      this.#ended = true;
      await this.#iterator.return?.();
    }
  }
}

/** Concatenates pieces into one array (no copy for a single piece). */
export function concatPieces(pieces: Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = allocBytes(length);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
