/**
 * Consent handlers: the patient grants, forbids and revokes; a practitioner requests access and the
 * patient approves (which creates a grant) or denies. Policies live in one bucket per (patient,
 * grantee), so a decision reads only the buckets of the grantees the actor can act as.
 */
import { LIMITS } from '../../ledger/types.ts';
import { refuseAttempt, writeAudit } from '../audit.ts';
import type { TxBody } from '../bodies.ts';
import type { Handler, TxContext } from '../context.ts';
import { ensure } from '../errors.ts';
import {
  checkReason,
  checkSubject,
  existingPatient,
  inactiveSender,
  isPatient,
  normaliseActions,
  normaliseScope,
  requirePatient,
  roleRefusal,
} from '../guards.ts';
import { ID_PREFIX, objectId } from '../ids.ts';
import { subjectKey } from '../keys.ts';
import {
  type AuditAction,
  type GrantPurpose,
  MAX_POLICIES_PER_GRANTEE,
  type Policy,
  REQUESTER_ROLES,
  type Subject,
} from '../model.ts';
import * as state from '../state.ts';

/** Adds a policy to its grantee's bucket and records where it lives. */
function addPolicy(ctx: TxContext, patient: string, subject: Subject, policy: Policy): void {
  ensure(state.locator(ctx.scope, policy.id) === undefined, 'ID_COLLISION');
  ensure(state.policyCount(ctx.scope, patient, subject) < MAX_POLICIES_PER_GRANTEE, 'TOO_MANY_POLICIES');
  // Refused for its size, the scope's writes are dropped.
  const bytes = state.appendPolicy(ctx.scope, patient, subject, policy);
  ensure(bytes <= LIMITS.stateValueBytes, 'TOO_MANY_POLICIES');
  state.putLocator(ctx.scope, policy.id, { patient, subject });
}

/**
 * A consent change in the patient's audit trail: `rule` names the policy or request it concerns
 * (grant:<id>, forbid:<id>, request:<id>), `reason` the grantee or the requester's reason.
 */
function auditConsent(
  ctx: TxContext,
  facts: { action: AuditAction; patient: string; rule: string; purpose: GrantPurpose; reason: string },
): void {
  writeAudit(ctx, {
    action: facts.action,
    patient: facts.patient,
    record: null,
    permit: true,
    rule: facts.rule,
    purpose: facts.purpose === 'any' ? null : facts.purpose,
    emergency: false,
    reason: facts.reason,
  });
}

/** A grantee as people read it: "practitioner pr-…", "organisation st-marys", "doctor at st-marys". */
function describeSubject(subject: Subject): string {
  if (subject.kind === 'role') return `${subject.role} at ${subject.organisation}`;
  return `${subject.kind} ${subject.id}`;
}

function checkExpiry(ctx: TxContext, expires_ms: number): void {
  ensure(expires_ms > ctx.now_ms, 'GRANT_EXPIRED', `(block time ${new Date(ctx.now_ms).toISOString()})`);
}

export const grant: Handler<TxBody<'consent.grant'>> = (ctx, body) => {
  requirePatient(ctx);
  ctx.concerns({ patient: ctx.sender.id });
  const subject = checkSubject(ctx, body.subject);
  const policy: Policy = {
    id: objectId('grant', ctx.txHash),
    effect: 'permit',
    scope: normaliseScope(body.scope),
    actions: normaliseActions(body.actions),
    purpose: body.purpose,
    expires_ms: body.expires_ms,
    created_ms: ctx.now_ms,
  };
  checkExpiry(ctx, body.expires_ms);
  addPolicy(ctx, ctx.sender.id, subject, policy);
  auditConsent(ctx, {
    action: 'grant',
    patient: ctx.sender.id,
    rule: `grant:${policy.id}`,
    purpose: policy.purpose,
    reason: `to ${describeSubject(subject)}`,
  });
  ctx.emit('consent.granted', { grant: policy.id, grantee: subjectKey(subject) });
  return undefined;
};

export const forbid: Handler<TxBody<'consent.forbid'>> = (ctx, body) => {
  requirePatient(ctx);
  ctx.concerns({ patient: ctx.sender.id });
  const subject = checkSubject(ctx, body.subject);
  const policy: Policy = {
    id: objectId('forbid', ctx.txHash),
    effect: 'forbid',
    scope: normaliseScope(body.scope),
    actions: normaliseActions(body.actions),
    purpose: 'any',
    expires_ms: null,
    created_ms: ctx.now_ms,
  };
  addPolicy(ctx, ctx.sender.id, subject, policy);
  auditConsent(ctx, {
    action: 'forbid',
    patient: ctx.sender.id,
    rule: `forbid:${policy.id}`,
    purpose: 'any',
    reason: `to ${describeSubject(subject)}`,
  });
  ctx.emit('consent.forbidden', { forbid: policy.id, grantee: subjectKey(subject) });
  return undefined;
};

