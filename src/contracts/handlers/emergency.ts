/**
 * Break-glass: emergency staff open a read-only window on a patient for at most the network's
 * maximum (genesis params.emergencyAccessMaxMs), with a mandatory reason. Opening it is itself an
 * audit entry, flagged, so the patient sees it; every read it permits is flagged too. An attempt by
 * someone without the emergency-staff role, or deactivated, is refused (WRONG_ROLE, IDENTITY_INACTIVE,
 * ORGANISATION_INACTIVE) and audited as a flagged deny with its stated reason, so the patient sees
 * that too.
 */
import { formatDuration } from '../../duration.ts';
import { refuseAttempt, writeAudit } from '../audit.ts';
import type { TxBody } from '../bodies.ts';
import type { Handler } from '../context.ts';
import { ensure } from '../errors.ts';
import { checkReason, existingPatient, inactiveSender, isPatient, roleRefusal } from '../guards.ts';
import { objectId } from '../ids.ts';
import { MAX_OPEN_WINDOWS } from '../model.ts';
import * as state from '../state.ts';

export const openEmergency: Handler<TxBody<'emergency.open'>> = (ctx, body) => {
  const early = inactiveSender(ctx) ?? roleRefusal(ctx, ['emergency-staff'], 'emergency staff');
  if (early !== null) {
    const facts = {
      action: 'emergency' as const,
      patient: body.patient,
      record: null,
      purpose: 'emergency' as const,
      emergency: true,
      reason: body.reason,
    };
    return refuseAttempt(ctx, isPatient(ctx, body.patient) ? facts : null, early);
  }
  ctx.concerns({ patient: body.patient });
  existingPatient(ctx, body.patient);
  checkReason(body.reason);
  const max_ms = ctx.block.genesis.params.emergencyAccessMaxMs;
  ensure(
    body.duration_ms >= 1 && body.duration_ms <= max_ms,
    'BAD_DURATION',
    `(at most ${formatDuration(max_ms)})`,
  );
  const id = objectId('window', ctx.txHash);
  const expires_ms = ctx.now_ms + body.duration_ms;
  // Expired windows are dropped here: the audit trail keeps them, the evaluator no longer needs them.
  const open = state
    .windows(ctx.scope, body.patient, ctx.sender.id)
    .filter((window) => window.expires_ms > ctx.now_ms);
  ensure(!open.some((window) => window.id === id), 'ID_COLLISION');
  ensure(open.length < MAX_OPEN_WINDOWS, 'TOO_MANY_WINDOWS');
  open.push({
    id,
    actor: ctx.sender.id,
    patient: body.patient,
    opened_ms: ctx.now_ms,
    expires_ms,
    reason: body.reason,
  });
  state.putWindows(ctx.scope, body.patient, ctx.sender.id, open);
  writeAudit(ctx, {
    action: 'emergency',
    patient: body.patient,
    record: null,
    permit: true,
    rule: 'role:emergency-staff',
    purpose: 'emergency',
    emergency: true,
    reason: body.reason,
  });
  ctx.emit('emergency.opened', { window: id, expires_ms: String(expires_ms), emergency: 'true' });
  return undefined;
};
