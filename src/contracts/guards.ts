/**
 * Checks shared by the handlers: who the sender is allowed to be, and the validation of keys, roles,
 * grantees, scopes, actions, content types and content ids. Each throws a ContractError naming what
 * is wrong; normalisers return the one canonical form (sorted, unique) that is stored.
 */
import { isWeakSigningKey } from '../crypto/ed25519.ts';
import { isWeakEncryptionKey } from '../crypto/x25519.ts';
import type { TxContext } from './context.ts';
import { type ContractErrorCode, ensure } from './errors.ts';
import {
  ACTIONS,
  type Action,
  CLINICAL_ROLES,
  type Identity,
  ROLES,
  type Role,
  type Scope,
  type Subject,
} from './model.ts';
import * as state from './state.ts';

/** Refuses keys that are not usable public keys (off the curve, or small/low order). */
export function checkKeys(signingKey: Uint8Array, encryptionKey: Uint8Array): void {
  ensure(!isWeakSigningKey(signingKey), 'WEAK_KEY', 'The signing key is not a usable Ed25519 key.');
  ensure(!isWeakEncryptionKey(encryptionKey), 'WEAK_KEY', 'The encryption key is not a usable X25519 key.');
}

/** Whether `identity` administers an organisation: its admin identity, or a practitioner with org-admin. */
export function administeredOrganisation(identity: Identity): string | null {
  if (identity.kind === 'organisation') return identity.organisation;
  if (identity.kind === 'practitioner' && identity.roles.includes('org-admin')) return identity.organisation;
  return null;
}

export function requireNetworkAdmin(ctx: TxContext): void {
  ensure(ctx.sender.kind === 'network-admin', 'WRONG_ROLE', 'Only a network admin may do this.');
}

export function requireOrgAdmin(ctx: TxContext): string {
  const organisation = administeredOrganisation(ctx.sender);
  ensure(organisation !== null, 'WRONG_ROLE', "Only an organisation's admin may do this.");
  return organisation;
}

export function requirePatient(ctx: TxContext): void {
  ensure(ctx.sender.kind === 'patient', 'NOT_PATIENT', 'The sender is not a patient.');
}

/** The sender as a practitioner holding one of `roles`. */
export function requirePractitioner(ctx: TxContext, roles: readonly Role[], what: string): void {
  const { sender } = ctx;
  ensure(
    sender.kind === 'practitioner' && sender.roles.some((role) => roles.includes(role)),
    'WRONG_ROLE',
    `Only ${what} may do this.`,
  );
}

/**
 * An access attempt refused before it is decided: the receipt's code and detail, and the rule the
 * deny entry of the audit trail names (see audit.ts refuseAttempt).
 */
export interface EarlyRefusal {
  code: ContractErrorCode;
  rule: string;
  detail?: string;
}

/**
 * The engine's envelope check, made by the handlers of access attempts themselves so that a
 * deactivated sender's attempt is audited: deactivated (actor-inactive), or their organisation is
 * (organisation-inactive).
 */
export function inactiveSender(ctx: TxContext): EarlyRefusal | null {
  const { sender } = ctx;
  if (!sender.active) return { code: 'IDENTITY_INACTIVE', rule: 'actor-inactive' };
  if (sender.organisation !== null && state.organisation(ctx.scope, sender.organisation)?.active !== true) {
    return { code: 'ORGANISATION_INACTIVE', rule: 'organisation-inactive' };
  }
  return null;
}

/** Null when the sender is a practitioner holding one of `roles`; else WRONG_ROLE, rule wrong-role. */
export function roleRefusal(ctx: TxContext, roles: readonly Role[], what: string): EarlyRefusal | null {
  const { sender } = ctx;
  if (sender.kind === 'practitioner' && sender.roles.some((role) => roles.includes(role))) return null;
  return { code: 'WRONG_ROLE', rule: 'wrong-role', detail: `Only ${what} may do this.` };
}

/** Who may send record.add: a clinician, or the patient (whose own file the evaluator then checks). */
export function authorRefusal(ctx: TxContext): EarlyRefusal | null {
  if (ctx.sender.kind === 'patient') return null;
  return roleRefusal(
    ctx,
    CLINICAL_ROLES,
    'a doctor, nurse, lab technician or emergency staff member, or the patient themself,',
  );
}

/** Whether `id` is a registered patient (an audit entry needs one to be filed under). */
export function isPatient(ctx: TxContext, id: string): boolean {
  return state.identity(ctx.scope, id)?.kind === 'patient';
}

export function existingPatient(ctx: TxContext, id: string): Identity {
  const patient = state.identity(ctx.scope, id);
  ensure(patient?.kind === 'patient', 'UNKNOWN_PATIENT', `(${id})`);
  return patient;
}

export function normaliseRoles(roles: readonly Role[]): Role[] {
  const unique = [...new Set(roles)];
  ensure(unique.length > 0 && unique.length === roles.length, 'BAD_ROLES', 'Each role may appear once.');
  return ROLES.filter((role) => unique.includes(role));
}

export function normaliseActions(actions: readonly Action[]): Action[] {
  const unique = [...new Set(actions)];
  ensure(unique.length > 0 && unique.length === actions.length, 'BAD_ACTIONS');
  return ACTIONS.filter((action) => unique.includes(action));
}

const FHIR_RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$/;

export function checkContentType(contentType: string): void {
  ensure(
    FHIR_RESOURCE_TYPE.test(contentType) || MIME_TYPE.test(contentType),
    'BAD_CONTENT_TYPE',
    `(${JSON.stringify(contentType.slice(0, 64))})`,
  );
}

/** CIDv1, base32 lower case ("b"), over a SHA-256 multihash: always 59 characters. */
export const CID_V1 = /^b[a-z2-7]{58}$/;

export function checkCid(cid: string): void {
  ensure(CID_V1.test(cid), 'BAD_CID');
}

/** Sorted, unique, non-empty lists; content types must be well formed. */
export function normaliseScope(scope: Scope): Scope {
  switch (scope.kind) {
    case 'all':
      return { kind: 'all' };
    case 'types': {
      const types = [...new Set(scope.types)].sort();
      ensure(types.length > 0, 'BAD_SCOPE');
      for (const type of types) checkContentType(type);
      return { kind: 'types', types };
    }
    case 'records': {
      const records = [...new Set(scope.records)].sort();
      ensure(records.length > 0, 'BAD_SCOPE');
      return { kind: 'records', records };
    }
  }
}

/** The grantee must exist: a practitioner, an organisation, or a role within an organisation. */
export function checkSubject(ctx: TxContext, subject: Subject): Subject {
  switch (subject.kind) {
    case 'practitioner': {
      const practitioner = state.identity(ctx.scope, subject.id);
      ensure(practitioner?.kind === 'practitioner', 'UNKNOWN_PRACTITIONER', `(${subject.id})`);
      return { kind: 'practitioner', id: subject.id };
    }
    case 'organisation':
      ensure(state.organisation(ctx.scope, subject.id), 'UNKNOWN_ORGANISATION', `(${subject.id})`);
      return { kind: 'organisation', id: subject.id };
    case 'role':
      ensure(
        state.organisation(ctx.scope, subject.organisation),
        'UNKNOWN_ORGANISATION',
        `(${subject.organisation})`,
      );
      return { kind: 'role', organisation: subject.organisation, role: subject.role };
  }
}

export function checkReason(reason: string): void {
  ensure(reason.trim().length > 0, 'REASON_REQUIRED');
}
