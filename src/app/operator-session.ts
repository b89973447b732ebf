/**
 * Signing in as a node's operator: the operator.key file in the node's home (64 hex digits of an
 * Ed25519 seed), opened in this tab. It signs the node-operator routes only (blocks, transactions by
 * hash) under the key id `operator`; it opens no personal data. The node checks the key on the first
 * signed request (block 0), so a key of another node is refused at once. Signing out zeroes it.
 */
import { NodeClient } from '../client/http.ts';
import { OPERATOR_KEY_ID } from '../crypto/http-signature.ts';
import { parseOperatorKey } from '../crypto/operator-key.ts';
import { MedledgerError } from '../errors.ts';

export interface OperatorSession {
  /** A client of the node that served this page, signing the node-operator routes. */
  client: NodeClient;
  secretKey: Uint8Array;
}

/** An operator.key file is 64 hex digits and a newline; a keystore is JSON. */
export function looksLikeOperatorKey(text: string): boolean {
  return /^\s*[0-9a-f]{64}\s*$/.test(text);
}

export async function signInAsOperator(text: string): Promise<OperatorSession> {
  const key = parseOperatorKey(text);
  if (key === null) {
    throw new MedledgerError(
      'OPERATOR_KEY_INVALID',
      'The file does not hold an operator key (64 hex digits).',
    );
  }
  const client = new NodeClient(window.location.origin).asOperator({
    id: OPERATOR_KEY_ID,
    secretKey: key.secretKey,
  });
  try {
    await client.block(0);
    return { client, secretKey: key.secretKey };
  } catch (error) {
    key.secretKey.fill(0);
    throw error;
  }
}

export function signOutOperator(session: OperatorSession): void {
  session.secretKey.fill(0);
}
