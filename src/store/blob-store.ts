/**
 * The on-disk, content-addressed blob store. It holds ciphertext only (chunks and manifests), never a
 * key and never plaintext, so a stolen disk reveals nothing without the envelopes' recipients' keys.
 *
 * ## Layout
 *
 *     <dir>/blobs/<shard>/<cid>          one file per blob, its raw bytes; <cid> is the base32 CIDv1
 *                                        and <shard> its next-to-last two characters (the IPFS flatfs
 *                                        `next-to-last/2` scheme: 1024 evenly filled directories,
 *                                        created on first use or all at once with `createShards`)
 *     <dir>/blobs/<shard>/.tmp-<cid>-<r>  a write in progress; removed when the store opens
 *     <dir>/quarantine/<cid>-<ms>        blobs found corrupted on read, kept for inspection
 *     <dir>/index/                       LevelDB: references, tombstones, pending deletions,
 *                                        envelopes (store-index.ts)
 *
 * A record is a manifest blob (manifest.ts) plus 1 MiB chunk blobs; the record's CID is the
 * manifest's CID.
 *
 * ## Guarantees
 *
 * - Atomic writes: a blob is written to a temporary file in its final directory, fdatasynced,
 *   renamed into place, and the directory fsynced (for a record: once per directory, after all its
 *   blobs are renamed). A crash leaves either the whole blob or an ignored temporary file, which the
 *   next open removes. putRecord resolves only once the manifest and every chunk are durable; a
 *   crash before that may leave some of them, which read as an incomplete record (hasRecord false,
 *   missingChunks lists the rest) until the put is retried or gc removes them.
 * - Verified reads: every read hashes the bytes and compares them with the CID. A mismatch is
 *   STORE_CORRUPT_CHUNK: the file is moved to quarantine (so `has` turns false and the node can fetch
 *   a good copy) and the corruption is reported to every `onCorrupt` listener.
 * - Checked writes: bytes uploaded under a declared CID or size that they do not match are refused
 *   (STORE_CID_MISMATCH, STORE_SIZE_MISMATCH); limits refuse oversized blobs and records early
 *   (STORE_TOO_LARGE), before more bytes are written.
 * - References and erasure: a live record references its blobs (addReference, when the record
 *   commits). erase() deletes a record's blobs on this node unless another live record still
 *   references them; the index marks deletions first, so a crash mid-erasure is finished on the
 *   next open; the tombstone keeps an erased record from being stored again. gc() removes blobs no
 *   record references once they are older than a grace period (uploads waiting for their commit).
 *
 * Concurrency within the process: blobs being written are pinned and deletions are marked, so a
 * put never loses a chunk to a concurrent erase or gc of the same bytes; index changes and
 * deletions are serialised. One process per store: the index's lock refuses a second one. Known
 * limit: between a finished put and its addReference (the upload waits for its commit) the blobs are
 * unreferenced, so erasing another record with byte-identical blobs in that window deletes them too
 * (with fresh keys per record this needs deliberately copied ciphertext); the record then reads as
 * incomplete and a re-upload or replication completes it.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { allocBytes, type ByteSource, chunkPieces, concatPieces, piecesLength } from './bytes.ts';
import { type CID, type CidLike, cidMatches, cidOf, cidOfPieces, parseCid, sameCid } from './cid.ts';
import { CHUNK_BYTES, MAX_RECORD_BYTES_LIMIT } from './constants.ts';
import { StoreError } from './errors.ts';
import {
  decodeManifest,
  encodeManifest,
  MAX_MANIFEST_BYTES,
  type Manifest,
  type ManifestChunk,
} from './manifest.ts';
import { StoreIndex } from './store-index.ts';

export interface BlobStoreOptions {
  /** Largest single blob accepted (chunk or manifest). Default and minimum: 1 MiB. */
  maxBlobBytes?: number;
  /** Largest record (total ciphertext) accepted. Default 4 GiB, at most 16 GiB. */
  maxRecordBytes?: number;
  /** gc() keeps unreferenced blobs younger than this (uploads not yet committed). Default 24 h. */
  gcGraceMs?: number;
  /**
   * Create all 1024 shard directories when opening (a one-time cost of about a second on a slow
   * disk; `medledger init` and benchmarks want it). Otherwise each is created, and its parent
   * fsynced, by the first blob that needs it. Default false.
   */
  createShards?: boolean;
  /** Chunk writes in flight per record put (overlaps hashing with fsync). Default 4. */
  writeConcurrency?: number;
  /** Called for every corrupted blob found on read (same as calling onCorrupt()). */
  onCorrupt?: (report: CorruptionReport) => void;
}

