/**
 * Writing the audit trail: every access decision (read, append), every break-glass window and every
 * erasure, and every such attempt refused before it was decided (refuseAttempt), becomes an entry
 * stored under four ordered keys (by time, patient, actor and record), so each query is one key-range
 * scan, newest first. Entries are small and written once; keeping a full copy under every index
 * spares the queries a second lookup.
 */
import { encode } from '../codec/index.ts';
import type { Refusal, TxContext } from './context.ts';
import { ContractError } from './errors.ts';
import type { EarlyRefusal } from './guards.ts';
import { type AuditIndex, type AuditPosition, auditKeyOf, positionChars } from './keys.ts';
import { type AuditAction, AuditEntry, type Purpose } from './model.ts';

export interface AuditFacts {
  action: AuditAction;
  patient: string;
  record: string | null;
  permit: boolean;
  rule: string;
  purpose: Purpose | null;
  emergency: boolean;
  reason: string;
}

export function writeAudit(ctx: TxContext, facts: AuditFacts): AuditEntry {
  const position: AuditPosition = {
    timestamp_ms: ctx.now_ms,
    height: ctx.block.height,
    txIndex: ctx.txIndex,
    seq: ctx.auditCount++,
  };
  const entry: AuditEntry = {
    ...position,
    txHash: ctx.txHash,
    action: facts.action,
    actor: ctx.sender.id,
    patient: facts.patient,
    record: facts.record,
    decision: facts.permit ? 'permit' : 'deny',
    rule: facts.rule,
    purpose: facts.purpose,
    emergency: facts.emergency,
    reason: facts.reason,
  };
  const indexes: [AuditIndex, string | undefined][] = [
    ['time', undefined],
    ['patient', entry.patient],
    ['actor', entry.actor],
  ];
  if (entry.record !== null) indexes.push(['record', entry.record]);
  const bytes = encode(AuditEntry, entry); // once: the same bytes go under every index
  const at = positionChars(position);
  for (const [index, id] of indexes) ctx.scope.putBytes(auditKeyOf(index, id, at), bytes);
  return entry;
}

/**
 * Refuses an access attempt before it is decided (a deactivated sender, the wrong role, not the
 * patient), auditing it as a deny naming `refusal.rule`. The handler returns the result, so the
 * engine keeps the entry and the receipt carries `refusal.code` and its sentence, as when the
 * refusal was thrown. With `facts` null (no registered patient concerned, so no trail to file the
 * entry under) it throws the refusal instead, writing nothing.
 */
export function refuseAttempt(
  ctx: TxContext,
  facts: Omit<AuditFacts, 'permit' | 'rule'> | null,
  refusal: EarlyRefusal,
): Refusal {
  const error = new ContractError(refusal.code, refusal.detail);
  if (facts === null) throw error;
  ctx.concerns({ patient: facts.patient });
  writeAudit(ctx, { ...facts, permit: false, rule: refusal.rule });
  ctx.emit('access.decided', { action: facts.action, decision: 'deny', rule: refusal.rule });
  return { code: refusal.code, message: error.message };
}
