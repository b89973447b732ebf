/**
 * Read-side queries for the node's API and the CLI: pure functions over the committed state.
 * Point lookups take a StateReader; listings and the audit trail take a RangeReader over ordered
 * keys (LevelDB on the node, a sorted map in tests). Audit pages are newest first; a page's cursor
 * is the key of its last entry, and the next page starts below it.
 */
import { compareBytes, concatBytes, hex } from '../bytes.ts';
import { type Schema, u64 } from '../codec/index.ts';
import { MedledgerError } from '../errors.ts';
import {
  type AuditIndex,
  auditPrefix,
  auditTimeBound,
  parseSubjectKey,
  patientPrefix,
  prefixRange,
  stateKey,
} from './keys.ts';
import {
  AccessRequest,
  AuditEntry,
  type EmergencyWindow,
  Identity,
  IdentityRef,
  Organisation,
  type Policy,
  PolicyBucket,
  RecordMeta,
  type Subject,
  WindowList,
} from './model.ts';
import { BlockOverlay, decodeState, type StateReader, TxScope } from './overlay.ts';
import { type AccessQuery, type Decision, decide } from './policy.ts';
import { policySource } from './state.ts';

/** Ordered reads over [gte, lt): ascending, or descending when `reverse`; at most `limit` entries. */
export interface RangeReader {
  range(
    gte: Uint8Array,
    lt: Uint8Array,
    limit: number,
    reverse?: boolean,
  ): Iterable<[Uint8Array, Uint8Array]>;
}

function read<T>(reader: StateReader, schema: Schema<T>, key: Uint8Array): T | undefined {
  const bytes = reader.get(key);
  return bytes === undefined ? undefined : decodeState(schema, bytes);
}

// Point lookups.

/** The last nonce `senderKey` used (0 before its first transaction); the next one is this + 1. */
export function lastNonce(reader: StateReader, senderKey: Uint8Array): number {
  return read(reader, u64, stateKey.nonce(senderKey)) ?? 0;
}

export function getIdentity(reader: StateReader, id: string): Identity | undefined {
  return read(reader, Identity, stateKey.identity(id));
}

export function getIdentityByKey(reader: StateReader, signingKey: Uint8Array): Identity | undefined {
  const id = read(reader, IdentityRef, stateKey.keyIndex(signingKey));
  return id === undefined ? undefined : getIdentity(reader, id);
}

export function getOrganisation(reader: StateReader, id: string): Organisation | undefined {
  return read(reader, Organisation, stateKey.organisation(id));
}

export function getRecord(reader: StateReader, id: string): RecordMeta | undefined {
  return read(reader, RecordMeta, stateKey.record(id));
}

/** The sealed data keys of a record; undefined once its content is erased. */

/**
 * Registered identities in id order, after `after` (exclusive) when given, at most `limit`: a
 * directory listing pages through them (an organisation's staff is a filter over this).
 */
export function listIdentities(reader: RangeReader, after: string | null, limit: number): Identity[] {
  const family = stateKey.identity('');
  const { lt } = prefixRange(family);
  // The smallest key above `after`'s: the same bytes and a zero byte.
  const gte = after === null ? family : Uint8Array.from([...stateKey.identity(after), 0]);
  return [...reader.range(gte, lt, limit)].map(([, value]) => decodeState(Identity, value));
}

// Listings of one patient's things.

const utf8 = new TextDecoder();
const LISTING_LIMIT = 10_000;

function suffix(key: Uint8Array, prefix: Uint8Array): string {
  return utf8.decode(key.subarray(prefix.length));
}

/** Ids of a patient's records (every version), in id order. */
export function listRecordIds(reader: RangeReader, patient: string, limit = LISTING_LIMIT): string[] {
  const prefix = patientPrefix.records(patient);
  const { gte, lt } = prefixRange(prefix);
  return [...reader.range(gte, lt, limit)].map(([key]) => suffix(key, prefix));
}

export interface PolicyEntry {
  subject: Subject;
  policy: Policy;
}

