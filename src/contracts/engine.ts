/**
 * The rule engine's entry points: execute a block's transactions in order against the state, and
 * the initial state a genesis file implies.
 *
 * Per transaction: the chain id must be this chain's, the sender a registered key, and the nonce the
 * sender's previous nonce + 1 (else WRONG_CHAIN, NOT_REGISTERED, NONCE_REUSED or NONCE_GAP, and
 * nothing at all is written). Past that point the nonce is consumed whatever the outcome, so the
 * transaction can never run again (a replay fails NONCE_REUSED) and a refusal does not block the
 * sender's later transactions. Then the handler of the transaction's type runs in its own scope:
 *
 * - OK: its writes join the block;
 * - refused (a ContractError): its writes are dropped; the receipt carries the code and the sentence;
 * - an access decision that denied (DENIED, RECORD_ERASED), or an access attempt refused before it
 *   was decided (e.g. WRONG_ROLE for a break-glass by someone without the emergency role): the
 *   handler returns the refusal instead of throwing it; the receipt carries its code, and its
 *   writes, which are only the deny audit entry, are kept: the refused attempt is the auditable event.
 *
 * The sender must be active, and so must their organisation (else IDENTITY_INACTIVE or
 * ORGANISATION_INACTIVE), checked here before the handler runs, except for access attempts
 * (SELF_CHECKED_TYPES), whose handlers check it themselves so that the refusal is audited.
 *
 * Signatures are not checked here: consensus admits only transactions with valid signatures. The
 * co-signatures inside bodies (patient registration, key rotation) are checked by their handlers.
 * No clock, no randomness, no I/O: the block timestamp is the only time. The initial state is
 * genesis-state.ts's.
 */
import { CodecError } from '../codec/errors.ts';
import { txHash } from '../ledger/transaction.ts';
import {
  LIMITS,
  RECEIPT_OK,
  type Receipt,
  type ReceiptEvent,
  type StateWrite,
  type Transaction,
} from '../ledger/types.ts';
import { decodeBody, isTxType, type TxType } from './bodies.ts';
import { type BlockContext, type Handler, TxContext } from './context.ts';
import { CONTRACT_ERRORS, ContractError, type ContractErrorCode, ensure } from './errors.ts';
import { approveRequest, denyRequest, forbid, grant, requestAccess, revoke } from './handlers/consent.ts';
import { openEmergency } from './handlers/emergency.ts';
import { addRecord, eraseRecord, readRecord } from './handlers/records.ts';
import {
  registerOrganisation,
  registerPatient,
  registerPractitioner,
  rotateKeys,
  setIdentityActive,
  setOrganisationActive,
  setPractitionerRoles,
} from './handlers/registry.ts';
import type { Identity } from './model.ts';
import { BlockOverlay, type StateReader, TxScope } from './overlay.ts';
import { identityByKey, nonceOf, organisation, setNonce } from './state.ts';

export type { BlockContext } from './context.ts';
export { genesisState } from './genesis-state.ts';
export type { StateReader } from './overlay.ts';

export interface BlockResult {
  receipts: Receipt[];
  /** Sorted by key bytes, one per key; a null value deletes the key. */
  writes: StateWrite[];
}

const HANDLERS: { [T in TxType]: Handler<never> } = {
  'org.register': registerOrganisation,
  'org.set-active': setOrganisationActive,
  'practitioner.register': registerPractitioner,
  'practitioner.set-roles': setPractitionerRoles,
  'patient.register': registerPatient,
  'identity.set-active': setIdentityActive,
  'identity.rotate-keys': rotateKeys,
  'record.add': addRecord,
  'record.read': readRecord,
  'record.erase': eraseRecord,
  'consent.grant': grant,
  'consent.forbid': forbid,
  'consent.revoke': revoke,
  'access.request': requestAccess,
  'access.approve': approveRequest,
  'access.deny': denyRequest,
  'emergency.open': openEmergency,
};

/**
 * Access attempts: a deactivated sender is refused by the handler and audited, not refused unseen.
 * A read is then denied (DENIED, rule actor-inactive); the others keep IDENTITY_INACTIVE or
 * ORGANISATION_INACTIVE (guards.ts inactiveSender).
 */
