/**
 * The node's operator key file (crypto/operator-key.ts says what it is for): created with the home
 * (`medledger init`, writeHome) and, for a home made before there was one, at the node's start.
 * Mode 0600; a file others can read is refused, as an SSH client refuses such a key.
 */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { newOperatorKeyText, parseOperatorKey } from '../crypto/operator-key.ts';
import { MedledgerError } from '../errors.ts';
import { homePaths } from './config.ts';

/** Writes a new operator key into `home` unless it has one; true when it wrote one. */
export async function writeOperatorKey(home: string): Promise<boolean> {
  const path = homePaths(home).operatorKey;
  try {
    await writeFile(path, newOperatorKeyText(), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return false;
    throw error;
  }
  await chmod(path, 0o600); // whatever the umask
  return true;
}

/** The operator's public key from `home`, creating the key first if the home has none. */
export async function operatorPublicKey(home: string): Promise<{ publicKey: Uint8Array; created: boolean }> {
  const created = await writeOperatorKey(home);
  const path = homePaths(home).operatorKey;
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new MedledgerError(
      'OPERATOR_KEY_EXPOSED',
      `${path} can be read by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`,
    );
  }
  const key = parseOperatorKey(await readFile(path, 'utf8'));
  if (key === null) {
    throw new MedledgerError('OPERATOR_KEY_INVALID', `${path} does not hold an operator key (64 hex digits)`);
  }
  return { publicKey: key.publicKey, created };
}
