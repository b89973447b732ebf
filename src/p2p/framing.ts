/**
 * Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.
 *
 * The decoder refuses a frame whose declared length is over the protocol's limit as soon as the
 * 4 header bytes arrive, before buffering any of it, so a peer cannot make us hold more than one
 * frame's worth of memory per stream.
 *
 * Memory: a frame that lies whole inside one received chunk is returned as a view of that chunk (no
 * copy). A frame spread over chunks is copied, chunk by chunk, into one buffer allocated when its
 * header arrives; received chunks are never concatenated, so a 40 MiB frame costs 40 MiB once, not
 * its chunks plus their concatenation. The allocation is not zero-filled (every byte is overwritten
 * before the frame is handed out), so the pages of a large frame are committed only as its bytes
 * arrive, and a peer that announces a large frame and goes silent holds little real memory; the
 * host's frame deadline (`frameDeadline_ms`) bounds how long it may hold even that.
 */
import { MedledgerError } from '../errors.ts';

export const FRAME_HEADER_BYTES = 4;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** The slowest a peer may send the rest of a frame once its header is in: a floor plus a rate. */
export interface FrameDeadline {
  /** Time allowed for any frame, however small. */
  floor_ms: number;
  /** The slowest accepted rate for the frame's bytes beyond what the floor allows. */
  minBytesPerSecond: number;
}

/** 10 s, plus a second for each MiB: a 48 MiB frame has 58 s to arrive. */
export const DEFAULT_FRAME_DEADLINE: FrameDeadline = { floor_ms: 10_000, minBytesPerSecond: 1 << 20 };

/** How long the body of a frame of `length` bytes may take to arrive after its header. */
export function frameDeadline_ms(length: number, deadline: FrameDeadline): number {
  return deadline.floor_ms + Math.ceil((length * 1000) / deadline.minBytesPerSecond);
}

/**
 * Holds a decoder's frames to their deadline: `check()` after each chunk starts the deadline of a
 * frame that has begun (frameDeadline_ms of its declared length) and clears it once no frame is in
 * progress; `onLate` runs if a frame is still incomplete at its deadline.
 */
export class FrameDeadlineWatch {
  readonly #decoder: FrameDecoder;
  readonly #deadline: FrameDeadline;
  readonly #onLate: () => void;
  #timer: NodeJS.Timeout | undefined;
  /** The number of the frame whose deadline runs. */
  #watched: number | undefined;

  constructor(decoder: FrameDecoder, deadline: FrameDeadline, onLate: () => void) {
    this.#decoder = decoder;
    this.#deadline = deadline;
    this.#onLate = onLate;
  }

  check(): void {
    const partial = this.#decoder.partial;
    if (partial?.index === this.#watched) return;
    this.stop();
    if (partial === undefined) return;
    this.#watched = partial.index;
    this.#timer = setTimeout(this.#onLate, frameDeadline_ms(partial.length, this.#deadline));
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watched = undefined;
  }
}

/** Received bytes: a Uint8Array, or libp2p's Uint8ArrayList (an iterable of Uint8Arrays). */
type Chunk = Uint8Array | Iterable<Uint8Array>;

export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerBytes = 0;
  /** The frame being filled, once its header is in; null between frames. */
  #frame: Uint8Array | null = null;
  #frameBytes = 0;
  #completed = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /**
   * The frame whose header has arrived but whose body has not all arrived: its number (frames
   * completed before it) and declared length. Undefined between frames.
   */
  get partial(): { index: number; length: number } | undefined {
    return this.#frame ? { index: this.#completed, length: this.#frame.length } : undefined;
  }

  /** Adds received bytes; returns every frame they complete. Throws P2P_FRAME_TOO_LARGE. */
  push(chunk: Chunk): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (const bytes of chunk instanceof Uint8Array ? [chunk] : chunk) this.#consume(bytes, frames);
    return frames;
  }

  #consume(bytes: Uint8Array, frames: Uint8Array[]): void {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#frame === null) {
        offset += this.#fillHeader(bytes, offset);
        if (this.#headerBytes < FRAME_HEADER_BYTES) return;
        const length = this.#takeLength();
        // The whole frame is in this chunk: hand out a view of it, copying nothing.
        if (bytes.length - offset >= length) {
          frames.push(bytes.subarray(offset, offset + length));
          offset += length;
          this.#completed++;
          continue;
        }
        this.#frame = Buffer.allocUnsafeSlow(length);
        this.#frameBytes = 0;
      }
      const take = Math.min(bytes.length - offset, this.#frame.length - this.#frameBytes);
      this.#frame.set(bytes.subarray(offset, offset + take), this.#frameBytes);
      this.#frameBytes += take;
      offset += take;
      if (this.#frameBytes === this.#frame.length) {
        frames.push(this.#frame);
        this.#frame = null;
        this.#completed++;
      }
    }
  }

  /** Copies what is missing of the header from `bytes` at `offset`; returns how many bytes it took. */
  #fillHeader(bytes: Uint8Array, offset: number): number {
    const take = Math.min(bytes.length - offset, FRAME_HEADER_BYTES - this.#headerBytes);
    this.#header.set(bytes.subarray(offset, offset + take), this.#headerBytes);
    this.#headerBytes += take;
    return take;
  }

  /** The complete header's length, checked against the limit; readies the header for the next frame. */
  #takeLength(): number {
    this.#headerBytes = 0;
    const length = new DataView(this.#header.buffer).getUint32(0);
    if (length > this.#maxFrameBytes) {
      throw new MedledgerError(
        'P2P_FRAME_TOO_LARGE',
        `a frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes}`,
      );
    }
    return length;
  }
}
