/**
 * `medledger init --home DIR`: creates a node home: a new passphrase-encrypted identity keystore
 * (validator.key: the Ed25519 validator key and the X25519 custodian key of the hospital the node
 * serves) and a config.toml documenting every setting. It never overwrites a home without --force.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { newPassphraseFor } from '../client/passphrase.ts';
import { generateIdentityKeys, writeKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { homePaths, resolveSettings } from '../node/config.ts';
import { renderConfig } from '../node/settings-toml.ts';
import { nodeIdentity, printIdentity } from './node-info.ts';
import { addSettingFlags, homeOption, settingFlags } from './setting-flags.ts';

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
        'The keystore passphrase comes from MEDLEDGER_PASSPHRASE or the file MEDLEDGER_PASSPHRASE_FILE names, else it is asked twice on the terminal.',
        '',
        'Example:',
        '  medledger init --home ./st-mary --name "St Mary" --p2p-port 7400 \\',
        '    --advertise /dns4/node.st-mary.example/tcp/7400',
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

      const info = nodeIdentity(
        home,
        { signingPublicKey: keys.signing.publicKey, encryptionPublicKey: keys.encryption.publicKey },
        settings,
        settings.advertise,
      );
      const next = [
        `medledger genesis create --chain-id CHAIN --validator "${info.genesisValidator}" ... --admin "admin=ADMIN.key" --out genesis.json`,
        `cp genesis.json ${paths.genesis}   # the same file on every validator`,
        `medledger start --home ${home}`,
      ];
      if (options.json) {
        return out(
          JSON.stringify({
            ...info,
            files: { keystore: paths.keystore, config: paths.settings },
            nextSteps: next,
          }),
        );
      }
      out(`Created the node home ${home}`);
      printIdentity(info, out);
      out(`  (medledger node info --home ${home} prints this again)`);
      out('');
      out(`Wrote ${paths.keystore} (keep it and its passphrase safe)`);
      out(`  and ${paths.settings} (every setting, documented)`);
      out('');
      out('Next steps:');
      out("  1. Send the --validator line above to the network's organiser, who creates the genesis once");
      out("     from every validator's line:");
      out(`       ${next[0]}`);
      out(`  2. Put the genesis file the organiser sends back in this home:  ${next[1]}`);
      out(`  3. Start the node; it dials the others at their genesis addresses:  ${next[2]}`);
    });
}