export interface StoreLimits {
  maxBlobBytes: number;
  maxRecordBytes: number;
  gcGraceMs: number;
  writeConcurrency: number;
}

/** A blob whose bytes on disk do not match its CID. */
export interface CorruptionReport {
  cid: CID;
  /** Where it was. */
  path: string;
  /** Where the bad bytes were moved, or null if the file could not be moved. */
  quarantinedTo: string | null;
  reason: string;
}

/** A record as put: its CID (the manifest's) and sizes. */
export interface StoredRecord {
  cid: CID;
  /** Ciphertext bytes. */
  size: number;
  chunks: number;
  /** Chunks this put wrote (the others were already present). */
  newChunks: number;
}

/** What the caller declared about an upload; a mismatch is refused. */
export interface Expected {
  cid?: CidLike;
  size?: number;
}

export interface EraseResult {
  /** Blobs deleted from this node. */
  deleted: CID[];
  /** Blobs of the record kept because another live record references them. */
  kept: CID[];
}

export interface GcResult {
  scanned: number;
  deleted: CID[];
}

export const DEFAULTS: StoreLimits = {
  maxBlobBytes: CHUNK_BYTES,
  maxRecordBytes: 4 * 1024 * 1024 * 1024,
  gcGraceMs: 24 * 60 * 60 * 1000,
  writeConcurrency: 4,
};

const TEMP_PREFIX = '.tmp-';
const MAX_PIECES = 64;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const READ_AHEAD = 2;
const MAX_RECORD_ID_BYTES = 512;

function checkRecordId(recordId: string): void {
  if (
    typeof recordId !== 'string' ||
    recordId.length === 0 ||
    recordId.includes('\u0000') ||
    !recordId.isWellFormed() ||
    Buffer.byteLength(recordId) > MAX_RECORD_ID_BYTES
  ) {
    throw new StoreError(
      'STORE_BAD_RECORD_ID',
      `A record id must be a non-empty string of at most ${MAX_RECORD_ID_BYTES} bytes without NUL.`,
    );
  }
}

function checkLimits(options: BlobStoreOptions): StoreLimits {
  const limits: StoreLimits = {
    maxBlobBytes: options.maxBlobBytes ?? DEFAULTS.maxBlobBytes,
    maxRecordBytes: options.maxRecordBytes ?? DEFAULTS.maxRecordBytes,
    gcGraceMs: options.gcGraceMs ?? DEFAULTS.gcGraceMs,
    writeConcurrency: options.writeConcurrency ?? DEFAULTS.writeConcurrency,
  };
  const bad = (why: string) => new StoreError('STORE_CONFIG', `Invalid blob store options: ${why}.`);
  const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!isCount(limits.maxBlobBytes) || limits.maxBlobBytes < Math.max(CHUNK_BYTES, MAX_MANIFEST_BYTES)) {
    throw bad(`maxBlobBytes must be an integer of at least ${CHUNK_BYTES} (one chunk)`);
  }
  if (!isCount(limits.maxRecordBytes) || limits.maxRecordBytes > MAX_RECORD_BYTES_LIMIT) {
    throw bad(`maxRecordBytes must be an integer of at most ${MAX_RECORD_BYTES_LIMIT}`);
  }
  if (!isCount(limits.gcGraceMs)) throw bad('gcGraceMs must be a non-negative integer');
  if (!isCount(limits.writeConcurrency) || limits.writeConcurrency < 1) {
    throw bad('writeConcurrency must be a positive integer');
  }
  return limits;
}

