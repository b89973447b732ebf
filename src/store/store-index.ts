/**
 * The store's index: which live records reference which blobs, tombstones of erased records, blob
 * deletions not yet finished, and the records' key envelopes. One small LevelDB database (the
 * `level` package the ledger uses) inside the store directory.
 *
 * Why LevelDB and not a JSON file: every change (reference a record, erase one) is one atomic,
 * synced batch of a few keys, whatever the store's size, where a JSON index would rewrite the whole
 * file per record; and its lock keeps a second process from opening the same store.
 *
 * Keys (UTF-8 strings, NUL-separated; values are bytes):
 *
 *     r \0 <recordId>                  → CIDs of the record's blobs, 36 bytes each, manifest first
 *     c \0 <cid> \0 <recordId>         → (empty) one reference: the record uses the blob
 *     t \0 <recordId>                  → tombstone: erasure time (uint64 ms, big-endian)
 *     d \0 <cid>                       → (empty) a blob to delete; survives a crash mid-erasure
 *     e \0 <recordId> \0 <recipient>   → a key envelope of the record (recipient: public key, hex)
 *
 * A blob's reference count is the number of `c` keys under its CID. Storing each reference as its
 * own key (rather than a counter) makes referencing idempotent and needs no read-modify-write.
 */
import { Level } from 'level';
import { hex } from '../bytes.ts';
import { CID, CID_BYTES } from './cid.ts';
import { StoreError } from './errors.ts';

const SEP = '\u0000';
const END = '\u0001'; // the character after SEP: `prefix + SEP` .. `prefix + END` spans a prefix

type Db = Level<string, Uint8Array>;
type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

const EMPTY = new Uint8Array(0);
const recordKey = (recordId: string) => `r${SEP}${recordId}`;
const refPrefix = (cid: CID) => `c${SEP}${cid.toString()}${SEP}`;
const refKey = (cid: CID, recordId: string) => `${refPrefix(cid)}${recordId}`;
const tombKey = (recordId: string) => `t${SEP}${recordId}`;
const deleteKey = (cid: CID) => `d${SEP}${cid.toString()}`;
const envelopePrefix = (recordId: string) => `e${SEP}${recordId}${SEP}`;

function packCids(cids: CID[]): Uint8Array {
  const out = new Uint8Array(cids.length * CID_BYTES);
  cids.forEach((cid, i) => {
    out.set(cid.bytes, i * CID_BYTES);
  });
  return out;
}

function unpackCids(bytes: Uint8Array): CID[] {
  const out: CID[] = [];
  for (let offset = 0; offset < bytes.length; offset += CID_BYTES) {
    out.push(CID.decode(bytes.slice(offset, offset + CID_BYTES)));
  }
  return out;
}

export class StoreIndex {
  readonly #db: Db;

  private constructor(db: Db) {
    this.#db = db;
  }

  static async open(path: string): Promise<StoreIndex> {
    const db: Db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open({ createIfMissing: true });
    } catch (error) {
      const locked = (error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED';
      throw new StoreError(
        locked ? 'STORE_LOCKED' : 'STORE_OPEN_FAILED',
        locked
          ? `The blob store index ${path} is in use by another process.`
          : `Cannot open the blob store index ${path}.`,
        { cause: error },
      );
    }
    return new StoreIndex(db);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  /** The blobs a live record references, or undefined if this node holds no reference for it. */
  /** Distinct blobs (chunks and manifests) that live records reference. */
  async countBlobs(): Promise<number> {
    let count = 0;
    let last = '';
    for await (const key of this.#db.keys({ gt: `c${SEP}`, lt: `c${END}` })) {
      const cid = key.slice(2, key.indexOf(SEP, 2));
      if (cid !== last) count++;
      last = cid;
    }
    return count;
  }

  /** Live records referenced in this store (erased ones excluded). */
  async countRecords(): Promise<number> {
    let count = 0;
    for await (const _ of this.#db.keys({ gt: `r${SEP}`, lt: `r${END}` })) count++;
    return count;
  }

  async recordBlobs(recordId: string): Promise<CID[] | undefined> {
    const value = await this.#db.get(recordKey(recordId));
    return value === undefined ? undefined : unpackCids(value);
  }

  /** True when a live record other than `exceptRecordId` references the blob. */
  async isReferenced(cid: CID, exceptRecordId?: string): Promise<boolean> {
    const prefix = refPrefix(cid);
    for await (const key of this.#db.keys({ gte: prefix, lt: `${prefix.slice(0, -1)}${END}`, limit: 2 })) {
      if (exceptRecordId === undefined || key !== refKey(cid, exceptRecordId)) return true;
    }
    return false;
  }

  async isErased(recordId: string): Promise<boolean> {
    return (await this.#db.get(tombKey(recordId))) !== undefined;
  }

  /** Records `recordId` as a live user of `cids` (manifest first), in one synced batch. */
  async addReference(recordId: string, cids: CID[]): Promise<void> {
    const ops: Op[] = [{ type: 'put', key: recordKey(recordId), value: packCids(cids) }];
    for (const cid of cids) ops.push({ type: 'put', key: refKey(cid, recordId), value: EMPTY });
    await this.#db.batch(ops, { sync: true });
  }

  /**
   * Erases a record from the index in one synced batch: its references and envelopes go, a
   * tombstone is written, and `candidates` are marked for deletion (the caller deletes the files
   * that are no longer referenced, then clears the marks).
   */
  async erase(recordId: string, candidates: CID[], now: number): Promise<void> {
    const ops: Op[] = [{ type: 'del', key: recordKey(recordId) }];
    for (const cid of (await this.recordBlobs(recordId)) ?? []) {
      ops.push({ type: 'del', key: refKey(cid, recordId) });
    }
    const prefix = envelopePrefix(recordId);
    for await (const key of this.#db.keys({ gte: prefix, lt: `${prefix.slice(0, -1)}${END}` })) {
      ops.push({ type: 'del', key });
    }
    const time = new Uint8Array(8);
    new DataView(time.buffer).setBigUint64(0, BigInt(now));
    ops.push({ type: 'put', key: tombKey(recordId), value: time });
    for (const cid of candidates) ops.push({ type: 'put', key: deleteKey(cid), value: EMPTY });
    await this.#db.batch(ops, { sync: true });
  }

  async pendingDeletes(): Promise<CID[]> {
    const out: CID[] = [];
    for await (const key of this.#db.keys({ gte: `d${SEP}`, lt: `d${END}` })) {
      out.push(CID.parse(key.slice(2)));
    }
    return out;
  }

  async clearPendingDeletes(cids: CID[]): Promise<void> {
    if (cids.length === 0) return;
    await this.#db.batch(
      cids.map((cid) => ({ type: 'del' as const, key: deleteKey(cid) })),
      { sync: true },
    );
  }

  async putEnvelope(recordId: string, recipientPublicKey: Uint8Array, envelope: Uint8Array): Promise<void> {
    await this.#db.put(`${envelopePrefix(recordId)}${hex(recipientPublicKey)}`, envelope, { sync: true });
  }

  async getEnvelope(recordId: string, recipientPublicKey: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#db.get(`${envelopePrefix(recordId)}${hex(recipientPublicKey)}`);
  }
}
