/**
 * `medledger init --home DIR`: creates a node home: a new passphrase-encrypted identity keystore
 * (validator.key: the Ed25519 validator key and the X25519 custodian key of the hospital the node
 * serves), the operator's key for the API's node-operator routes (operator.key, mode 0600; one the
 * home already has is kept) and a config.toml documenting every setting; with --tls, also a
 * self-signed certificate for the HTTP API and its key (HOME/tls/, node/tls-cert.ts). It never
 * overwrites a home without --force, and refuses settings the node would refuse to start with (plain
 * HTTP off loopback).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, relative } from 'node:path';
import type { Command } from 'commander';
import { newPassphraseFor } from '../client/passphrase.ts';
import { generateIdentityKeys, writeKeystore } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { insecureApi } from '../node/api-tls.ts';
import { homePaths, type NodeSettings, resolveSettings } from '../node/config.ts';
import { writeOperatorKey } from '../node/operator-key.ts';
import { renderConfig } from '../node/settings-toml.ts';
import { apiIdentity, nodeIdentity, printIdentity, suggestedName } from './node-info.ts';
import { addSettingFlags, homeOption, settingFlags } from './setting-flags.ts';

interface InitOptions {
  home?: string;
  p2pPort?: string;
  tls?: boolean;
  tlsHost?: string;
  force?: boolean;
  json?: boolean;
}

/** The host of a multiaddr such as /dns4/node.example/tcp/7400 or /ip4/192.0.2.1/tcp/7400. */
function multiaddrHost(address: string): string | undefined {
  return /^\/(?:ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(address)?.[1];
}

/**
 * The names the API's certificate lists: its api.host, the advertise hosts, --tls-host, and
 * localhost, 127.0.0.1 and ::1 (wildcard addresses such as 0.0.0.0 are left out by makeSelfSigned).
 */
function certificateHosts(settings: NodeSettings, extra: string | undefined): string[] {
  const given = (extra ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  for (const name of given) {
    if (
      isIP(name) === 0 &&
      !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(
        name,
      )
    )
      throw new MedledgerError(
        'CONFIG_INVALID',
        `--tls-host: ${JSON.stringify(name)} is not a host name or IP address`,
      );
  }
  const advertised = settings.advertise.map(multiaddrHost).filter((h): h is string => h !== undefined);
  return [settings.api.host, ...advertised, ...given, 'localhost', '127.0.0.1', '::1'];
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
    .option(
      '--tls',
      'make a self-signed certificate for the HTTP API (HOME/tls/cert.pem, key HOME/tls/key.pem) and serve HTTPS; prints its SHA-256 fingerprint',
    )
    .option(
      '--tls-host <names>',
      'with --tls: more host names or IP addresses clients reach the API at (comma-separated), besides api.host, the advertise hosts, localhost and 127.0.0.1',
    )
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
        'The HTTP API serves plain HTTP on loopback only: bound to another address (--api-host) it needs',
        '--tls (or a certificate of your own: --api-tls-cert and --api-tls-key), or --api-insecure true',
        'behind a TLS reverse proxy.',
        '',
        'Example:',
        '  medledger init --home ./st-mary --name "St Mary" --p2p-port 7400 \\',
        '    --advertise /dns4/node.st-mary.example/tcp/7400 --api-host 0.0.0.0 --tls --tls-host api.st-mary.example',
      ].join('\n'),
    )
    .action(async (options: InitOptions, cmd: Command) => {
      const home = homeOption(options.home);
      const paths = homePaths(home);
      const flags = initFlags(options, cmd);
      if (options.tls && (flags['api-tls-cert'] !== undefined || flags['api-tls-key'] !== undefined)) {
        throw new MedledgerError(
          'CONFIG_INVALID',
          '--tls makes its own certificate: give either --tls or --api-tls-cert with --api-tls-key, not both',
        );
      }
      if (options.tlsHost !== undefined && !options.tls) {
        throw new MedledgerError(
          'CONFIG_INVALID',
          '--tls-host names hosts in the certificate --tls makes: add --tls',
        );
      }
      const settings = resolveSettings({ file: {}, env: {}, flags });
      if (options.tls) {
        // Relative to the home, so the home can be moved or mounted elsewhere (a container).
        settings.api.tls = { cert: relative(home, paths.tlsCert), key: relative(home, paths.tlsKey) };
      }
      const insecure = insecureApi(settings);
      if (insecure !== null && !settings.api.insecure)
        throw new MedledgerError('CONFIG_API_INSECURE', insecure);
      const hosts = options.tls ? certificateHosts(settings, options.tlsHost) : [];
      const written = options.tls ? [paths.tlsCert, paths.tlsKey] : [];
      const existing = [paths.keystore, paths.settings, ...written].filter((path) => existsSync(path));
      if (existing.length > 0 && !options.force) {
        throw new MedledgerError(
          'HOME_EXISTS',
          `${home} is already a node home (${existing.join(', ')} exist); refusing to overwrite it ` +
            '(--force replaces them, and the old validator key is lost)',
        );
      }
      const passphrase = await newPassphraseFor(paths.keystore);
      // Made before anything is written; the library is loaded only for --tls.
      const certificate = options.tls
        ? await (await import('../node/tls-cert.ts')).makeSelfSigned(
            suggestedName(settings.name, home),
            hosts,
          )
        : null;
      await mkdir(home, { recursive: true, mode: 0o700 });
      const keys = generateIdentityKeys();
      await writeKeystore(paths.keystore, keys, passphrase, { overwrite: options.force ?? false });
      await writeFile(paths.settings, renderConfig(settings), { flag: options.force ? 'w' : 'wx' });
      const operatorKeyWritten = await writeOperatorKey(home);
      if (certificate) {
        const flag = options.force ? 'w' : 'wx';
        await mkdir(dirname(paths.tlsKey), { recursive: true, mode: 0o700 });
        await writeFile(paths.tlsKey, certificate.key, { flag, mode: 0o600 });
        await chmod(paths.tlsKey, 0o600); // a file --force overwrote keeps its old mode otherwise
        await writeFile(paths.tlsCert, certificate.cert, { flag, mode: 0o644 });
      }
      const tls = certificate && {
        cert: paths.tlsCert,
        key: paths.tlsKey,
        fingerprint: certificate.fingerprint,
        names: certificate.names,
        validTo: certificate.validTo,
      };

      const info = {
        ...nodeIdentity(
          home,
          { signingPublicKey: keys.signing.publicKey, encryptionPublicKey: keys.encryption.publicKey },
          settings,
          settings.advertise,
        ),
        api: await apiIdentity(home, settings, true),
      };
      const next = [
        `medledger genesis create --chain-id CHAIN --validator "${info.genesisValidator}" ... --admin "admin=ADMIN.key" --out genesis.json`,
        `cp genesis.json ${paths.genesis}   # the same file on every validator`,
        `medledger start --home ${home}`,
      ];
      if (options.json) {
        return out(
          JSON.stringify({
            ...info,
            files: {
              keystore: paths.keystore,
              config: paths.settings,
              operatorKey: paths.operatorKey,
              ...(tls ? { tlsCert: tls.cert, tlsKey: tls.key } : {}),
            },
            ...(tls ? { tls } : {}),
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
      out(
        operatorKeyWritten
          ? `  and ${paths.operatorKey}, the operator's key (mode 0600): the node-operator commands`
          : `  and kept ${paths.operatorKey}, the operator's key it had (mode 0600): the node-operator commands`,
      );
      out(
        `      (block show, tx show, chain verify --node) sign with it: --operator-key ${paths.operatorKey}`,
      );
      if (tls) {
        out(
          `  and ${tls.cert}, a self-signed certificate for the HTTP API (valid until ${tls.validTo.slice(0, 10)}),`,
        );
        out(`      naming ${tls.names.join(', ')}`);
        out(`  and ${tls.key}, its private key (mode 0600: keep it to the node's user)`);
        out('');
        out(`The API serves HTTPS. Its certificate's SHA-256 fingerprint:`);
        out(`  ${tls.fingerprint}`);
        out('Clients trust it with --fingerprint (the line above) or --ca with a copy of the certificate:');
        out(`  medledger status --node https://HOST:${settings.api.port} --fingerprint ${tls.fingerprint}`);
      }
      out('');
      out('Next steps:');
      out("  1. Send the --validator line above to the network's organiser, who creates the genesis once");
      out("     from every validator's line:");
      out(`       ${next[0]}`);
      out(`  2. Put the genesis file the organiser sends back in this home:  ${next[1]}`);
      out(`  3. Start the node; it dials the others at their genesis addresses:  ${next[2]}`);
    });
}
