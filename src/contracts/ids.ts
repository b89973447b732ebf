/**
 * Ids on chain: pseudonymous, derived, never chosen to carry personal data.
 *
 * An identity's id is derived from the Ed25519 key it was registered with and keeps that id when its
 * keys rotate. Records, grants, forbids, access requests and emergency windows take their id from the
 * hash of the transaction that created them, so a client knows the id as soon as it has signed the
 * transaction, and no one can pick (or squat) an id. Organisation ids are the slugs the network admin
 * chooses (an organisation is not a person).
 */
import { hex } from '../bytes.ts';
import { sha256 } from '../crypto/hash.ts';

const utf8 = new TextEncoder();
const IDENTITY_TAG = utf8.encode('medledger/identity/v1\0');
const OBJECT_TAG = utf8.encode('medledger/object/v1\0');

/** 16 bytes (128 bits) of a hash, as lowercase hex: collision-free in practice, short in receipts. */
const ID_BYTES = 16;
const idHex = (hash: Uint8Array) => hex(hash.subarray(0, ID_BYTES));

/** The id of the identity first registered with `signingKey`. */
export function identityId(signingKey: Uint8Array): string {
  return idHex(sha256(IDENTITY_TAG, signingKey));
}

/** Prefixes of derived object ids; the prefix tells a reader (and consent.revoke) what an id names. */
export const ID_PREFIX = {
  record: 'rec',
  grant: 'gr',
  forbid: 'fb',
  request: 'rq',
  window: 'em',
} as const;
export type ObjectKind = keyof typeof ID_PREFIX;

/** The id of the object of `kind` created by the transaction with hash `txHash`. */
export function objectId(kind: ObjectKind, txHash: Uint8Array): string {
  const prefix = ID_PREFIX[kind];
  return `${prefix}-${idHex(sha256(OBJECT_TAG, utf8.encode(prefix), txHash))}`;
}

/** Organisation ids: the slug form genesis.json uses. */
export const ORGANISATION_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Longest id of any kind, in bytes (organisation slugs are the longest). */
export const MAX_ID_BYTES = 64;