const SELF_CHECKED_TYPES: ReadonlySet<string> = new Set<TxType>([
  'record.read',
  'record.add',
  'record.erase',
  'access.request',
  'emergency.open',
]);

const utf8 = new TextEncoder();

/** Cuts a message to the receipt's byte limit without splitting a character. */
function fitMessage(message: string, maxBytes: number = LIMITS.receiptMessageBytes): string {
  if (message.length * 3 <= maxBytes || utf8.encode(message).length <= maxBytes) return message;
  let cut = message.slice(0, maxBytes);
  while (utf8.encode(cut).length > maxBytes - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function receipt(hash: Uint8Array, code: string, message: string, events: ReceiptEvent[] = []): Receipt {
  return { txHash: hash, code, message: fitMessage(message), events };
}

function refusal(hash: Uint8Array, code: ContractErrorCode, detail?: string): Receipt {
  const sentence = CONTRACT_ERRORS[code];
  return receipt(hash, code, detail === undefined ? sentence : `${sentence} ${detail}`);
}

function checkActive(scope: TxScope, sender: Identity): void {
  ensure(sender.active, 'IDENTITY_INACTIVE');
  if (sender.organisation !== null) {
    ensure(organisation(scope, sender.organisation)?.active === true, 'ORGANISATION_INACTIVE');
  }
}

function executeTx(overlay: BlockOverlay, block: BlockContext, tx: Transaction, txIndex: number): Receipt {
  const hash = txHash(tx);
  if (tx.chainId !== block.chainId) return refusal(hash, 'WRONG_CHAIN', `(expected ${block.chainId})`);

  const envelope = new TxScope(overlay);
  const sender = identityByKey(envelope, tx.sender);
  if (sender === undefined) return refusal(hash, 'NOT_REGISTERED');
  const last = nonceOf(envelope, tx.sender);
  if (tx.nonce <= last) return refusal(hash, 'NONCE_REUSED', `(last used: ${last})`);
  if (tx.nonce !== last + 1) return refusal(hash, 'NONCE_GAP', `(expected ${last + 1}, got ${tx.nonce})`);
  setNonce(envelope, tx.sender, tx.nonce);
  envelope.commit();

  const scope = new TxScope(overlay);
  const ctx = new TxContext(block, tx, hash, txIndex, sender, scope);
  try {
    if (!isTxType(tx.type)) throw new ContractError('UNKNOWN_TX_TYPE', `(${JSON.stringify(tx.type)})`);
    if (!SELF_CHECKED_TYPES.has(tx.type)) checkActive(scope, sender);
    let body: unknown;
    try {
      body = decodeBody(tx.type, tx.body);
    } catch (error) {
      if (error instanceof CodecError) throw new ContractError('MALFORMED_BODY', `(${error.message})`);
      throw error;
    }
    const refused = (HANDLERS[tx.type] as Handler<unknown>)(ctx, body);
    scope.commit();
    if (refused !== undefined) return receipt(hash, refused.code, refused.message, ctx.events);
    return receipt(hash, RECEIPT_OK, '', ctx.events);
  } catch (error) {
    // The scope is dropped: nothing the handler wrote is kept.
    const known = error instanceof ContractError;
    const code: ContractErrorCode = known ? error.code : 'INTERNAL_ERROR';
    // A bug's own message could differ between Node versions; receipts are hashed, so keep it fixed.
    const message = known ? error.message : CONTRACT_ERRORS.INTERNAL_ERROR;
    ctx.events.length = 0;
    ctx.emit('tx.refused', { code });
    return receipt(hash, code, message, ctx.events);
  }
}

/**
 * Executes `txs` in order over `state` (later transactions see earlier ones' writes) and returns a
 * receipt per transaction and the block's writes.
 */
export function executeBlock(
  state: StateReader,
  ctx: BlockContext,
  txs: readonly Transaction[],
): BlockResult {
  const overlay = new BlockOverlay(state);
  const receipts = txs.map((tx, index) => executeTx(overlay, ctx, tx, index));
  return { receipts, writes: overlay.writes() };
}
