/**
 * The node operator's key: an Ed25519 key `medledger init` writes into the node's home
 * (operator.key, file mode 0600) as 64 hex digits of its secret seed. The operator signs the API's
 * node-operator routes (blocks, transactions, chain verify, fault injection) with it, under the key
 * id `operator`; it opens no personal data. It is not the validator's key: an operator's script or
 * monitoring host can hold it without holding the node's consensus key.
 */
import { fromHex, hex } from '../bytes.ts';
import { generateSigningKeyPair, signingPublicKeyFrom } from './ed25519.ts';

export const OPERATOR_KEY_FILE = 'operator.key';

/** A fresh operator key, as the file holds it. */
export function newOperatorKeyText(): string {
  return `${hex(generateSigningKeyPair().secretKey)}\n`;
}

/** The secret and public key in an operator.key file's text, or null when it is not one. */
export function parseOperatorKey(text: string): { secretKey: Uint8Array; publicKey: Uint8Array } | null {
  const digits = text.trim();
  if (!/^[0-9a-f]{64}$/.test(digits)) return null;
  const secretKey = fromHex(digits);
  return { secretKey, publicKey: signingPublicKeyFrom(secretKey) };
}
