/**
 * Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.
 *
 * The decoder refuses a frame whose declared length is over the protocol's limit as soon as the
 * 4 header bytes arrive, before buffering any of it, so a peer cannot make us hold more than one
 * frame's worth of memory per stream.
 */
import { MedledgerError } from '../errors.ts';

export const FRAME_HEADER_BYTES = 4;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Anything with `subarray()`: a Uint8Array or libp2p's Uint8ArrayList. */
type Chunk = Uint8Array | { subarray(): Uint8Array };

export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #buffered: Uint8Array[] = [];
  #bufferedBytes = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Adds received bytes; returns every frame they complete. Throws P2P_FRAME_TOO_LARGE. */
  push(chunk: Chunk): Uint8Array[] {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
    if (bytes.length > 0) {
      this.#buffered.push(bytes);
      this.#bufferedBytes += bytes.length;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.#bufferedBytes < FRAME_HEADER_BYTES) return frames;
      const head = this.#peek(FRAME_HEADER_BYTES);
      const length = new DataView(head.buffer, head.byteOffset, FRAME_HEADER_BYTES).getUint32(0);
      if (length > this.#maxFrameBytes) {
        throw new MedledgerError(
          'P2P_FRAME_TOO_LARGE',
          `a frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes}`,
        );
      }
      if (this.#bufferedBytes < FRAME_HEADER_BYTES + length) return frames;
      frames.push(this.#take(FRAME_HEADER_BYTES + length).subarray(FRAME_HEADER_BYTES));
    }
  }

  #peek(count: number): Uint8Array {
    const first = this.#buffered[0]!;
    if (first.length >= count) return first.subarray(0, count);
    return Buffer.concat(this.#buffered).subarray(0, count);
  }

  #take(count: number): Uint8Array {
    const all = this.#buffered.length === 1 ? this.#buffered[0]! : Buffer.concat(this.#buffered);
    const taken = all.subarray(0, count);
    const rest = all.subarray(count);
    this.#buffered = rest.length > 0 ? [rest] : [];
    this.#bufferedBytes = rest.length;
    return taken;
  }
}