const isNotFound = (error: unknown) => (error as { code?: string })?.code === 'ENOENT';

function ioError(what: string, cause: unknown): StoreError {
  if (cause instanceof StoreError) return cause;
  return new StoreError('STORE_IO', `${what}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `pieces` at the start of the file, resuming after partial writes. */
async function writeAll(handle: FileHandle, pieces: Uint8Array[], length: number): Promise<void> {
  let position = 0;
  let rest = pieces;
  while (position < length) {
    const { bytesWritten } = await handle.writev(rest, position);
    if (bytesWritten <= 0) throw new Error('the file system wrote nothing');
    position += bytesWritten;
    let skip = bytesWritten;
    while (skip > 0 && rest.length > 0) {
      const head = rest[0]!;
      if (head.length <= skip) {
        skip -= head.length;
        rest = rest.slice(1);
      } else {
        rest = [head.subarray(skip), ...rest.slice(1)];
        skip = 0;
      }
    }
  }
}

async function readExactly(handle: FileHandle, length: number): Promise<Uint8Array> {
  const out = allocBytes(length);
  let offset = 0;
  while (offset < length) {
    const { bytesRead } = await handle.read(out, offset, length - offset, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return offset === length ? out : out.subarray(0, offset);
}

export class BlobStore {
  readonly dir: string;
  readonly limits: StoreLimits;
  readonly #blobsDir: string;
  readonly #quarantineDir: string;
  readonly #index: StoreIndex;
  readonly #listeners = new Set<(report: CorruptionReport) => void>();
  readonly #knownDirs = new Set<string>();
  /** Blobs being written (count per CID string): never deleted meanwhile. */
  readonly #pins = new Map<string, number>();
  /** Blobs being deleted: a write of the same CID waits for the deletion first. */
  readonly #deleting = new Map<string, Promise<void>>();
  /** Serialises index changes and deletions (addReference, erase, gc, envelopes). */
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, limits: StoreLimits, index: StoreIndex) {
    this.dir = dir;
    this.limits = limits;
    this.#blobsDir = join(dir, 'blobs');
    this.#quarantineDir = join(dir, 'quarantine');
    this.#index = index;
  }

  /**
   * Opens (creating if needed) the store in `dir`: removes temporary files left by a crash and
   * finishes deletions an erasure had marked.
   */
  static async open(dir: string, options: BlobStoreOptions = {}): Promise<BlobStore> {
    const limits = checkLimits(options);
    try {
      await mkdir(join(dir, 'blobs'), { recursive: true, mode: 0o700 });
      await mkdir(join(dir, 'quarantine'), { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new StoreError('STORE_OPEN_FAILED', `Cannot create the blob store in ${dir}.`, { cause });
    }
    const index = await StoreIndex.open(join(dir, 'index'));
    const store = new BlobStore(dir, limits, index);
    if (options.onCorrupt) store.onCorrupt(options.onCorrupt);
    try {
      if (options.createShards) await store.#createShards();
      await store.#removeTempFiles();
      await store.#exclusive(() => store.#finishPendingDeletes());
    } catch (error) {
      await index.close();
      throw ioError(`Cannot open the blob store in ${dir}`, error);
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.catch(() => {});
    await this.#index.close();
  }

  /** How many distinct blobs live records reference (a full scan of the index's reference keys). */
  blobCount(): Promise<number> {
    this.#checkOpen();
    return this.#index.countBlobs();
  }

  /** How many live records this store references (a full scan of the index's record keys). */
  recordCount(): Promise<number> {
    this.#checkOpen();
    return this.#index.countRecords();
  }

  /** Subscribes to corruption reports; returns the unsubscribe function. */
  onCorrupt(listener: (report: CorruptionReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The file a blob lives in (whether or not it exists). */
  pathOf(cidLike: CidLike): string {
    const name = parseCid(cidLike).toString();
    return join(this.#blobsDir, name.slice(-3, -1), name);
  }

  // ---------------------------------------------------------------------------------------- blobs

  /** True when the blob's file is present (its content is verified on read, not here). */
  async has(cidLike: CidLike): Promise<boolean> {
    this.#checkOpen();
    try {
      await stat(this.pathOf(cidLike));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw ioError('Cannot check a blob', error);
    }
  }

  /** Reads a blob and verifies it against its CID (STORE_NOT_FOUND, STORE_CORRUPT_CHUNK). */
  async getBlob(cidLike: CidLike): Promise<Uint8Array> {
    this.#checkOpen();
    const cid = parseCid(cidLike);
    const path = this.pathOf(cid);
    let bytes: Uint8Array;
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isNotFound(error)) {
        throw new StoreError('STORE_NOT_FOUND', `Blob ${cid.toString()} is not stored on this node.`);
      }
      throw ioError(`Cannot read blob ${cid.toString()}`, error);
    }
    try {
      const { size } = await handle.stat();
      if (size > this.limits.maxBlobBytes) {
        throw await this.#corrupted(cid, path, `${size} bytes on disk, over the blob limit`);
      }
      bytes = await readExactly(handle, size);
    } catch (error) {
      throw ioError(`Cannot read blob ${cid.toString()}`, error);
    } finally {
      await handle.close();
    }
    if (!cidMatches(cid, bytes)) throw await this.#corrupted(cid, path, 'its bytes do not hash to its CID');
    return bytes;
  }

  /** Stores one blob (idempotent); refuses bytes that do not match `expected`. Returns its CID. */
  async putBlob(bytes: Uint8Array, expected: Expected = {}): Promise<CID> {
    this.#checkOpen();
    if (bytes.length > this.limits.maxBlobBytes) {
      throw new StoreError(
        'STORE_TOO_LARGE',
        `The blob is ${bytes.length} bytes; the limit is ${this.limits.maxBlobBytes}.`,
      );
    }
    if (expected.size !== undefined && bytes.length !== expected.size) {
      throw new StoreError(
        'STORE_SIZE_MISMATCH',
        `The blob is ${bytes.length} bytes, but ${expected.size} were declared.`,
      );
    }
    const cid = cidOf(bytes);
    if (expected.cid !== undefined) {
      const declared = parseCid(expected.cid);
      if (!sameCid(cid, declared)) {
        throw new StoreError(
          'STORE_CID_MISMATCH',
          `The bytes uploaded as ${declared.toString()} hash to ${cid.toString()}.`,
        );
      }
    }
    await this.#writeIfAbsent(cid, [bytes], bytes.length);
    return cid;
  }

  // -------------------------------------------------------------------------------------- records

  /**
   * Stores a record's ciphertext from a stream: cut into 1 MiB chunks, each hashed and written as
   * it arrives (memory stays flat), then the manifest. Refuses, as soon as it can tell, a stream
   * longer than `expected.size` or the record limit, and at the end one whose size or record CID
   * does not match `expected`; chunks written by a refused put are removed again.
   */
  async putRecord(source: ByteSource, expected: Expected = {}): Promise<StoredRecord> {
    this.#checkOpen();
    const declared = expected.cid === undefined ? undefined : parseCid(expected.cid);
    const limit = this.limits.maxRecordBytes;
    if (expected.size !== undefined && expected.size > limit) {
      throw new StoreError(
        'STORE_TOO_LARGE',
        `A record of ${expected.size} bytes is over the limit of ${limit}.`,
      );
    }
    const chunks: ManifestChunk[] = [];
    const pinned: string[] = [];
    const created: CID[] = [];
    const inflight = new Set<Promise<void>>();
    const dirs = new Set<string>(); // fsynced together once every blob is renamed into place
    let total = 0;
    let newChunks = 0;
    try {
      for await (const pieces of chunkPieces(source, CHUNK_BYTES)) {
        // Many tiny pieces are joined (cheap for them, and writev takes at most IOV_MAX buffers).
        const chunk = pieces.length > MAX_PIECES ? [concatPieces(pieces, piecesLength(pieces))] : pieces;
        const size = piecesLength(chunk);
        total += size;
        if (expected.size !== undefined && total > expected.size) {
          throw new StoreError(
            'STORE_SIZE_MISMATCH',
            `The record upload is longer than the ${expected.size} bytes declared.`,
          );
        }
        if (total > limit) {
          throw new StoreError('STORE_TOO_LARGE', `The record is over the limit of ${limit} bytes.`);
        }
        const cid = cidOfPieces(chunk);
        this.#pin(cid.toString());
        pinned.push(cid.toString());
        chunks.push({ cid, size });
        const write: Promise<void> = this.#writeIfAbsent(cid, chunk, size, dirs).then((isNew) => {
          if (isNew) {
            created.push(cid);
            newChunks++;
          }
        });
        inflight.add(write);
        write.then(
          () => inflight.delete(write),
          () => inflight.delete(write),
        );
        if (inflight.size >= this.limits.writeConcurrency) await Promise.race(inflight);
      }
      if (expected.size !== undefined && total !== expected.size) {
        throw new StoreError(
          'STORE_SIZE_MISMATCH',
          `The record upload is ${total} bytes, but ${expected.size} were declared.`,
        );
      }
      const manifestBytes = encodeManifest({ size: total, chunkSize: CHUNK_BYTES, chunks });
      const cid = cidOf(manifestBytes);
      if (declared !== undefined && !sameCid(cid, declared)) {
        throw new StoreError(
          'STORE_CID_MISMATCH',
          `The record uploaded as ${declared.toString()} has CID ${cid.toString()}.`,
        );
      }
      // The manifest is written alongside the last chunks; the put resolves once all are durable.
      this.#pin(cid.toString());
      pinned.push(cid.toString());
      const manifestWrite = this.#writeIfAbsent(cid, [manifestBytes], manifestBytes.length, dirs).then(
        (isNew) => {
          if (isNew) created.push(cid);
        },
      );
      inflight.add(manifestWrite);
      await Promise.all(inflight);
      await Promise.all([...dirs].map(syncDir));
      return { cid, size: total, chunks: chunks.length, newChunks };
    } catch (error) {
      await Promise.allSettled(inflight);
      for (const key of pinned.splice(0)) this.#unpin(key);
      await this.#exclusive(() => this.#deleteUnreferenced(created)).catch(() => {});
      throw ioError('Cannot store the record', error);
    } finally {
      for (const key of pinned) this.#unpin(key);
    }
  }

  /** Reads and checks a record's manifest (STORE_BAD_MANIFEST if the CID names something else). */
  async readManifest(recordCid: CidLike): Promise<Manifest> {
    return decodeManifest(await this.getBlob(recordCid));
  }

  /**
   * Streams a record's ciphertext, chunk by chunk, each verified against its CID; optionally only
   * chunks [first, first + count). Reads ahead two chunks to overlap disk and hashing.
   */
  async *readRecord(
    recordCid: CidLike,
    range: { first?: number; count?: number } = {},
  ): AsyncGenerator<Uint8Array> {
    const manifest = await this.readManifest(recordCid);
    const total = manifest.chunks.length;
    const first = range.first ?? 0;
    const end = range.count === undefined ? total : Math.min(total, first + range.count);
    if (!Number.isSafeInteger(first) || first < 0 || first > total || end < first) {
      throw new StoreError(
        'STORE_BAD_REQUEST',
        `Chunk range ${first}+${range.count} is outside 0..${total}.`,
      );
    }
    const pending: Promise<Uint8Array>[] = [];
    let next = first;
    const startRead = () => {
      const read = this.readChunk(manifest.chunks[next++]!);
      read.catch(() => {}); // awaited below in order; abandoned reads must not be unhandled
      pending.push(read);
    };
    while (pending.length > 0 || next < end) {
      while (next < end && pending.length <= READ_AHEAD) startRead();
      yield await pending.shift()!;
    }
  }

  /** Reads one chunk named by a manifest entry, verified against its CID and size. */
  async readChunk(chunk: ManifestChunk): Promise<Uint8Array> {
    const bytes = await this.getBlob(chunk.cid);
    if (bytes.length !== chunk.size) {
      throw new StoreError(
        'STORE_BAD_MANIFEST',
        `The manifest declares chunk ${chunk.cid.toString()} as ${chunk.size} bytes; it has ${bytes.length}.`,
      );
    }
    return bytes;
  }

  /** Indexes of the record's chunks whose files are absent (the manifest must be present). */
  async missingChunks(recordCid: CidLike): Promise<number[]> {
    const manifest = await this.readManifest(recordCid);
    const missing: number[] = [];
    for (const [i, chunk] of manifest.chunks.entries()) {
      if (!(await this.has(chunk.cid))) missing.push(i);
    }
    return missing;
  }

  /** True when the manifest and every chunk of the record are present. */
  async hasRecord(recordCid: CidLike): Promise<boolean> {
    if (!(await this.has(recordCid))) return false;
    try {
      return (await this.missingChunks(recordCid)).length === 0;
    } catch (error) {
      if (
        error instanceof StoreError &&
        (error.code === 'STORE_NOT_FOUND' || error.code === 'STORE_CORRUPT_CHUNK')
      )
        return false;
      throw error;
    }
  }

  // ----------------------------------------------------------------------- references and erasure

  /**
   * Records that the live record `recordId` (committed on chain) uses the record `recordCid`, so
   * its manifest and chunks are kept. Needs the manifest on this node; chunks may still be arriving.
   * Idempotent. Refused for an erased record (STORE_RECORD_ERASED).
   */
  async addReference(recordId: string, recordCid: CidLike): Promise<void> {
    this.#checkOpen();
    checkRecordId(recordId);
    const cid = parseCid(recordCid);
    await this.#exclusive(async () => {
      if (await this.#index.isErased(recordId)) throw erased(recordId);
      const manifest = await this.readManifest(cid);
      if (manifest.size > this.limits.maxRecordBytes) {
        throw new StoreError(
          'STORE_TOO_LARGE',
          `Record ${recordId} is ${manifest.size} bytes, over the limit of ${this.limits.maxRecordBytes}.`,
        );
      }
      const existing = await this.#index.recordBlobs(recordId);
      if (existing !== undefined) {
        if (existing[0]?.equals(cid)) return;
        throw new StoreError(
          'STORE_CID_MISMATCH',
          `Record ${recordId} is already stored under ${existing[0]?.toString()}, not ${cid.toString()}.`,
        );
      }
      await this.#index.addReference(recordId, [cid, ...manifest.chunks.map((chunk) => chunk.cid)]);
    });
  }

  /** The record CID a live record references on this node, if any. */
  async recordCid(recordId: string): Promise<CID | undefined> {
    this.#checkOpen();
    checkRecordId(recordId);
    return (await this.#index.recordBlobs(recordId))?.[0];
  }

  async isErased(recordId: string): Promise<boolean> {
    this.#checkOpen();
    checkRecordId(recordId);
    return this.#index.isErased(recordId);
  }

  /**
   * Erasure of a record on this node (crypto-shredding): its key envelopes and its blobs (manifest
   * and chunks) are deleted, except blobs another live record still references, and a tombstone
   * keeps the record from being stored again. `recordCid` (from the chain's metadata) also catches
   * blobs stored but never referenced here. Durable: a crash midway is finished on the next open.
   */
  async erase(recordId: string, recordCid?: CidLike): Promise<EraseResult> {
    this.#checkOpen();
    checkRecordId(recordId);
    const named = recordCid === undefined ? undefined : parseCid(recordCid);
    return this.#exclusive(async () => {
      const candidates = new Map<string, CID>();
      const add = (cid: CID) => candidates.set(cid.toString(), cid);
      for (const cid of (await this.#index.recordBlobs(recordId)) ?? []) add(cid);
      if (named !== undefined) {
        add(named);
        try {
          for (const chunk of (await this.readManifest(named)).chunks) add(chunk.cid);
        } catch (error) {
          if (!(error instanceof StoreError)) throw error; // absent or corrupt here: nothing more to find
        }
      }
      const cids = [...candidates.values()];
      await this.#index.erase(recordId, cids, Date.now());
      const deleted = await this.#deleteUnreferenced(cids);
      await this.#index.clearPendingDeletes(cids);
      const gone = new Set(deleted.map(String));
      const kept: CID[] = [];
      for (const cid of cids) {
        if (!gone.has(cid.toString()) && (await this.#index.isReferenced(cid))) kept.push(cid);
      }
      return { deleted, kept };
    });
  }

  /**
   * Deletes blobs no live record references, once older than the grace period (default from the
   * options): leftovers of uploads that never committed, of refused replications, of crashes.
   */
  async gc(options: { graceMs?: number; now?: number } = {}): Promise<GcResult> {
    this.#checkOpen();
    const graceMs = options.graceMs ?? this.limits.gcGraceMs;
    const now = options.now ?? Date.now();
    return this.#exclusive(async () => {
      await this.#finishPendingDeletes();
      let scanned = 0;
      const deleted: CID[] = [];
      for (const shard of await readdir(this.#blobsDir)) {
        const dir = join(this.#blobsDir, shard);
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (name.startsWith(TEMP_PREFIX)) continue;
          let cid: CID;
          try {
            cid = parseCid(name);
          } catch {
            continue; // not ours: leave it alone
          }
          scanned++;
          let mtimeMs: number;
          try {
            mtimeMs = (await stat(join(dir, name))).mtimeMs;
          } catch {
            continue;
          }
          if (now - mtimeMs < graceMs) continue;
          deleted.push(...(await this.#deleteUnreferenced([cid])));
        }
      }
      return { scanned, deleted };
    });
  }

  // ------------------------------------------------------------------------------------ envelopes

  /** Keeps a key envelope of a record for a recipient (deleted with the record on erasure). */
  async putEnvelope(recordId: string, recipientPublicKey: Uint8Array, envelope: Uint8Array): Promise<void> {
    this.#checkOpen();
    checkRecordId(recordId);
    await this.#exclusive(async () => {
      if (await this.#index.isErased(recordId)) throw erased(recordId);
      await this.#index.putEnvelope(recordId, recipientPublicKey, envelope);
    });
  }

  async getEnvelope(recordId: string, recipientPublicKey: Uint8Array): Promise<Uint8Array | undefined> {
    this.#checkOpen();
    checkRecordId(recordId);
    return this.#index.getEnvelope(recordId, recipientPublicKey);
  }

  // ------------------------------------------------------------------------------------- internals

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('STORE_CLOSED', 'The blob store is closed.');
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task, task);
    this.#lock = run.catch(() => {});
    return run;
  }

  #pin(key: string): void {
    this.#pins.set(key, (this.#pins.get(key) ?? 0) + 1);
  }

  #unpin(key: string): void {
    const count = (this.#pins.get(key) ?? 1) - 1;
    if (count <= 0) this.#pins.delete(key);
    else this.#pins.set(key, count);
  }

  async #ensureDir(dir: string): Promise<void> {
    if (this.#knownDirs.has(dir)) return;
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (created !== undefined) await syncDir(this.#blobsDir);
    this.#knownDirs.add(dir);
  }

  /**
   * Writes a blob atomically unless a file of the same size is already there (same CID and size:
   * the same bytes, barring corruption, which reads detect): temporary file, write, fdatasync,
   * rename, fsync of the directory. Returns true when it wrote.
   */
  async #writeIfAbsent(cid: CID, pieces: Uint8Array[], length: number, dirs?: Set<string>): Promise<boolean> {
    const key = cid.toString();
    const path = this.pathOf(cid);
    const dir = join(path, '..');
    this.#pin(key);
    try {
      await this.#deleting.get(key);
      try {
        if ((await stat(path)).size === length) return false;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      await this.#ensureDir(dir);
      const temp = join(dir, `${TEMP_PREFIX}${key}-${randomBytes(6).toString('hex')}`);
      const handle = await open(temp, 'wx', 0o600);
      try {
        await writeAll(handle, pieces, length);
        await handle.datasync();
      } catch (error) {
        await handle.close().catch(() => {});
        await unlink(temp).catch(() => {});
        throw error;
      }
      await handle.close();
      await rename(temp, path);
      if (dirs === undefined) await syncDir(dir);
      else dirs.add(dir);
      return true;
    } catch (error) {
      throw ioError(`Cannot write blob ${key}`, error);
    } finally {
      this.#unpin(key);
    }
  }

  /** Under the lock: deletes those of `cids` that no live record references and nothing pins. */
  async #deleteUnreferenced(cids: CID[]): Promise<CID[]> {
    const deleted: CID[] = [];
    const dirs = new Set<string>();
    const seen = new Set<string>();
    for (const cid of cids) {
      const key = cid.toString();
      if (seen.has(key) || this.#pins.has(key) || this.#deleting.has(key)) continue;
      seen.add(key);
      let done!: () => void;
      this.#deleting.set(key, new Promise<void>((resolve) => (done = resolve)));
      try {
        if (await this.#index.isReferenced(cid)) continue;
        const path = this.pathOf(cid);
        try {
          await unlink(path);
          deleted.push(cid);
          dirs.add(join(path, '..'));
        } catch (error) {
          if (!isNotFound(error)) throw ioError(`Cannot delete blob ${key}`, error);
        }
      } finally {
        this.#deleting.delete(key);
        done();
      }
    }
    for (const dir of dirs) await syncDir(dir);
    return deleted;
  }

  async #finishPendingDeletes(): Promise<void> {
    const pending = await this.#index.pendingDeletes();
    if (pending.length === 0) return;
    await this.#deleteUnreferenced(pending);
    await this.#index.clearPendingDeletes(pending);
  }

  /** Creates all 1024 shard directories up front, so no put pays for a mkdir and its fsync. */
  async #createShards(): Promise<void> {
    const existing = new Set(await readdir(this.#blobsDir));
    const missing = [...BASE32].flatMap((a) => [...BASE32].map((b) => a + b)).filter((s) => !existing.has(s));
    await Promise.all(missing.map((shard) => mkdir(join(this.#blobsDir, shard), { mode: 0o700 })));
    if (missing.length > 0) await syncDir(this.#blobsDir);
  }

  async #removeTempFiles(): Promise<void> {
    for (const shard of await readdir(this.#blobsDir)) {
      const dir = join(this.#blobsDir, shard);
      const names = await readdir(dir).catch(() => [] as string[]);
      const temps = names.filter((name) => name.startsWith(TEMP_PREFIX));
      for (const name of temps) await unlink(join(dir, name)).catch(() => {});
      if (temps.length > 0) await syncDir(dir);
    }
  }

  /** Quarantines a corrupted blob, reports it, and returns the error for the caller to throw. */
  async #corrupted(cid: CID, path: string, reason: string): Promise<StoreError> {
    let quarantinedTo: string | null = join(this.#quarantineDir, `${cid.toString()}-${Date.now()}`);
    try {
      await rename(path, quarantinedTo);
    } catch {
      quarantinedTo = null; // already moved by a concurrent reader, or not movable
    }
    const report: CorruptionReport = { cid, path, quarantinedTo, reason };
    for (const listener of this.#listeners) {
      try {
        listener(report);
      } catch {
        // a listener's failure must not hide the corruption from the reader
      }
    }
    return new StoreError(
      'STORE_CORRUPT_CHUNK',
      `Blob ${cid.toString()} is corrupted on this node (${reason}); it was quarantined and must be ` +
        'fetched again from a peer.',
    );
  }
}

function erased(recordId: string): StoreError {
  return new StoreError(
    'STORE_RECORD_ERASED',
    `Record ${recordId} was erased on this node; its content is not stored again.`,
  );
}
