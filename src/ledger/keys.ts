/**
 * The LevelDB key layout of a chain store. One byte of prefix per record family, then a fixed-width
 * big-endian height where there is one, so LevelDB's byte order is height order.
 *
 *   B h        block (header and transactions)       C h   commit certificate (none at height 0)
 *   R h        receipts                              W h   state writes
 *   H hash     height of a block hash                T tx  location (height, index) of a transaction
 *   P id h i   patient index entry, value tx hash    D id h i  record index entry, value tx hash
 *   S key      current state value                   M     head (height, hash, state root)
 */
import { asBuffer } from '../bytes.ts';

export const PREFIX = {
  block: 0x42, // B
  certificate: 0x43, // C
  receipts: 0x52, // R
  writes: 0x57, // W
  blockHash: 0x48, // H
  tx: 0x54, // T
  patient: 0x50, // P
  record: 0x44, // D
  state: 0x53, // S
  head: 0x4d, // M
} as const;

export type IndexKind = 'patient' | 'record';

export function heightBytes(height: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(height));
  return out;
}

export function heightKey(prefix: number, height: number): Buffer {
  return Buffer.concat([Buffer.of(prefix), heightBytes(height)]);
}

export function prefixedKey(prefix: number, rest: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(prefix), rest]);
}

export const HEAD_KEY = Buffer.of(PREFIX.head);

/** Index key: prefix, id length, id bytes, height, tx index; ids sort together, entries in chain order. */
export function indexKey(kind: IndexKind, id: string, height: number, txIndex: number): Buffer {
  const idBytes = Buffer.from(id, 'utf8');
  const position = Buffer.alloc(4);
  position.writeUInt32BE(txIndex);
  return Buffer.concat([Buffer.of(PREFIX[kind], idBytes.length), idBytes, heightBytes(height), position]);
}

/** The key range holding every index entry of one id. */
export function indexRange(kind: IndexKind, id: string): { gte: Buffer; lt: Buffer } {
  const idBytes = Buffer.from(id, 'utf8');
  const start = Buffer.concat([Buffer.of(PREFIX[kind], idBytes.length), idBytes]);
  return { gte: start, lt: Buffer.concat([start, Buffer.alloc(13, 0xff)]) };
}

/** The key range of a whole prefix family. */
export function prefixRange(prefix: number): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.of(prefix), lt: Buffer.of(prefix + 1) };
}

/** Height of a `prefix h` key, or null when the key does not have that shape. */
export function parseHeightKey(key: Uint8Array): number | null {
  if (key.length !== 9) return null;
  const height = asBuffer(key).readBigUInt64BE(1);
  return height <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(height) : null;
}

/** Height of an index key, or null when malformed. */
export function parseIndexKey(key: Uint8Array): { id: string; height: number; txIndex: number } | null {
  const buf = asBuffer(key);
  const idLength = buf[1];
  if (idLength === undefined || buf.length !== 2 + idLength + 12) return null;
  const height = buf.readBigUInt64BE(2 + idLength);
  if (height > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return {
    id: buf.subarray(2, 2 + idLength).toString('utf8'),
    height: Number(height),
    txIndex: buf.readUInt32BE(2 + idLength + 8),
  };
}
