/**
 * Record handlers: adding a record or an amendment (an access decision: append), reading one (an
 * access decision: read, audited whether permitted or denied), and erasing one's content. An attempt
 * refused before it is decided (a deactivated sender, the wrong role, not the patient) is audited
 * as a deny too (audit.ts refuseAttempt).
 *
 * A record is added by a clinician, or by the patient themself: such a record is marked
 * `patientProvided`, its author is the patient, and its custodian is the organisation that
 * registered the patient (the one whose clinicians add to the patient's record by role:care-team).
 *
 * Records are append-only: an amendment is a new record whose `previous` names the version it
 * amends; the old version stays, marked superseded. No key material is on chain: the record names
 * its ciphertext and its key blob (the data key's shares, sealed to the validators) by CID. Erasure
 * crypto-shreds: an event tells every store to delete both, and the metadata stays as a tombstone.
 */
import { refuseAttempt, writeAudit } from '../audit.ts';
import type { TxBody } from '../bodies.ts';
import type { Handler } from '../context.ts';
import { ensure } from '../errors.ts';
import {
  authorRefusal,
  checkCid,
  checkContentType,
  existingPatient,
  inactiveSender,
  isPatient,
} from '../guards.ts';
import { objectId } from '../ids.ts';
import type { RecordMeta } from '../model.ts';
import { decide } from '../policy.ts';
import * as state from '../state.ts';

export const addRecord: Handler<TxBody<'record.add'>> = (ctx, body) => {
  const early = inactiveSender(ctx) ?? authorRefusal(ctx);
  if (early !== null) {
    const amended = body.previous === null ? undefined : state.record(ctx.scope, body.previous);
    const facts = {
      action: 'append' as const,
      patient: body.patient,
      record: amended?.patient === body.patient ? amended.id : null,
      purpose: body.purpose,
      emergency: false,
      reason: '',
    };
    return refuseAttempt(ctx, isPatient(ctx, body.patient) ? facts : null, early);
  }
  ctx.concerns({ patient: body.patient });
  existingPatient(ctx, body.patient);
  checkContentType(body.contentType);
  checkCid(body.cid);
  checkCid(body.keyCid);
  ensure(body.keyCid !== body.cid, 'MALFORMED_BODY', 'The key blob and the ciphertext are one CID.');
  // Each record has blobs of its own: naming another record's would release that record's key
  // shares under this record's permits (and keep its blobs alive past its erasure).
  for (const cid of [body.cid, body.keyCid]) {
    const owner = state.blobOwner(ctx.scope, cid);
    ensure(owner === undefined, 'CID_IN_USE', `(${cid} is record ${owner}'s)`);
  }
  ensure(body.size_bytes > 0, 'BAD_SIZE');
  let previous: RecordMeta | null = null;
  if (body.previous !== null) {
    previous = state.record(ctx.scope, body.previous) ?? null;
    ensure(previous, 'UNKNOWN_RECORD', `(${body.previous})`);
    ctx.concerns({ previous: previous.id });
    ensure(previous.patient === body.patient, 'WRONG_PATIENT');
    ensure(previous.supersededBy === null, 'RECORD_SUPERSEDED', `(latest: ${previous.supersededBy})`);
    ensure(previous.erased_ms === null, 'RECORD_ERASED');
  }
  const id = objectId('record', ctx.txHash);
  ensure(!state.recordExists(ctx.scope, id), 'ID_COLLISION');
  const patientProvided = ctx.sender.kind === 'patient';
  const custodian = patientProvided
    ? state.policySource(ctx.scope).homeOrganisation(body.patient)
    : ctx.sender.organisation;
  // Every practitioner has an organisation, and every patient was registered by one's registrar.
  ensure(custodian !== null, 'INTERNAL_ERROR');

  const decision = decide(state.policySource(ctx.scope), {
    actor: ctx.sender,
    action: 'append',
    patient: body.patient,
    record: previous,
    contentType: body.contentType,
    purpose: body.purpose,
    now_ms: ctx.now_ms,
  });
  writeAudit(ctx, {
    action: 'append',
    patient: body.patient,
    record: decision.permit ? id : (previous?.id ?? null),
    permit: decision.permit,
    rule: decision.rule,
    purpose: body.purpose,
    emergency: false,
    reason: '',
  });
  if (!decision.permit) {
    ctx.emit('access.decided', { action: 'append', decision: 'deny', rule: decision.rule });
    return { code: 'DENIED', message: `Access denied: ${decision.detail} (rule ${decision.rule}).` };
  }

  state.putRecord(ctx.scope, {
    id,
    patient: body.patient,
    author: ctx.sender.id,
    custodian,
    contentType: body.contentType,
    cid: body.cid,
    size_bytes: body.size_bytes,
    keyCid: body.keyCid,
    version: previous === null ? 1 : previous.version + 1,
    previous: previous?.id ?? null,
    root: previous?.root ?? id,
    supersededBy: null,
    created_ms: ctx.now_ms,
    erased_ms: null,
    patientProvided,
  });
  state.putBlobOwner(ctx.scope, body.cid, id);
  state.putBlobOwner(ctx.scope, body.keyCid, id);
  if (previous !== null) state.putRecord(ctx.scope, { ...previous, supersededBy: id });
  ctx.concerns({ record: id });
  ctx.emit('access.decided', { action: 'append', decision: 'permit', rule: decision.rule });
  ctx.emit('record.added', {
    custodian,
    cid: body.cid,
    keyCid: body.keyCid,
    contentType: body.contentType,
    ...(patientProvided ? { patientProvided: 'true' } : {}),
  });
  return undefined;
};

