/**
 * The transaction types of the rule engine and the canonical schema of each one's body.
 * `Transaction.type` is the type name, `Transaction.body` the body encoded with its schema.
 * Field order is wire order: never reorder a field; add a new type instead of changing one.
 */
import {
  bool,
  bytes,
  decode,
  encode,
  type Infer,
  list,
  oneOf,
  optional,
  str,
  struct,
  u64,
} from '../codec/index.ts';
import { LIMITS } from '../ledger/types.ts';
import { MAX_ID_BYTES } from './ids.ts';
import {
  ActionList,
  GRANT_PURPOSES,
  MAX_CID_BYTES,
  MAX_CONTENT_TYPE_BYTES,
  MAX_REASON_BYTES,
  ORGANISATION_KINDS,
  PURPOSES,
  ROLES,
  Scope,
  Subject,
} from './model.ts';

const id = str(MAX_ID_BYTES);
const key = bytes(32);
const signature = bytes(64);
const roles = list(oneOf(ROLES), ROLES.length);
const reason = str(MAX_REASON_BYTES);

export const TX_BODIES = {
  /** Network admin: a new organisation with its admin identity. */
  'org.register': struct('OrgRegister', {
    id,
    kind: oneOf(ORGANISATION_KINDS),
    adminKey: key,
    encryptionKey: key,
  }),
  /** Network admin: deactivate (or reactivate) an organisation; its staff can then do nothing. */
  'org.set-active': struct('OrgSetActive', { id, active: bool }),
  /** Organisation admin: a practitioner of the sender's organisation. */
  'practitioner.register': struct('PractitionerRegister', {
    signingKey: key,
    encryptionKey: key,
    roles,
  }),
  /** Organisation admin: replace a practitioner's roles. */
  'practitioner.set-roles': struct('PractitionerSetRoles', { practitioner: id, roles }),
  /** Registrar: a patient, who co-signs with their own key (see cosign.ts). */
  'patient.register': struct('PatientRegister', {
    signingKey: key,
    encryptionKey: key,
    coSignature: signature,
  }),
  /** Network admin (anyone), organisation admin (its practitioners): deactivate or reactivate. */
  'identity.set-active': struct('IdentitySetActive', { id, active: bool }),
  /** Any identity: replace its own keys; the new signing key proves possession (see cosign.ts). */
  'identity.rotate-keys': struct('IdentityRotateKeys', {
    signingKey: key,
    encryptionKey: key,
    proof: signature,
  }),
  /**
   * A clinician, or the patient themself (then `patientProvided`): a record, or an amendment of
   * `previous`, for a patient. Needs an append permit (policy.ts).
   */
  'record.add': struct('RecordAdd', {
    patient: id,
    contentType: str(MAX_CONTENT_TYPE_BYTES),
    cid: str(MAX_CID_BYTES),
    size_bytes: u64,
    /** The key blob's CID: the data key's shares, sealed to the validators (src/store/key-blob.ts). */
    keyCid: str(MAX_CID_BYTES),
    previous: optional(id),
    purpose: oneOf(PURPOSES),
  }),
  /** Anyone registered: ask to read a record. Decided, permitted or denied, and audited either way. */
  'record.read': struct('RecordRead', { record: id, purpose: oneOf(PURPOSES) }),
  /** The record's patient: crypto-shred its content. */
  'record.erase': struct('RecordErase', { record: id }),
  /** Patient: permit a grantee some actions on some records for a purpose until an expiry. */
  'consent.grant': struct('ConsentGrant', {
    subject: Subject,
    scope: Scope,
    actions: ActionList,
    purpose: oneOf(GRANT_PURPOSES),
    expires_ms: u64,
  }),
  /** Patient: forbid a grantee some actions on some records; a forbid wins over every permit. */
  'consent.forbid': struct('ConsentForbid', { subject: Subject, scope: Scope, actions: ActionList }),
  /** Patient: revoke a grant or lift a forbid. */
  'consent.revoke': struct('ConsentRevoke', { policy: id }),
  /** A clinician, pharmacist, insurer or researcher: ask a patient for access. */
  'access.request': struct('AccessRequestBody', {
    patient: id,
    scope: Scope,
    actions: ActionList,
    purpose: oneOf(PURPOSES),
    reason,
  }),
  /** Patient: approve a pending request, which becomes a grant to the requester until `expires_ms`. */
  'access.approve': struct('AccessApprove', { request: id, expires_ms: u64 }),
  /** Patient: deny a pending request. */
  'access.deny': struct('AccessDeny', { request: id }),
  /** Emergency staff: break glass on a patient for `duration_ms`, read-only, with a mandatory reason. */
  'emergency.open': struct('EmergencyOpen', { patient: id, reason, duration_ms: u64 }),
} as const;

export type TxBodies = typeof TX_BODIES;
export type TxType = keyof TxBodies;
export type TxBody<T extends TxType> = Infer<TxBodies[T]>;

export const TX_TYPES = Object.keys(TX_BODIES) as TxType[];

export function isTxType(type: string): type is TxType {
  return Object.hasOwn(TX_BODIES, type);
}

export function encodeBody<T extends TxType>(type: T, body: TxBody<T>): Uint8Array {
  return encode(TX_BODIES[type] as never, body as never);
}

/** Decodes a body with its type's schema; throws CodecError when it is malformed or not canonical. */
export function decodeBody<T extends TxType>(type: T, bytes: Uint8Array): TxBody<T> {
  return decode(TX_BODIES[type] as never, bytes, LIMITS.txBodyBytes) as TxBody<T>;
}
