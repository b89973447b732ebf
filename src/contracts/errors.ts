/**
 * The rule engine's rejection codes: a stable SCREAMING_SNAKE code (never renamed once shipped) and
 * the sentence a user reads when a transaction of theirs is refused. Handlers throw ContractError;
 * the engine turns it into a receipt carrying the code and the message.
 */
import { MedledgerError } from '../errors.ts';

/** Every code a receipt of the rule engine can carry (besides OK), with its default sentence. */
export const CONTRACT_ERRORS = {
  // Envelope: checked for every transaction before its handler runs.
  WRONG_CHAIN: 'The transaction was signed for another chain.',
  NOT_REGISTERED: 'The sender is not registered on this network.',
  NONCE_REUSED: 'The nonce was already used by this sender: the transaction is a replay or a duplicate.',
  NONCE_GAP: 'The nonce skips ahead: an earlier transaction of this sender is missing.',
  UNKNOWN_TX_TYPE: 'The transaction type is not one this network knows.',
  MALFORMED_BODY: 'The transaction body does not have the shape its type requires.',
  IDENTITY_INACTIVE: 'The identity has been deactivated.',
  ORGANISATION_INACTIVE: 'The organisation has been deactivated.',
  // Registry.
  WRONG_ROLE: 'The sender does not hold a role that allows this.',
  WRONG_ORGANISATION: 'The sender administers another organisation.',
  BAD_COSIGNATURE: "The co-signature is not the patient's signature over this registration.",
  BAD_KEY_PROOF: 'The new key did not sign the key rotation.',
  WEAK_KEY: 'A public key is not a valid Ed25519 or X25519 key.',
  KEY_IN_USE: 'The key already belongs to a registered identity.',
  ALREADY_REGISTERED: 'An identity with this key was already registered.',
  ORGANISATION_EXISTS: 'An organisation with this id already exists.',
  BAD_ID: 'The id must be 1 to 64 lowercase letters, digits or dashes.',
  BAD_ROLES: 'The roles must be a non-empty list of known roles.',
  UNKNOWN_IDENTITY: 'No identity with this id is registered.',
  UNKNOWN_ORGANISATION: 'No organisation with this id is registered.',
  UNKNOWN_PRACTITIONER: 'No practitioner with this id is registered.',
  UNKNOWN_PATIENT: 'No patient with this id is registered.',
  // Records.
  UNKNOWN_RECORD: 'No record with this id exists.',
  RECORD_ERASED: 'The record has been erased: its content no longer exists.',
  RECORD_SUPERSEDED: 'The record was already amended: amend its latest version.',
  WRONG_PATIENT: 'The record belongs to another patient.',
  BAD_CONTENT_TYPE: 'The content type must be a FHIR R4 resourceType or a MIME type.',
  BAD_CID: 'The content id must be a CIDv1 (base32, SHA-256).',
  CID_IN_USE: 'This ciphertext or key blob belongs to another record; every record has its own.',
  BAD_SIZE: 'The ciphertext size must be at least one byte.',
  NOT_PATIENT: 'Only the patient concerned may do this.',
  // Consent.
  GRANT_EXPIRED: 'The expiry of the grant is not in the future.',
  BAD_SCOPE: 'A scope must name at least one type or record, and at most 64.',
  BAD_ACTIONS: 'Actions must be a non-empty list of read and append.',
  UNKNOWN_POLICY: 'No grant or forbid with this id exists.',
  TOO_MANY_POLICIES: 'The patient has too many grants and forbids for this grantee: revoke some first.',
  UNKNOWN_REQUEST: 'No pending access request with this id exists for this patient.',
  REQUEST_CLOSED: 'The access request was already approved or denied.',
  // Emergency access.
  REASON_REQUIRED: 'Emergency access needs a reason.',
  TOO_MANY_WINDOWS: 'Too many emergency windows are open on this patient by this practitioner.',
  BAD_DURATION: 'The emergency window must last at least one millisecond and at most the network maximum.',
  // Decisions.
  DENIED: 'Access denied.',
  // Bugs: a deterministic failure inside a handler, reported rather than halting the chain.
  INTERNAL_ERROR: 'The rule engine failed on this transaction.',
  ID_COLLISION: 'A derived id collides with an existing one.',
} as const;

export type ContractErrorCode = keyof typeof CONTRACT_ERRORS;

/** A refused transaction: nothing it did is kept (the engine drops its writes). */
export class ContractError extends MedledgerError {
  override readonly code: ContractErrorCode;

  constructor(code: ContractErrorCode, detail?: string) {
    super(code, detail === undefined ? CONTRACT_ERRORS[code] : `${CONTRACT_ERRORS[code]} ${detail}`);
    this.name = 'ContractError';
    this.code = code;
  }
}

/** Throws ContractError(code) unless `condition` holds. */
export function ensure(condition: unknown, code: ContractErrorCode, detail?: string): asserts condition {
  if (!condition) throw new ContractError(code, detail);
}