export const readRecord: Handler<TxBody<'record.read'>> = (ctx, body) => {
  const record = state.record(ctx.scope, body.record);
  ensure(record, 'UNKNOWN_RECORD', `(${body.record})`);
  ctx.concerns({ patient: record.patient, record: record.id });
  const decision = decide(state.policySource(ctx.scope), {
    actor: ctx.sender,
    action: 'read',
    patient: record.patient,
    record,
    contentType: record.contentType,
    purpose: body.purpose,
    now_ms: ctx.now_ms,
  });
  writeAudit(ctx, {
    action: 'read',
    patient: record.patient,
    record: record.id,
    permit: decision.permit,
    rule: decision.rule,
    purpose: body.purpose,
    emergency: decision.emergency,
    reason: '',
  });
  const attributes: Record<string, string> = {
    action: 'read',
    decision: decision.permit ? 'permit' : 'deny',
    rule: decision.rule,
  };
  if (decision.emergency) attributes.emergency = 'true';
  if (decision.permit) {
    // What the validators need to release the ciphertext and re-seal their key shares.
    attributes.cid = record.cid;
    attributes.keyCid = record.keyCid;
  }
  ctx.emit('access.decided', attributes);
  if (decision.permit) return undefined;
  if (decision.rule === 'record-erased')
    return { code: 'RECORD_ERASED', message: `Access denied: ${decision.detail}.` };
  return { code: 'DENIED', message: `Access denied: ${decision.detail} (rule ${decision.rule}).` };
};

export const eraseRecord: Handler<TxBody<'record.erase'>> = (ctx, body) => {
  const inactive = inactiveSender(ctx);
  const record = state.record(ctx.scope, body.record);
  if (record === undefined && inactive !== null) return refuseAttempt(ctx, null, inactive);
  ensure(record, 'UNKNOWN_RECORD', `(${body.record})`);
  ctx.concerns({ patient: record.patient, record: record.id });
  const early =
    inactive ??
    (ctx.sender.id === record.patient ? null : { code: 'NOT_PATIENT' as const, rule: 'not-patient' });
  if (early !== null) {
    const facts = {
      action: 'erase' as const,
      patient: record.patient,
      record: record.id,
      purpose: null,
      emergency: false,
      reason: '',
    };
    return refuseAttempt(ctx, facts, early);
  }
  ensure(record.erased_ms === null, 'RECORD_ERASED');
  state.putRecord(ctx.scope, { ...record, erased_ms: ctx.now_ms });
  writeAudit(ctx, {
    action: 'erase',
    patient: record.patient,
    record: record.id,
    permit: true,
    rule: 'role:self',
    purpose: null,
    emergency: false,
    reason: '',
  });
  // Every store deletes the ciphertext and the key blob on this event.
  ctx.emit('record.erased', { cid: record.cid, keyCid: record.keyCid, custodian: record.custodian });
  return undefined;
};