/** A patient's grants and forbids (expired grants included, with their expiry), by grantee. */
export function listPolicies(reader: RangeReader, patient: string, limit = LISTING_LIMIT): PolicyEntry[] {
  const prefix = patientPrefix.policies(patient);
  const { gte, lt } = prefixRange(prefix);
  const out: PolicyEntry[] = [];
  for (const [key, value] of reader.range(gte, lt, limit)) {
    const subject = parseSubjectKey(suffix(key, prefix));
    if (subject === null) continue;
    for (const policy of decodeState(PolicyBucket, value)) out.push({ subject, policy });
  }
  return out;
}

export function listAccessRequests(
  reader: RangeReader,
  patient: string,
  limit = LISTING_LIMIT,
): AccessRequest[] {
  const { gte, lt } = prefixRange(patientPrefix.requests(patient));
  return [...reader.range(gte, lt, limit)].map(([, value]) => decodeState(AccessRequest, value));
}

/** Emergency windows on a patient not yet pruned; those with expires_ms > now are open. */
export function listEmergencyWindows(
  reader: RangeReader,
  patient: string,
  limit = LISTING_LIMIT,
): EmergencyWindow[] {
  const { gte, lt } = prefixRange(patientPrefix.windows(patient));
  return [...reader.range(gte, lt, limit)].flatMap(([, value]) => decodeState(WindowList, value));
}

// The audit trail.

export interface AuditQuery {
  /** Which index: everything by time, or one patient's, actor's or record's entries. */
  by: AuditIndex;
  /** The patient, actor or record id; not used with `time`. */
  id?: string;
  /** Inclusive lower bound on the block time. */
  from_ms?: number;
  /** Exclusive upper bound on the block time. */
  to_ms?: number;
  /** Entries per page, 1 to MAX_AUDIT_PAGE; DEFAULT_AUDIT_PAGE when absent. */
  limit?: number;
  /** The cursor of the previous page, to get the next (older) one. */
  cursor?: string | null;
}

export interface AuditPage {
  /** Newest first. */
  entries: AuditEntry[];
  /** Pass back for the next, older page; null on the last page. */
  cursor: string | null;
}

export const DEFAULT_AUDIT_PAGE = 50;
export const MAX_AUDIT_PAGE = 1000;

function badQuery(message: string): MedledgerError {
  return new MedledgerError('BAD_AUDIT_QUERY', message);
}

export function queryAudit(reader: RangeReader, query: AuditQuery): AuditPage {
  const limit = query.limit ?? DEFAULT_AUDIT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
    throw badQuery(`The page size must be an integer from 1 to ${MAX_AUDIT_PAGE}.`);
  }
  if (query.by !== 'time' && (query.id === undefined || query.id === '')) {
    throw badQuery(`An audit query by ${query.by} needs an id.`);
  }
  for (const bound of [query.from_ms, query.to_ms]) {
    if (bound !== undefined && (!Number.isSafeInteger(bound) || bound < 0)) {
      throw badQuery('Time bounds must be non-negative integers of milliseconds.');
    }
  }
  const prefix = auditPrefix(query.by, query.by === 'time' ? undefined : query.id);
  const gte = query.from_ms === undefined ? prefix : concatBytes([prefix, auditTimeBound(query.from_ms)]);
  let lt =
    query.to_ms === undefined ? prefixRange(prefix).lt : concatBytes([prefix, auditTimeBound(query.to_ms)]);
  if (query.cursor !== undefined && query.cursor !== null) {
    const after = /^[0-9a-f]+$/.test(query.cursor) ? Buffer.from(query.cursor, 'hex') : Buffer.alloc(0);
    if (compareBytes(after, gte) < 0 || compareBytes(after, lt) >= 0) {
      throw badQuery('The cursor does not belong to this query.');
    }
    lt = after;
  }
  const entries: AuditEntry[] = [];
  let lastKey: Uint8Array | null = null;
  let more = false;
  for (const [key, value] of reader.range(gte, lt, limit + 1, true)) {
    if (entries.length === limit) {
      more = true;
      break;
    }
    entries.push(decodeState(AuditEntry, value));
    lastKey = key;
  }
  return { entries, cursor: more && lastKey !== null ? hex(lastKey) : null };
}

/**
 * An access decided now, against the current state: what the API uses to re-check a read permit
 * when it releases a record (a grant revoked since the permit stops the release).
 */
export function decideNow(reader: StateReader, query: AccessQuery): Decision {
  return decide(policySource(new TxScope(new BlockOverlay(reader))), query);
}
