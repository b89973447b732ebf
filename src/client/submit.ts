/**
 * Building, signing, submitting a rule-engine transaction and waiting for its receipt. A receipt
 * other than OK is thrown as MedledgerError(receipt code, receipt message): a refused transaction
 * is an error to the caller.
 */
import { encode } from '../codec/index.ts';
import { buildTx, createdId, type ObjectKind, type TxBody, type TxType } from '../contracts/index.ts';
import type { IdentityKeys } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { RECEIPT_OK, Transaction, txHash } from '../ledger/index.ts';
import type { AccountJson, ReceiptJson } from './api-types.ts';
import type { NodeClient, RequestSigner } from './http.ts';
import { hex } from './keys.ts';

/** How long a command waits for its transaction to commit before giving up. */
export const COMMIT_TIMEOUT_MS = 30_000;
const SERVER_WAIT_MS = 10_000;
const POLL_INTERVAL_MS = 150;

export interface Committed {
  tx: Transaction;
  txHash: string;
  height: number;
  index: number;
  receipt: ReceiptJson;
}

/** The signer's account: its last nonce and its registered identity (or null). */
export function accountOf(client: NodeClient, keys: IdentityKeys): Promise<AccountJson> {
  return client.account(hex(keys.signing.publicKey));
}

/** How `keys` sign API requests: the identity's id on chain (the key id) and its signing key. */
export async function requestSigner(client: NodeClient, keys: IdentityKeys): Promise<RequestSigner> {
  const { identity } = await accountOf(client, keys);
  if (identity === null) {
    throw new MedledgerError('NOT_REGISTERED', 'The sender is not registered on this network.');
  }
  return { id: identity.id, secretKey: keys.signing.secretKey };
}

/** A client of the same node that signs every request as `keys`' identity. */
export async function signedClient(client: NodeClient, keys: IdentityKeys): Promise<NodeClient> {
  return client.as(await requestSigner(client, keys));
}

/** Signs `body` as a `type` transaction from `keys`, submits it and waits for an OK receipt. */
export async function submitAndWait<T extends TxType>(
  client: NodeClient,
  keys: IdentityKeys,
  type: T,
  body: TxBody<T>,
  options: { timeout_ms?: number } = {},
): Promise<Committed> {
  const [chainId, account] = await Promise.all([client.chainId(), accountOf(client, keys)]);
  const tx = buildTx(type, body, account.nonce + 1, chainId, keys.signing.secretKey);
  // Its sender may poll for it (GET /v1/txs/{hash} is signed): sign as the sender when registered.
  const polling =
    client.signer === undefined && account.identity !== null
      ? client.as({ id: account.identity.id, secretKey: keys.signing.secretKey })
      : client;
  return submitSigned(polling, tx, options.timeout_ms ?? COMMIT_TIMEOUT_MS);
}

/** Submits a signed transaction and waits until it commits; throws unless its receipt is OK. */
export async function submitSigned(
  client: NodeClient,
  tx: Transaction,
  timeout_ms: number,
): Promise<Committed> {
  const hash = hex(txHash(tx));
  const deadline = Date.now() + timeout_ms;
  const submitted = await client.submitTx(encode(Transaction, tx), Math.min(SERVER_WAIT_MS, timeout_ms));
  if (!submitted.committed && submitted.warning) {
    // Said at once, on stderr (stdout stays the command's result): the wait below may be long.
    process.stderr.write(`medledger: warning: ${submitted.warning.message} [${submitted.warning.code}]\n`);
  }
  let committed = submitted.committed ? submitted.tx : null;
  while (committed === null) {
    if (Date.now() >= deadline) {
      throw new MedledgerError(
        'TX_TIMEOUT',
        `transaction ${hash} was not committed within ${Math.round(timeout_ms / 1000)} s; ` +
          `check it later with: medledger tx show ${hash}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    // The account first: once the sender's nonce has reached this one, a transaction still not
    // committed never will be (another used the nonce, and the validators dropped this one).
    const { nonce } = await client.account(hex(tx.sender));
    committed = await client.tx(hash);
    if (committed === null && nonce >= tx.nonce) {
      throw new MedledgerError('NONCE_REUSED', `another transaction of this sender used nonce ${tx.nonce}`);
    }
  }
  const { receipt } = committed;
  if (receipt.code !== RECEIPT_OK) throw new MedledgerError(receipt.code, receipt.message);
  return { tx, txHash: hash, height: committed.height, index: committed.index, receipt };
}

/** The value of attribute `name` of the first receipt event of `type`, if there is one. */
export function eventAttribute(receipt: ReceiptJson, type: string, name: string): string | undefined {
  return receipt.events.find((event) => event.type === type)?.attributes[name];
}

/** The id of the record, grant, forbid, request or window a committed transaction created. */
export function createdIdOf(kind: ObjectKind, committed: Committed): string {
  return createdId(kind, committed.tx);
}
