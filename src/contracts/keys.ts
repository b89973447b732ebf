/**
 * The rule engine's state key layout. One ASCII byte names the family; an id that is followed by
 * more components is length-prefixed (one byte), so no id is ever a prefix of another's range.
 * Numbers are fixed-width big-endian, so byte order is numeric order.
 *
 *   n key            nonce of a sender key              k key              identity id of a signing key
 *   i id             identity                           o org              organisation
 *   r rec            record metadata                    b cid              the record whose blob this is
 *   x |pat| rec      a patient's records (empty value)  l policy           locator of a grant or forbid
 *   p |pat| subject  a patient's policies for one grantee (bucket)
 *   q |pat| req      access request                     w |pat| actor      open emergency windows
 *   A t h i s        audit entry, by time               P |pat| t h i s    audit entry, by patient
 *   U |actor| t h i s  by actor                         D |rec| t h i s    by record
 *
 * (t = timestamp_ms 8 bytes, h = height 8, i = tx index 4, s = entry within the tx 1.) The ledger's
 * own state key `genesis` starts with `g`, which no family here uses.
 *
 * Inside the engine a key is a latin1 string (one char per byte): building and comparing those is
 * far cheaper than byte arrays, and their string order is byte order. `stateKey` gives the bytes.
 */
import { asBuffer } from '../bytes.ts';
import { assert } from '../errors.ts';
import { ROLES, type Role, type Subject } from './model.ts';

/** A state key as a latin1 string: one char per byte. */
export type Key = string;

export const FAMILY = {
  nonce: 'n',
  keyIndex: 'k',
  identity: 'i',
  organisation: 'o',
  record: 'r',
  blobOwner: 'b',
  patientRecords: 'x',
  locator: 'l',
  policies: 'p',
  request: 'q',
  windows: 'w',
  auditTime: 'A',
  auditPatient: 'P',
  auditActor: 'U',
  auditRecord: 'D',
} as const;

const ASCII = /^[\x20-\x7e]*$/;