export const revoke: Handler<TxBody<'consent.revoke'>> = (ctx, body) => {
  requirePatient(ctx);
  ctx.concerns({ patient: ctx.sender.id });
  const where = state.locator(ctx.scope, body.policy);
  ensure(where, 'UNKNOWN_POLICY', `(${body.policy})`);
  ensure(where.patient === ctx.sender.id, 'NOT_PATIENT');
  const bucket = state.policies(ctx.scope, where.patient, where.subject);
  state.putPolicies(
    ctx.scope,
    where.patient,
    where.subject,
    bucket.filter((policy) => policy.id !== body.policy),
  );
  state.dropLocator(ctx.scope, body.policy);
  const kind = body.policy.startsWith(ID_PREFIX.forbid) ? 'forbid' : 'grant';
  auditConsent(ctx, {
    action: 'revoke',
    patient: ctx.sender.id,
    rule: `${kind}:${body.policy}`,
    purpose: 'any',
    reason: `from ${describeSubject(where.subject)}`,
  });
  ctx.emit('consent.revoked', { policy: body.policy, grantee: subjectKey(where.subject) });
  return undefined;
};

export const requestAccess: Handler<TxBody<'access.request'>> = (ctx, body) => {
  const early =
    inactiveSender(ctx) ??
    roleRefusal(ctx, REQUESTER_ROLES, 'a clinician, pharmacist, insurer or researcher');
  if (early !== null) {
    // Asking for access is an attempt at it: refused, it is audited as a deny.
    const facts = {
      action: 'request' as const,
      patient: body.patient,
      record: null,
      purpose: body.purpose,
      emergency: false,
      reason: body.reason,
    };
    return refuseAttempt(ctx, isPatient(ctx, body.patient) ? facts : null, early);
  }
  ctx.concerns({ patient: body.patient });
  existingPatient(ctx, body.patient);
  checkReason(body.reason);
  const id = objectId('request', ctx.txHash);
  ensure(state.request(ctx.scope, body.patient, id) === undefined, 'ID_COLLISION');
  state.putRequest(ctx.scope, {
    id,
    patient: body.patient,
    requester: ctx.sender.id,
    scope: normaliseScope(body.scope),
    actions: normaliseActions(body.actions),
    purpose: body.purpose,
    reason: body.reason,
    created_ms: ctx.now_ms,
    status: 'pending',
    grant: null,
    decided_ms: null,
  });
  auditConsent(ctx, {
    action: 'request',
    patient: body.patient,
    rule: `request:${id}`,
    purpose: body.purpose,
    reason: body.reason,
  });
  ctx.emit('access.requested', { request: id });
  return undefined;
};

export const approveRequest: Handler<TxBody<'access.approve'>> = (ctx, body) => {
  requirePatient(ctx);
  ctx.concerns({ patient: ctx.sender.id });
  const pending = state.request(ctx.scope, ctx.sender.id, body.request);
  ensure(pending, 'UNKNOWN_REQUEST', `(${body.request})`);
  ensure(pending.status === 'pending', 'REQUEST_CLOSED');
  checkExpiry(ctx, body.expires_ms);
  const subject: Subject = { kind: 'practitioner', id: pending.requester };
  const policy: Policy = {
    id: objectId('grant', ctx.txHash),
    effect: 'permit',
    scope: pending.scope,
    actions: pending.actions,
    purpose: pending.purpose,
    expires_ms: body.expires_ms,
    created_ms: ctx.now_ms,
  };
  addPolicy(ctx, ctx.sender.id, subject, policy);
  state.putRequest(ctx.scope, { ...pending, status: 'approved', grant: policy.id, decided_ms: ctx.now_ms });
  auditConsent(ctx, {
    action: 'approve',
    patient: ctx.sender.id,
    rule: `grant:${policy.id}`,
    purpose: policy.purpose,
    reason: `request ${pending.id} of ${pending.requester}`,
  });
  ctx.emit('access.approved', { request: pending.id, grant: policy.id, grantee: subjectKey(subject) });
  return undefined;
};

export const denyRequest: Handler<TxBody<'access.deny'>> = (ctx, body) => {
  requirePatient(ctx);
  ctx.concerns({ patient: ctx.sender.id });
  const pending = state.request(ctx.scope, ctx.sender.id, body.request);
  ensure(pending, 'UNKNOWN_REQUEST', `(${body.request})`);
  ensure(pending.status === 'pending', 'REQUEST_CLOSED');
  state.putRequest(ctx.scope, { ...pending, status: 'denied', decided_ms: ctx.now_ms });
  auditConsent(ctx, {
    action: 'refuse',
    patient: ctx.sender.id,
    rule: `request:${pending.id}`,
    purpose: pending.purpose,
    reason: `request of ${pending.requester}`,
  });
  ctx.emit('access.denied', { request: pending.id });
  return undefined;
};
