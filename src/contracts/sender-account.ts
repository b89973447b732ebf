/**
 * A sender's account as the rule engine's sender rules see it (engine.ts executeTx): whether its key
 * is a registered identity's signing key, and the last nonce it used. Read synchronously from the
 * committed state, for the mempool's and the API's admission of transactions.
 */
import { hex } from '../bytes.ts';
import type { StateReader } from './overlay.ts';
import { getIdentityByKey, lastNonce } from './queries.ts';

export function senderAccount(
  state: StateReader,
  sender: Uint8Array,
): { registered: boolean; nonce: number } {
  return { registered: getIdentityByKey(state, sender) !== undefined, nonce: lastNonce(state, sender) };
}

/**
 * senderAccount, each sender's answer remembered until the committed state changes (`version`
 * changes: the chain's height). Admission asks about the same senders thousands of times between
 * two blocks, and each answer costs three state reads. Answers are shared: callers do not change them.
 */
export function rememberedSenderAccounts(
  state: StateReader,
  version: () => number,
): (sender: Uint8Array) => ReturnType<typeof senderAccount> {
  const answers = new Map<string, ReturnType<typeof senderAccount>>();
  let answeredAt = Number.NaN;
  return (sender) => {
    const now = version();
    if (now !== answeredAt) {
      answers.clear();
      answeredAt = now;
    }
    const key = hex(sender);
    let account = answers.get(key);
    if (!account) {
      account = senderAccount(state, sender);
      answers.set(key, account);
    }
    return account;
  };
}
