/**
 * A sender's account as the rule engine's sender rules see it (engine.ts executeTx): whether its key
 * is a registered identity's signing key, and the last nonce it used. Read synchronously from the
 * committed state, for the mempool's and the API's admission of transactions.
 */
import type { StateReader } from './overlay.ts';
import { getIdentityByKey, lastNonce } from './queries.ts';

export function senderAccount(
  state: StateReader,
  sender: Uint8Array,
): { registered: boolean; nonce: number } {
  return { registered: getIdentityByKey(state, sender) !== undefined, nonce: lastNonce(state, sender) };
}
