/**
 * What a handler works with: the block it runs in, its transaction, the sender's identity, its state
 * scope, and the receipt it is building (events, and what the transaction is about, so that even a
 * refusal is indexed under the patient and record it concerned).
 */
import type { Genesis } from '../ledger/genesis.ts';
import type { ReceiptEvent, Transaction } from '../ledger/types.ts';
import type { ContractErrorCode } from './errors.ts';
import type { Identity } from './model.ts';
import type { TxScope } from './overlay.ts';

export interface BlockContext {
  chainId: string;
  height: number;
  /** The block's timestamp: the only clock the rule engine knows. */
  timestamp_ms: number;
  genesis: Genesis;
}

/** Receipt attributes are indexed by the ledger: `patient` and `record` ids, and the acting `actor`. */
export type Attributes = Record<string, string>;

export class TxContext {
  readonly block: BlockContext;
  readonly tx: Transaction;
  readonly txHash: Uint8Array;
  readonly txIndex: number;
  readonly sender: Identity;
  readonly scope: TxScope;
  readonly events: ReceiptEvent[] = [];
  /** What the transaction concerns, for the receipt of a refusal. */
  readonly about: Attributes = {};
  /** Audit entries written so far by this transaction. */
  auditCount = 0;

  constructor(
    block: BlockContext,
    tx: Transaction,
    txHash: Uint8Array,
    txIndex: number,
    sender: Identity,
    scope: TxScope,
  ) {
    this.block = block;
    this.tx = tx;
    this.txHash = txHash;
    this.txIndex = txIndex;
    this.sender = sender;
    this.scope = scope;
  }

  get now_ms(): number {
    return this.block.timestamp_ms;
  }

  /** Notes what the transaction concerns (patient, record, ...) as soon as it is known. */
  concerns(attributes: Attributes): void {
    Object.assign(this.about, attributes);
  }

  /** Adds a receipt event; the actor and what the transaction concerns are attached. */
  emit(type: string, attributes: Attributes = {}): void {
    const all = { actor: this.sender.id, ...this.about, ...attributes };
    this.events.push({ type, attributes: new Map(Object.entries(all)) });
  }
}

/**
 * A handler's result when the transaction is refused but what it wrote must stay: an access decision
 * that denied (DENIED, RECORD_ERASED), or an access attempt refused before it was decided (its
 * code, e.g. WRONG_ROLE, see audit.ts refuseAttempt). The denial itself is the auditable event, so
 * a handler returning one has written nothing but its audit entry. Returning nothing means OK.
 */
export interface Refusal {
  code: ContractErrorCode;
  message: string;
}

export type Handler<B> = (ctx: TxContext, body: B) => Refusal | undefined;
