/**
 * Writing a node's home directory (see config.ts for its layout): the genesis file, the validator's
 * keystore and config.toml. Used by the devnet and by tests that run validator processes.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type IdentityKeys, type ScryptParams, writeKeystore } from '../crypto/index.ts';
import { type Genesis, genesisToJson } from '../ledger/index.ts';
import { homePaths, parseSettings, type SettingsInput } from './config.ts';
import { writeOperatorKey } from './operator-key.ts';
import { renderConfig } from './settings-toml.ts';

export interface HomeSpec {
  home: string;
  genesis: Genesis;
  keys: IdentityKeys;
  passphrase: string;
  /** Validated, and written with every other setting at its default. */
  settings: SettingsInput;
  scrypt?: ScryptParams;
}

export async function writeHome(spec: HomeSpec): Promise<void> {
  const paths = homePaths(spec.home);
  const config = renderConfig(parseSettings(spec.settings, 'settings'));
  await mkdir(spec.home, { recursive: true, mode: 0o700 }); // as medledger init makes a home
  await writeFile(paths.genesis, `${JSON.stringify(genesisToJson(spec.genesis), null, 2)}\n`);
  await writeKeystore(paths.keystore, spec.keys, spec.passphrase, { scrypt: spec.scrypt, overwrite: true });
  await writeFile(paths.settings, config);
  await writeOperatorKey(spec.home);
}

/** A home written by an older medledger has node.json (the same settings as JSON): convert it. */
export async function migrateLegacySettings(home: string): Promise<void> {
  const legacy = join(home, 'node.json');
  if (existsSync(homePaths(home).settings) || !existsSync(legacy)) return;
  const settings = parseSettings(JSON.parse(await readFile(legacy, 'utf8')), legacy);
  await writeFile(homePaths(home).settings, renderConfig(settings), { flag: 'wx' });
}
