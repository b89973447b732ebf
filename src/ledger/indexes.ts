/**
 * Secondary indexes derived from receipts: every transaction whose receipt carries an event with a
 * `patient` or `record` attribute is listed under that id (permitted or denied alike: the audit trail
 * of a patient includes refusals). Deriving them from receipts, which the state root covers, lets
 * verifyChain rebuild the indexes and check the stored ones.
 */
import type { IndexKind } from './keys.ts';
import type { Receipt } from './types.ts';

export interface IndexEntry {
  kind: IndexKind;
  id: string;
  txIndex: number;
}

const INDEXED: readonly IndexKind[] = ['patient', 'record'];
/** Ids are stored behind a one-byte length. */
const MAX_ID_BYTES = 255;

export function indexEntries(receipts: readonly Receipt[]): IndexEntry[] {
  const entries: IndexEntry[] = [];
  receipts.forEach((receipt, txIndex) => {
    const seen = new Set<string>();
    for (const event of receipt.events) {
      for (const kind of INDEXED) {
        const id = event.attributes.get(kind);
        if (id === undefined || Buffer.byteLength(id) > MAX_ID_BYTES || seen.has(`${kind}:${id}`)) continue;
        seen.add(`${kind}:${id}`);
        entries.push({ kind, id, txIndex });
      }
    }
  });
  return entries;
}
