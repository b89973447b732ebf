/**
 * The state root: a hash chain over what each block did to the state.
 *
 *   stateRoot(h) = SHA-256("medledger/state/v1" || stateRoot(h-1) || SHA-256(writes(h)) || SHA-256(receipts(h)))
 *
 * writes(h) are the block's state changes (sorted by key) and receipts(h) its per-transaction results,
 * both canonically encoded. Equal roots mean equal histories of state and results, so replicas agree on
 * execution by comparing 32 bytes, and every stored write set and receipt is covered by the signed
 * header. It commits to history rather than offering membership proofs for single keys; those would
 * need a Merkle tree over the state, which nothing requires yet.
 */
import { compareBytes } from '../bytes.ts';
import { encode } from '../codec/index.ts';
import { sha256 } from '../crypto/index.ts';
import { DOMAIN } from './domain.ts';
import { type Receipt, Receipts, type StateWrite, StateWrites } from './types.ts';

export const ZERO_HASH = new Uint8Array(32);

export function nextStateRoot(
  previousRoot: Uint8Array,
  writes: readonly StateWrite[],
  receipts: readonly Receipt[],
): Uint8Array {
  return sha256(DOMAIN.state, previousRoot, sha256(encodeWrites(writes)), sha256(encodeReceipts(receipts)));
}

// A block's writes and receipts are encoded when it is executed (for its state root), again when
// the chain store checks that root, and again to store them: each list's encoding is remembered.
// Remembering is only sound for a list that no longer changes, so the list is frozen when first
// encoded (changing it after that throws).
const encodings = new WeakMap<readonly unknown[], Uint8Array>();

function encodeOnce<T>(list: readonly T[], encodeList: (list: T[]) => Uint8Array): Uint8Array {
  let bytes = encodings.get(list);
  if (!bytes) {
    bytes = encodeList([...list]);
    encodings.set(Object.freeze(list), bytes);
  }
  return bytes;
}

/** The canonical encoding of a block's state writes (encoded once per list). */
export function encodeWrites(writes: readonly StateWrite[]): Uint8Array {
  return encodeOnce(writes, (list) => encode(StateWrites, list));
}

/** The canonical encoding of a block's receipts (encoded once per list). */
export function encodeReceipts(receipts: readonly Receipt[]): Uint8Array {
  return encodeOnce(receipts, (list) => encode(Receipts, list));
}

/** Null when `writes` are strictly sorted by key (hence unique), else what is wrong. */
export function checkWritesOrder(writes: readonly StateWrite[]): string | null {
  for (let i = 1; i < writes.length; i++) {
    if (compareBytes(writes[i - 1]!.key, writes[i]!.key) >= 0)
      return `state write ${i} is out of order or repeated`;
  }
  return null;
}
