/**
 * The record manifest: a small blob that names a record's chunks. A record's CID is the CID of its
 * manifest, so the one CID on chain pins every byte of the ciphertext.
 *
 * Encoding: the canonical codec (src/codec: msgpack over fixed-order arrays) of
 *
 *     Manifest = [ format: "medledger/manifest/1", size: uint, chunkSize: uint,
 *                  chunks: [ [cid: bytes(36), size: uint], … ] ]
 *
 * stored as a raw blob (CIDv1, raw codec, sha2-256) like the chunks themselves: IPFS tools see opaque
 * bytes under a valid CID, and no second codec is needed. The format string makes a manifest
 * recognisable and versioned. Every record has a manifest, even a one-chunk one, so a record CID
 * always names a manifest. Chunking is canonical: every chunk is exactly `chunkSize` (1 MiB) bytes
 * except the last, which holds 1..chunkSize bytes; an empty record has no chunks. The same
 * ciphertext therefore always has the same manifest and the same record CID.
 */
import { bytes, CodecError, decode, encode, type Infer, list, oneOf, struct, uint } from '../codec/index.ts';
import { type CID, CID_BYTES, parseCid } from './cid.ts';
import { CHUNK_BYTES, MAX_MANIFEST_CHUNKS, MAX_RECORD_BYTES_LIMIT } from './constants.ts';
import { StoreError } from './errors.ts';

export const MANIFEST_FORMAT = 'medledger/manifest/1';

const ManifestChunkSchema = struct('ManifestChunk', { cid: bytes(CID_BYTES), size: uint(CHUNK_BYTES) });
export const ManifestSchema = struct('Manifest', {
  format: oneOf([MANIFEST_FORMAT]),
  size: uint(MAX_RECORD_BYTES_LIMIT),
  chunkSize: uint(CHUNK_BYTES),
  chunks: list(ManifestChunkSchema, MAX_MANIFEST_CHUNKS),
});
type ManifestWire = Infer<typeof ManifestSchema>;

/** Upper bound of an encoded manifest (a manifest larger than this is refused before decoding). */
export const MAX_MANIFEST_BYTES = 64 + MAX_MANIFEST_CHUNKS * (CID_BYTES + 8);

export interface ManifestChunk {
  cid: CID;
  size: number;
}

export interface Manifest {
  /** Total ciphertext bytes of the record. */
  size: number;
  chunkSize: number;
  chunks: ManifestChunk[];
}

/** Number of chunks a record of `size` bytes has under canonical chunking. */
export function chunkCount(size: number, chunkSize = CHUNK_BYTES): number {
  return Math.ceil(size / chunkSize);
}

function invalid(why: string, cause?: unknown): StoreError {
  return new StoreError('STORE_BAD_MANIFEST', `The blob is not a valid record manifest: ${why}.`, { cause });
}

/** Checks canonical chunking and that every chunk CID is CIDv1 raw sha2-256. */
function check(manifest: Manifest): void {
  if (manifest.chunkSize !== CHUNK_BYTES)
    throw invalid(`chunk size ${manifest.chunkSize}, not ${CHUNK_BYTES}`);
  const expected = chunkCount(manifest.size, manifest.chunkSize);
  if (manifest.chunks.length !== expected) {
    throw invalid(`${manifest.chunks.length} chunks for ${manifest.size} bytes, expected ${expected}`);
  }
  manifest.chunks.forEach((chunk, i) => {
    const size = i < expected - 1 ? manifest.chunkSize : manifest.size - (expected - 1) * manifest.chunkSize;
    if (chunk.size !== size) throw invalid(`chunk ${i} is ${chunk.size} bytes, expected ${size}`);
  });
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  check(manifest);
  const wire: ManifestWire = {
    format: MANIFEST_FORMAT,
    size: manifest.size,
    chunkSize: manifest.chunkSize,
    chunks: manifest.chunks.map((chunk) => ({ cid: chunk.cid.bytes, size: chunk.size })),
  };
  return encode(ManifestSchema, wire);
}

/** Decodes and checks a manifest; anything else is STORE_BAD_MANIFEST. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  let wire: ManifestWire;
  try {
    wire = decode(ManifestSchema, bytes, MAX_MANIFEST_BYTES);
  } catch (cause) {
    if (cause instanceof CodecError) throw invalid(cause.message, cause);
    throw cause;
  }
  let chunks: ManifestChunk[];
  try {
    chunks = wire.chunks.map((chunk) => ({ cid: parseCid(chunk.cid), size: chunk.size }));
  } catch (cause) {
    throw invalid('a chunk CID is not CIDv1 raw sha2-256', cause);
  }
  const manifest = { size: wire.size, chunkSize: wire.chunkSize, chunks };
  check(manifest);
  return manifest;
}
