/**
 * Building signed rule-engine transactions, for the CLI, the client and tests: the body is encoded
 * with its type's canonical schema, then the transaction is signed by the sender's key.
 */
import { signTransaction, txHash } from '../ledger/transaction.ts';
import type { Transaction } from '../ledger/types.ts';
import { encodeBody, type TxBody, type TxType } from './bodies.ts';
import { type ObjectKind, objectId } from './ids.ts';

/** A signed transaction of `type`; `nonce` is the sender's previous nonce + 1 (the first is 1). */
export function buildTx<T extends TxType>(
  type: T,
  body: TxBody<T>,
  nonce: number,
  chainId: string,
  secretKey: Uint8Array,
): Transaction {
  return signTransaction({ type, nonce, chainId, body: encodeBody(type, body) }, secretKey);
}

/** The id of the record, grant, forbid, request or window that `tx` creates if it succeeds. */
export function createdId(kind: ObjectKind, tx: Transaction): string {
  return objectId(kind, txHash(tx));
}