/** A string's UTF-8 bytes as latin1 chars (ids are ASCII in practice, which is the fast path). */
function utf8Chars(text: string): string {
  return ASCII.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

export function bytesToKey(bytes: Uint8Array): Key {
  return asBuffer(bytes).toString('latin1');
}

export function keyToBytes(key: Key): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** A length-prefixed id component. */
function idPart(id: string): string {
  const chars = utf8Chars(id);
  assert(chars.length <= 255, 'ids fit a one-byte length');
  return String.fromCharCode(chars.length) + chars;
}

/** Internal key builders (latin1 strings). */
export const keyOf = {
  nonce: (senderKey: Uint8Array) => FAMILY.nonce + bytesToKey(senderKey),
  keyIndex: (signingKey: Uint8Array) => FAMILY.keyIndex + bytesToKey(signingKey),
  identity: (id: string) => FAMILY.identity + utf8Chars(id),
  organisation: (id: string) => FAMILY.organisation + utf8Chars(id),
  record: (id: string) => FAMILY.record + utf8Chars(id),
  blobOwner: (cid: string) => FAMILY.blobOwner + utf8Chars(cid),
  patientRecord: (patient: string, record: string) =>
    FAMILY.patientRecords + idPart(patient) + utf8Chars(record),
  locator: (policy: string) => FAMILY.locator + utf8Chars(policy),
  policies: (patient: string, subject: Subject) =>
    FAMILY.policies + idPart(patient) + utf8Chars(subjectKey(subject)),
  request: (patient: string, request: string) => FAMILY.request + idPart(patient) + utf8Chars(request),
  windows: (patient: string, actor: string) => FAMILY.windows + idPart(patient) + utf8Chars(actor),
};

type Builders = typeof keyOf;

/** The same keys as bytes, for readers of state outside the engine (the node, the API, tests). */
export const stateKey = Object.fromEntries(
  Object.entries(keyOf).map(([name, build]) => [
    name,
    (...args: never[]) => keyToBytes((build as (...a: never[]) => Key)(...args)),
  ]),
) as { [K in keyof Builders]: (...args: Parameters<Builders[K]>) => Uint8Array };

/** A grantee as one string: the bucket its policies live in. */
export function subjectKey(subject: Subject): string {
  switch (subject.kind) {
    case 'practitioner':
      return `p:${subject.id}`;
    case 'organisation':
      return `o:${subject.id}`;
    case 'role':
      return `r:${subject.organisation}:${subject.role}`;
  }
}

/** The grantee a bucket key's subject part names (the inverse of subjectKey), or null. */
export function parseSubjectKey(key: string): Subject | null {
  const [kind, first, second, ...rest] = key.split(':');
  if (rest.length > 0 || first === undefined || first === '') return null;
  if (kind === 'p' && second === undefined) return { kind: 'practitioner', id: first };
  if (kind === 'o' && second === undefined) return { kind: 'organisation', id: first };
  if (kind === 'r' && second !== undefined && (ROLES as readonly string[]).includes(second)) {
    return { kind: 'role', organisation: first, role: second as Role };
  }
  return null;
}

/** The range [gte, lt) of every key that starts with `prefix`. */
export function prefixRange(prefix: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  // The smallest key above every extension of prefix: drop trailing 0xff bytes, increment the last.
  const lt = new Uint8Array(prefix);
  let end = lt.length;
  while (end > 0 && lt[end - 1] === 0xff) end--;
  assert(end > 0, 'a prefix range needs a byte below 0xff');
  lt[end - 1]! += 1;
  return { gte: prefix, lt: lt.subarray(0, end) };
}

/** Prefixes of a patient's records, policies, requests and windows, for ranges. */
export const patientPrefix = {
  records: (patient: string) => keyToBytes(FAMILY.patientRecords + idPart(patient)),
  policies: (patient: string) => keyToBytes(FAMILY.policies + idPart(patient)),
  requests: (patient: string) => keyToBytes(FAMILY.request + idPart(patient)),
  windows: (patient: string) => keyToBytes(FAMILY.windows + idPart(patient)),
};

/** Where an audit entry sits in chain order: block time, height, tx index, entry within the tx. */
export interface AuditPosition {
  timestamp_ms: number;
  height: number;
  txIndex: number;
  seq: number;
}

export const AUDIT_POSITION_BYTES = 8 + 8 + 4 + 1;

const positionBuffer = Buffer.alloc(AUDIT_POSITION_BYTES);

/** The position's 21 bytes, big-endian, as latin1 chars. */
export function positionChars(position: AuditPosition): string {
  const b = positionBuffer;
  b.writeUInt32BE(Math.floor(position.timestamp_ms / 2 ** 32), 0);
  b.writeUInt32BE(position.timestamp_ms >>> 0, 4);
  b.writeUInt32BE(Math.floor(position.height / 2 ** 32), 8);
  b.writeUInt32BE(position.height >>> 0, 12);
  b.writeUInt32BE(position.txIndex, 16);
  b.writeUInt8(position.seq, 20);
  return b.toString('latin1');
}

export type AuditIndex = 'time' | 'patient' | 'actor' | 'record';

const AUDIT_FAMILY: Record<AuditIndex, string> = {
  time: FAMILY.auditTime,
  patient: FAMILY.auditPatient,
  actor: FAMILY.auditActor,
  record: FAMILY.auditRecord,
};

function auditPrefixChars(index: AuditIndex, id: string | undefined): string {
  if (index === 'time') return AUDIT_FAMILY.time;
  assert(id !== undefined, 'audit indexes other than time need an id');
  return AUDIT_FAMILY[index] + idPart(id);
}

/** An audit entry's key in one index; `position` is positionChars of the entry's position. */
export function auditKeyOf(index: AuditIndex, id: string | undefined, position: string): Key {
  return auditPrefixChars(index, id) + position;
}

/** The key prefix of one audit index (for `time`, the whole family; else one id's entries). */
export function auditPrefix(index: AuditIndex, id?: string): Uint8Array {
  return keyToBytes(auditPrefixChars(index, id));
}

/** The first position at or after `timestamp_ms`: the bound of a time-range query. */
export function auditTimeBound(timestamp_ms: number): Uint8Array {
  return keyToBytes(positionChars({ timestamp_ms, height: 0, txIndex: 0, seq: 0 }));
}
