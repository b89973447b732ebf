/**
 * Writing a node's home directory (see config.ts for its layout): the genesis file, the validator's
 * keystore and node.json. Used by the devnet and by tests that run validator processes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { type IdentityKeys, type ScryptParams, writeKeystore } from '../crypto/index.ts';
import { type Genesis, genesisToJson } from '../ledger/index.ts';
import { homePaths, type NodeSettings } from './config.ts';

export interface HomeSpec {
  home: string;
  genesis: Genesis;
  keys: IdentityKeys;
  passphrase: string;
  settings: Omit<NodeSettings, 'consensus' | 'faults'> & Partial<Pick<NodeSettings, 'consensus' | 'faults'>>;
  scrypt?: ScryptParams;
}

export async function writeHome(spec: HomeSpec): Promise<void> {
  const paths = homePaths(spec.home);
  await mkdir(spec.home, { recursive: true });
  await writeFile(paths.genesis, `${JSON.stringify(genesisToJson(spec.genesis), null, 2)}\n`);
  await writeKeystore(paths.keystore, spec.keys, spec.passphrase, { scrypt: spec.scrypt, overwrite: true });
  await writeFile(paths.settings, `${JSON.stringify(spec.settings, null, 2)}\n`);
}
