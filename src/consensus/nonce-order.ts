/**
 * Whether a proposal takes its senders' nonces in order. The rule engine refuses a transaction whose
 * nonce is not its sender's last + 1 (NONCE_GAP, NONCE_REUSED) and keeps it on chain with that
 * receipt, so the same signed bytes can never run again. A primary that proposed a later nonce before
 * the earlier ones would make its sender's transactions fail for good; an honest one never does
 * (Mempool.batch takes each sender's run of consecutive nonces), so backups refuse such a proposal.
 *
 * Nonces are counted as the mempool counts them: from the committed account (the driver's lookup),
 * then through the blocks between the executed head and the proposal, where a transaction takes its
 * sender's nonce only if it is the next one. Senders the lookup does not know as registered are left
 * to the rule engine (their transactions consume no nonce).
 */
import type { Transaction } from '../ledger/index.ts';

export type SenderLookup = (sender: Uint8Array) => { registered: boolean; nonce: number };

/** Why `txs` take a nonce out of order after the blocks `before` (lowest first), or null. */
export function nonceOrderProblem(
  txs: readonly Transaction[],
  before: ReadonlyArray<readonly Transaction[]>,
  lookup: SenderLookup,
): string | null {
  const last = new Map<string, number | null>();
  const lastOf = (tx: Transaction): number | null => {
    const key = Buffer.from(tx.sender).toString('hex');
    let nonce = last.get(key);
    if (nonce === undefined) {
      const account = lookup(tx.sender);
      nonce = account.registered ? account.nonce : null;
      last.set(key, nonce);
    }
    return nonce;
  };
  const take = (tx: Transaction) => last.set(Buffer.from(tx.sender).toString('hex'), tx.nonce);
  for (const block of before) {
    for (const tx of block) if (lastOf(tx) === tx.nonce - 1) take(tx);
  }
  for (const tx of txs) {
    const nonce = lastOf(tx);
    if (nonce === null) continue;
    if (tx.nonce !== nonce + 1)
      return `a transaction takes nonce ${tx.nonce} of its sender, not ${nonce + 1}`;
    take(tx);
  }
  return null;
}
