/**
 * A record's CID computed on the client, exactly as the node's store computes it: the ciphertext
 * cut into 1 MiB chunks, each named by its CID, listed in a manifest; the record CID is the
 * manifest's CID. Incremental, so a client can check what it uploads or downloads as it streams.
 */
import { createHash, type Hash } from 'node:crypto';
import { cidFromDigest, cidOf } from '../store/cid.ts';
import { CHUNK_BYTES } from '../store/constants.ts';
import { encodeManifest, type ManifestChunk } from '../store/manifest.ts';

export class RecordCidHasher {
  readonly #chunks: ManifestChunk[] = [];
  #hash: Hash = createHash('sha256');
  #filled = 0;
  #total = 0;

  /** Adds the next piece of ciphertext. */
  update(piece: Uint8Array): void {
    let offset = 0;
    while (offset < piece.length) {
      const n = Math.min(CHUNK_BYTES - this.#filled, piece.length - offset);
      this.#hash.update(piece.subarray(offset, offset + n));
      this.#filled += n;
      this.#total += n;
      offset += n;
      if (this.#filled === CHUNK_BYTES) this.#endChunk();
    }
  }

  /** Total ciphertext bytes seen. */
  get size_bytes(): number {
    return this.#total;
  }

  /** The record CID (string form) of everything added; the hasher is finished afterwards. */
  cid(): string {
    if (this.#filled > 0) this.#endChunk();
    const manifest = encodeManifest({ size: this.#total, chunkSize: CHUNK_BYTES, chunks: this.#chunks });
    return cidOf(manifest).toString();
  }

  #endChunk(): void {
    const digest = this.#hash.digest();
    this.#chunks.push({ cid: cidFromDigest(new Uint8Array(digest)), size: this.#filled });
    this.#hash = createHash('sha256');
    this.#filled = 0;
  }
}

/** The record CID of a ciphertext held in memory (as one buffer or as pieces). */
export function recordCidOf(ciphertext: Uint8Array | Iterable<Uint8Array>): string {
  const hasher = new RecordCidHasher();
  if (ciphertext instanceof Uint8Array) hasher.update(ciphertext);
  else for (const piece of ciphertext) hasher.update(piece);
  return hasher.cid();
}
