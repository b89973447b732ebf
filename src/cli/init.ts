/**
 * `medledger init --home DIR`: creates a node home: a new passphrase-encrypted identity keystore
 * (validator.key: the Ed25519 validator key and the X25519 custodian key of the hospital the node
 * serves) and a config.toml documenting every setting. It never overwrites a home without --force.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { newPassphraseFor } from '../client/passphrase.ts';
import { identityId } from '../contracts/index.ts';
import { generateIdentityKeys, writeKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { homePaths, resolveSettings } from '../node/config.ts';
import { renderConfig } from '../node/settings-toml.ts';
import { addSettingFlags, homeOption, settingFlags } from './setting-flags.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

interface InitOptions {
  home?: string;
  p2pPort?: string;
  force?: boolean;
  json?: boolean;
}

/** The setting flags, with `--p2p-port N` standing for `--listen /ip4/0.0.0.0/tcp/N`. */
function initFlags(options: InitOptions, cmd: Command): Record<string, string> {
  const flags = settingFlags(cmd);
  if (options.p2pPort === undefined) return flags;
  const port = Number(options.p2pPort);
  if (!/^\d+$/.test(options.p2pPort) || port > 65535) {
    throw new MedledgerError('CONFIG_INVALID', '--p2p-port: expected an integer in [0, 65535]');
  }
  if (flags.listen !== undefined) {
    throw new MedledgerError('CONFIG_INVALID', '--p2p-port: give either --p2p-port or --listen, not both');
  }
  return { ...flags, listen: `/ip4/0.0.0.0/tcp/${port}` };
}

/** A validator name genesis.json accepts, suggested from the node's name or its directory. */
function suggestedName(name: string, home: string): string {
  const raw = name || basename(resolve(home));
  return raw.replace(/[^\p{L}\p{N} .,'&()-]/gu, '-').slice(0, 128) || 'validator';
}

export function addInitCommand(program: Command, out: (text: string) => void): void {
  const command = program
    .command('init')
    .description('create a node home: a new validator keystore (validator.key) and a documented config.toml')
    .option('--home <dir>', 'the directory to create (default: MEDLEDGER_HOME)')
    .option('--p2p-port <n>', 'p2p port to listen on, on every interface (sets listen)')
    .option('--force', 'overwrite an existing validator.key and config.toml (the old key is lost)')
    .option('--json', 'print one JSON object');
  addSettingFlags(command)
    .addHelpText(
      'after',
      [
        '',
        'Any setting flag above is written into config.toml; every other setting keeps its default.',
        'The keystore passphrase comes from MEDLEDGER_PASSPHRASE, else it is asked twice on the terminal.',
        '',
        'Example:',
        '  medledger init --home ./st-mary --name "St Mary validator" --p2p-port 7400 --api-port 7480',
      ].join('\n'),
    )
    .action(async (options: InitOptions, cmd: Command) => {
      const home = homeOption(options.home);
      const paths = homePaths(home);
      const settings = resolveSettings({ file: {}, env: {}, flags: initFlags(options, cmd) });
      const existing = [paths.keystore, paths.settings].filter((path) => existsSync(path));
      if (existing.length > 0 && !options.force) {
        throw new MedledgerError(
          'HOME_EXISTS',
          `${home} is already a node home (${existing.join(', ')} exist); refusing to overwrite it ` +
            '(--force replaces them, and the old validator key is lost)',
        );
      }
      const passphrase = await newPassphraseFor(paths.keystore);
      await mkdir(home, { recursive: true, mode: 0o700 });
      const keys = generateIdentityKeys();
      await writeKeystore(paths.keystore, keys, passphrase, { overwrite: options.force ?? false });
      await writeFile(paths.settings, renderConfig(settings), { flag: options.force ? 'w' : 'wx' });

      const name = suggestedName(settings.name, home);
      const next = [
        `medledger genesis create --chain-id CHAIN --validator "${name}=${home}" ... --admin "admin=ADMIN.key" --out genesis.json`,
        `cp genesis.json ${paths.genesis}   # the same file on every validator`,
        `add the other validators as [[peers]] in ${paths.settings}`,
        `medledger start --home ${home}`,
      ];
      const info = {
        home,
        validatorPublicKey: hex(keys.signing.publicKey),
        encryptionPublicKey: hex(keys.encryption.publicKey),
        identityId: identityId(keys.signing.publicKey),
        files: { keystore: paths.keystore, config: paths.settings },
        nextSteps: next,
      };
      if (options.json) return out(JSON.stringify(info));
      out(`Created the node home ${home}`);
      out(`  validator key (Ed25519)  ${info.validatorPublicKey}`);
      out(`  custodian key (X25519)   ${info.encryptionPublicKey}`);
      out(`  identity id              ${info.identityId}`);
      out(`  wrote                    ${paths.keystore} (keep it and its passphrase safe)`);
      out(`                           ${paths.settings} (every setting, documented)`);
      out('');
      out('Next steps:');
      out("  1. Create the network's genesis file once, from every validator's key (hex, keystore or home):");
      out(`       ${next[0]}`);
      out(`  2. Put it in this home:  ${next[1]}`);
      out(`  3. Peers: ${next[2]}`);
      out(`  4. Start the node:  ${next[3]}`);
    });
}
