/**
 * Signing in without a password database: the person's own keystore file, opened in this tab with
 * its passphrase (the keystore's own format and checks, src/crypto/keystore.ts), then the identity its
 * key holds on the network (GET /v1/accounts/{key}, open) and its directory entry (a signed GET
 * /v1/identities/{id}). The keys live in this object only, in memory, for this tab: never in any
 * browser storage, never sent. Signing out zeroes them.
 */
import { hex } from '../bytes.ts';
import type { IdentityJson } from '../client/api-types.ts';
import { NodeClient } from '../client/http.ts';
import { decryptKeystore, type IdentityKeys } from '../crypto/keystore.ts';
import { MedledgerError } from '../errors.ts';

/** A keystore is well under 1 KiB; the keystore module refuses files above 64 KiB too. */
const MAX_KEYSTORE_BYTES = 64 * 1024;

export interface Session {
  /** A client of the node that served this page, signing every request as the identity. */
  client: NodeClient;
  keys: IdentityKeys;
  identity: IdentityJson;
}

export async function signIn(file: Blob, passphrase: string): Promise<Session> {
  if (file.size > MAX_KEYSTORE_BYTES) {
    throw new MedledgerError('KEYSTORE_TOO_LARGE', 'The file is too large to be a keystore.');
  }
  const keys = await decryptKeystore(await file.text(), passphrase);
  try {
    const node = new NodeClient(window.location.origin);
    const account = await node.account(hex(keys.signing.publicKey));
    if (account.identity === null) {
      throw new MedledgerError('NOT_REGISTERED', 'The key is not registered on this network.');
    }
    const client = node.as({ id: account.identity.id, secretKey: keys.signing.secretKey });
    const identity = await client.identity(account.identity.id);
    return { client, keys, identity };
  } catch (error) {
    forgetKeys(keys);
    throw error;
  }
}

/** Signing out: the secret keys are overwritten, so nothing in this tab can sign or decrypt again. */
export function signOut(session: Session): void {
  forgetKeys(session.keys);
}

function forgetKeys(keys: IdentityKeys): void {
  keys.signing.secretKey.fill(0);
  keys.encryption.secretKey.fill(0);
}
