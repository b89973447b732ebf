/**
 * The rule engine's vocabulary and the canonical schemas of what it keeps in state: identities,
 * organisations, records and their key envelopes, consent policies, access requests, emergency
 * windows and audit entries. Field order is wire order: never reorder a field.
 */
import {
  bool,
  bytes,
  type Infer,
  list,
  oneOf,
  optional,
  str,
  struct,
  u8,
  u32,
  u64,
  union,
} from '../codec/index.ts';
import { ORGANISATION_KINDS } from '../ledger/genesis.ts';
import { MAX_ID_BYTES } from './ids.ts';

export { ORGANISATION_KINDS };
export type OrganisationKind = (typeof ORGANISATION_KINDS)[number];

export const IDENTITY_KINDS = ['network-admin', 'organisation', 'practitioner', 'patient'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

/**
 * A practitioner's roles within their organisation. What each may do with records is the rule table
 * at the top of policy.ts. New roles go at the end: stored role lists are sorted in this order.
 */
export const ROLES = [
  'doctor',
  'nurse',
  'lab-technician',
  'emergency-staff',
  'registrar',
  'org-admin',
  'pharmacist',
  'insurer',
  'researcher',
  'auditor',
] as const;
export type Role = (typeof ROLES)[number];
/** Roles that author clinical records; registrars and org admins administer, they do not treat. */
export const CLINICAL_ROLES: readonly Role[] = ['doctor', 'nurse', 'lab-technician', 'emergency-staff'];
/**
 * Roles that may ask a patient for access (access.request): the clinicians, and those who read only
 * under a grant (pharmacists, insurers, researchers). Registrars, org admins and auditors do not.
 */
export const REQUESTER_ROLES: readonly Role[] = [...CLINICAL_ROLES, 'pharmacist', 'insurer', 'researcher'];

export const ACTIONS = ['read', 'append'] as const;
export type Action = (typeof ACTIONS)[number];

/** Why a practitioner acts (after HL7 PurposeOfUse). A request names one; a grant names one or 'any'. */
export const PURPOSES = [
  'treatment',
  'emergency',
  'payment',
  'operations',
  'research',
  'public-health',
] as const;
export type Purpose = (typeof PURPOSES)[number];
export const GRANT_PURPOSES = [...PURPOSES, 'any'] as const;
export type GrantPurpose = (typeof GRANT_PURPOSES)[number];

export const MAX_SCOPE_ITEMS = 64;
export const MAX_REASON_BYTES = 512;
export const MAX_CONTENT_TYPE_BYTES = 128;
export const MAX_CID_BYTES = 128;

const id = str(MAX_ID_BYTES);
const key = bytes(32);
const role = oneOf(ROLES);

export const Identity = struct('Identity', {
  id,
  kind: oneOf(IDENTITY_KINDS),
  /** The organisation of a practitioner or an organisation's admin identity; null otherwise. */
  organisation: optional(id),
  /** Sorted, unique; empty unless a practitioner. */
  roles: list(role, ROLES.length),
  signingKey: key,
  encryptionKey: key,
  active: bool,
  registered_ms: u64,
  /** Who registered it; null for identities from genesis. */
  registeredBy: optional(id),
});
export type Identity = Infer<typeof Identity>;

export const Organisation = struct('Organisation', {
  id,
  kind: oneOf(ORGANISATION_KINDS),
  /** The identity holding the organisation's admin key (kind 'organisation'). */
  admin: id,
  active: bool,
  registered_ms: u64,
});
export type Organisation = Infer<typeof Organisation>;

/** A record's metadata: all that stays on chain, also after erasure. */
export const RecordMeta = struct('RecordMeta', {
  id,
  patient: id,
  author: id,
  /**
   * The organisation responsible for the record (it holds no key; see keyCid): the author's, or for
   * a record the patient added themself, the organisation that registered the patient.
   */
  custodian: id,
  /** A FHIR R4 resourceType (e.g. Observation) or a MIME type (e.g. application/pdf). */
  contentType: str(MAX_CONTENT_TYPE_BYTES),
  /** The ciphertext's CID in the content store. */
  cid: str(MAX_CID_BYTES),
  size_bytes: u64,
  /**
   * The CID of the record's key blob in the content store: its data key split among the validators,
   * each share sealed to one of them (src/store/key-blob.ts). No key material is on chain.
   */
  keyCid: str(MAX_CID_BYTES),
  /** 1 for a new record; an amendment is previous.version + 1. */
  version: u32,
  previous: optional(id),
  /** The id of version 1: a grant naming it covers every version. */
  root: id,
  /** The amendment that superseded this version, once there is one. */
  supersededBy: optional(id),
  created_ms: u64,
  /** When the patient had the content erased; null while it exists. */
  erased_ms: optional(u64),
  /** Added by the patient themself (author = patient), not by a practitioner. */
  patientProvided: bool,
});
export type RecordMeta = Infer<typeof RecordMeta>;

/** Whom a grant or forbid is about. */
export const Subject = union('Subject', {
  practitioner: struct('PractitionerSubject', { id }),
  organisation: struct('OrganisationSubject', { id }),
  role: struct('RoleSubject', { organisation: id, role }),
});
export type Subject = Infer<typeof Subject>;

/** Which of the patient's records a grant or forbid covers. */
export const Scope = union('Scope', {
  all: struct('AllRecords', {}),
  types: struct('RecordTypes', { types: list(str(MAX_CONTENT_TYPE_BYTES), MAX_SCOPE_ITEMS) }),
  records: struct('NamedRecords', { records: list(id, MAX_SCOPE_ITEMS) }),
});
export type Scope = Infer<typeof Scope>;

export const ActionList = list(oneOf(ACTIONS), ACTIONS.length);

/** A grant (effect permit) or a forbid, as kept in its grantee's bucket. */
export const Policy = struct('Policy', {
  id,
  effect: oneOf(['permit', 'forbid'] as const),
  scope: Scope,
  /** Sorted, unique. */
  actions: ActionList,
  /** 'any' for forbids: a forbid applies whatever the purpose. */
  purpose: oneOf(GRANT_PURPOSES),
  /** Grants expire; forbids hold until the patient lifts them (null). */
  expires_ms: optional(u64),
  created_ms: u64,
});
export type Policy = Infer<typeof Policy>;

/** Upper bound of one bucket; the encoded size is bounded by the state value limit too. */
export const MAX_POLICIES_PER_GRANTEE = 4096;
export const PolicyBucket = list(Policy, MAX_POLICIES_PER_GRANTEE);

/** Where a policy lives, so it can be revoked by id alone. */
export const PolicyLocator = struct('PolicyLocator', { patient: id, subject: Subject });
export type PolicyLocator = Infer<typeof PolicyLocator>;

export const REQUEST_STATUSES = ['pending', 'approved', 'denied'] as const;

export const AccessRequest = struct('AccessRequest', {
  id,
  patient: id,
  requester: id,
  scope: Scope,
  actions: ActionList,
  purpose: oneOf(PURPOSES),
  reason: str(MAX_REASON_BYTES),
  created_ms: u64,
  status: oneOf(REQUEST_STATUSES),
  /** The grant an approval created. */
  grant: optional(id),
  decided_ms: optional(u64),
});
export type AccessRequest = Infer<typeof AccessRequest>;

export const EmergencyWindow = struct('EmergencyWindow', {
  id,
  actor: id,
  patient: id,
  opened_ms: u64,
  expires_ms: u64,
  reason: str(MAX_REASON_BYTES),
});
export type EmergencyWindow = Infer<typeof EmergencyWindow>;
/** Open windows of one practitioner on one patient; expired ones are dropped when it is rewritten. */
export const MAX_OPEN_WINDOWS = 256;
export const WindowList = list(EmergencyWindow, MAX_OPEN_WINDOWS);

/**
 * Access decisions (read, append), break-glass windows and erasures, and the patient's consent
 * changes (grant, forbid, revoke, approve or refuse a request) and the requests made of them. An
 * attempt at an access, a break-glass, a request or an erasure that is refused before any decision
 * (the wrong role, not the patient, deactivated) is an entry too, its decision deny.
 * New actions go at the end: the wire form is the name, but keep the order stable for readers.
 */
export const AUDIT_ACTIONS = [
  'read',
  'append',
  'emergency',
  'erase',
  'grant',
  'forbid',
  'revoke',
  'request',
  'approve',
  'refuse',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One entry of the audit trail: who did what to whose record, when, why, and which rule decided. */
export const AuditEntry = struct('AuditEntry', {
  timestamp_ms: u64,
  height: u64,
  txIndex: u32,
  /** Position among the entries of one transaction. */
  seq: u8,
  txHash: bytes(32),
  action: oneOf(AUDIT_ACTIONS),
  actor: id,
  patient: id,
  record: optional(id),
  decision: oneOf(['permit', 'deny'] as const),
  /**
   * The deciding rule: grant:<id>, forbid:<id>, emergency:<id>, role:<rule>, none, or why the attempt
   * was refused before any decision (wrong-role, not-patient, actor-inactive, organisation-inactive).
   */
  rule: str(128),
  purpose: optional(oneOf(PURPOSES)),
  /** A break-glass event: shown flagged to the patient. */
  emergency: bool,
  reason: str(MAX_REASON_BYTES),
});
export type AuditEntry = Infer<typeof AuditEntry>;

/** Per-sender nonce. */
export const Nonce = u64;
/** Key index value: the identity id. */
export const IdentityRef = id;
