/**
 * What `chain verify` checks of each committed transaction beyond its signature: a transaction the
 * rule engine accepted (receipt OK) has a body of today's format, and a record.add names its
 * ciphertext and its key blob by two distinct CIDv1s, as its `record.added` event repeats, with no
 * key material in the body (chain format 2: the key's shares live in the content store).
 *
 * Pure and deterministic: it reads the transaction and its receipt only.
 */
import { RECEIPT_OK, type Receipt, type Transaction } from '../ledger/types.ts';
import { decodeBody, isTxType } from './bodies.ts';
import { CID_V1 } from './guards.ts';

/** Why a committed transaction does not fit the chain's format, or null when it does. */
export function committedTxProblem(tx: Transaction, receipt: Receipt): string | null {
  if (receipt.code !== RECEIPT_OK) return null; // refused: its body may be anything, and did nothing
  // A type this rule engine does not know was executed by another (a test executor): not ours to judge.
  if (!isTxType(tx.type)) return null;
  let body: unknown;
  try {
    body = decodeBody(tx.type, tx.body);
  } catch (error) {
    return `accepted with a body that does not decode: ${(error as Error).message}`;
  }
  if (tx.type !== 'record.add') return null;
  const { cid, keyCid } = body as { cid: string; keyCid: string };
  if (!CID_V1.test(cid) || !CID_V1.test(keyCid)) return 'a record.add names a malformed CID';
  if (cid === keyCid) return "a record.add names its key blob by its ciphertext's CID";
  const added = receipt.events.find((event) => event.type === 'record.added');
  if (added?.attributes.get('keyCid') !== keyCid || added.attributes.get('cid') !== cid) {
    return "a record.add's record.added event does not name its CIDs";
  }
  return null;
}
