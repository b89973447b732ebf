/**
 * Keys on the client: unlocking a keystore with the passphrase from its source, creating a new
 * one, and reading a key argument that is either hex or a keystore file (public keys only).
 */

import { readFile } from 'node:fs/promises';
import { fromHex, hex } from '../bytes.ts';
import { identityId } from '../contracts/ids.ts';
import { OPERATOR_KEY_ID } from '../crypto/http-signature.ts';
import {
  generateIdentityKeys,
  type IdentityKeys,
  readKeystore,
  readKeystorePublicKeys,
  writeKeystore,
} from '../crypto/index.ts';
import { parseOperatorKey } from '../crypto/operator-key.ts';
import { MedledgerError } from '../errors.ts';
import { checkWritable } from './atomic-file.ts';
import { newPassphraseFor, passphraseFor } from './passphrase.ts';

export { hex };

export interface PublicKeys {
  signingKey: Uint8Array;
  /** Absent when the argument was a bare signing key. */
  encryptionKey: Uint8Array | null;
}

/** Decrypts the keystore at `path`; the file is checked before the passphrase is asked for. */
export async function unlockKeystore(path: string): Promise<IdentityKeys> {
  await readKeystorePublicKeys(path);
  const passphrase = await passphraseFor(path);
  try {
    return await readKeystore(path, passphrase);
  } catch (error) {
    if (error instanceof MedledgerError && error.code === 'KEYSTORE_WRONG_PASSPHRASE') {
      throw new MedledgerError(error.code, `The passphrase for the keystore ${path} is wrong.`);
    }
    throw error;
  }
}

/** A fresh identity, written to `path` under a passphrase from its source. */
export async function createKeystore(path: string, overwrite: boolean): Promise<IdentityKeys> {
  await checkWritable(path, overwrite);
  const passphrase = await newPassphraseFor(path);
  const keys = generateIdentityKeys();
  await writeKeystore(path, keys, passphrase, { overwrite });
  return keys;
}

/** The id, public keys and file of an identity, as `keys new` and `keys show` print them. */
export function describeKeys(
  path: string,
  keys: { signingKey: Uint8Array; encryptionKey: Uint8Array },
): { id: string; signingKey: string; encryptionKey: string; keystore: string } {
  return {
    id: identityId(keys.signingKey),
    signingKey: hex(keys.signingKey),
    encryptionKey: hex(keys.encryptionKey),
    keystore: path,
  };
}

/** How the operator's key (operator.key in a node's home) signs the node-operator routes. */
export async function operatorSigner(path: string): Promise<{ id: string; secretKey: Uint8Array }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new MedledgerError('OPERATOR_KEY_NOT_FOUND', `cannot read the operator key ${path} (${code})`, {
      cause: error,
    });
  }
  const key = parseOperatorKey(text);
  if (key === null) {
    throw new MedledgerError('OPERATOR_KEY_INVALID', `${path} does not hold an operator key (64 hex digits)`);
  }
  return { id: OPERATOR_KEY_ID, secretKey: key.secretKey };
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** Parses 32 bytes of hex; `what` names the argument in the error. */
export function parseHexKey(text: string, what: string): Uint8Array {
  if (!HEX_KEY.test(text)) {
    throw new MedledgerError('BAD_ARGUMENT', `${what}: expected 64 hex digits (a 32-byte public key)`);
  }
  return fromHex(text);
}

/** A key argument: 64 hex digits (a signing key), or a keystore file (both public keys). */
export async function publicKeysFromArgument(argument: string, what: string): Promise<PublicKeys> {
  if (HEX_KEY.test(argument)) return { signingKey: parseHexKey(argument, what), encryptionKey: null };
  try {
    const keys = await readKeystorePublicKeys(argument);
    return { signingKey: keys.signingPublicKey, encryptionKey: keys.encryptionPublicKey };
  } catch (error) {
    if (error instanceof MedledgerError && error.code === 'KEYSTORE_NOT_FOUND') {
      throw new MedledgerError(
        'BAD_ARGUMENT',
        `${what}: ${argument} is neither a 64-hex-digit public key nor a keystore file`,
      );
    }
    throw error;
  }
}
