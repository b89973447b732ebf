/**
 * Writing the audit trail: every access decision (read, append), every break-glass window and every
 * erasure becomes an entry stored under four ordered keys (by time, patient, actor and record), so each
 * query is one key-range scan, newest first. Entries are small and written once; keeping a full copy
 * under every index spares the queries a second lookup.
 */
import { encode } from '../codec/index.ts';
import type { TxContext } from './context.ts';
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
