/**
 * What a hospital sends its network's organiser, from its node home: the validator's public keys
 * (Ed25519 and X25519: a format-2 genesis names both), where it listens, and the `--validator`
 * argument for `genesis create`. `medledger init` prints it when it creates the home; `medledger node
 * info` prints it again later (no passphrase needed: only public keys are read).
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { hex } from '../bytes.ts';
import { identityId } from '../contracts/index.ts';
import { readKeystorePublicKeys } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { loadGenesis } from '../ledger/index.ts';
import { certificateFingerprint, homeFile, readCertificate } from '../node/api-tls.ts';
import { homePaths, loadSettings, type NodeSettings } from '../node/config.ts';
import { homeOption } from './setting-flags.ts';

export interface NodeIdentity {
  home: string;
  name: string;
  validatorPublicKey: string;
  encryptionPublicKey: string;
  identityId: string;
  listen: string[];
  /** Where the others dial it: its `advertise` setting, else its genesis entry. */
  addresses: string[];
  /**
   * The argument the organiser passes to `genesis create`: NAME=ED25519HEX:X25519HEX@ADDRESSES, as
   * chain format 2 names both of a validator's keys.
   */
  genesisValidator: string;
  /** For an organisation whose node this is: `--org ID:KIND:NAME=` followed by this. */
  organisationKeys: string;
  /**
   * Where its HTTP API listens as configured (https:// with TLS), and with TLS the certificate file
   * and its SHA-256 fingerprint, which clients pin with --fingerprint.
   */
  api?: { url: string; cert: string | null; fingerprint: string | null };
}

/**
 * The API's configured URL and certificate fingerprint (the certificate is read; the key is not).
 * `lenient`: a certificate that cannot be read yet (init with a file to come) has no fingerprint.
 */
export async function apiIdentity(
  home: string,
  settings: NodeSettings,
  lenient = false,
): Promise<NodeIdentity['api']> {
  const certPath = settings.api.tls?.cert;
  const host = isIP(settings.api.host) === 6 ? `[${settings.api.host}]` : settings.api.host;
  const url = `${certPath ? 'https' : 'http'}://${host}:${settings.api.port}`;
  if (certPath === undefined) return { url, cert: null, fingerprint: null };
  const cert = homeFile(home, certPath);
  try {
    return { url, cert, fingerprint: certificateFingerprint((await readCertificate(cert)).cert) };
  } catch (error) {
    if (lenient) return { url, cert, fingerprint: null };
    throw error;
  }
}

/** A validator name genesis.json accepts, suggested from the node's name or its directory. */
export function suggestedName(name: string, home: string): string {
  const raw = name || basename(resolve(home));
  return raw.replace(/[^\p{L}\p{N} .,'&()-]/gu, '-').slice(0, 128) || 'validator';
}

export function nodeIdentity(
  home: string,
  keys: { signingPublicKey: Uint8Array; encryptionPublicKey: Uint8Array },
  settings: { name: string; listen: string[] },
  addresses: string[],
): NodeIdentity {
  const name = suggestedName(settings.name, home);
  const validatorPublicKey = hex(keys.signingPublicKey);
  const encryptionPublicKey = hex(keys.encryptionPublicKey);
  const where = addresses.length > 0 ? addresses.join(',') : '/dns4/<THIS-HOST>/tcp/<P2P-PORT>';
  return {
    home,
    name,
    validatorPublicKey,
    encryptionPublicKey,
    identityId: identityId(keys.signingPublicKey),
    listen: settings.listen,
    addresses,
    genesisValidator: `${name}=${validatorPublicKey}:${encryptionPublicKey}@${where}`,
    organisationKeys: `${validatorPublicKey}:${encryptionPublicKey}`,
  };
}

export function printIdentity(info: NodeIdentity, out: (text: string) => void): void {
  out(`  validator name           ${info.name}`);
  out(`  validator key (Ed25519)  ${info.validatorPublicKey}`);
  out(`  custodian key (X25519)   ${info.encryptionPublicKey}`);
  out(`  identity id              ${info.identityId}`);
  out(`  listens on               ${info.listen.join(', ')}`);
  out(
    `  dialled at               ${info.addresses.join(', ') || '(not set: the advertise setting in config.toml)'}`,
  );
  if (info.api) {
    out(`  HTTP API                 ${info.api.url}${info.api.cert ? ' (TLS)' : ''}`);
    if (info.api.fingerprint) {
      out(`  API certificate SHA-256  ${info.api.fingerprint}`);
      out(`    (clients: --fingerprint ${info.api.fingerprint}, or --ca ${info.api.cert})`);
    } else if (info.api.cert) {
      out(`  API certificate          ${info.api.cert} (not readable yet: no fingerprint)`);
    }
  }
  out('');
  out("For the network's organiser (genesis create):");
  out(`  --validator "${info.genesisValidator}"`);
}

export function addNodeCommands(program: Command, out: (text: string) => void): void {
  const node = program.command('node').description("a node home's identity");
  node
    .command('info')
    .description("print what the network's organiser needs from this node: public keys and addresses")
    .option('--home <dir>', "the node's home directory (default: MEDLEDGER_HOME)")
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      [
        '',
        "Where the others dial it is the home's advertise setting (medledger init --advertise), else",
        "its entry in the genesis file. With TLS (api.tls.cert), the SHA-256 fingerprint of the API's",
        'certificate is printed too: clients pin it with --fingerprint.',
        '',
        'Example:',
        '  medledger node info --home ./st-mary --json',
      ].join('\n'),
    )
    .action(async (options: { home?: string; json?: boolean }) => {
      const home = homeOption(options.home);
      const paths = homePaths(home);
      if (!existsSync(paths.keystore)) {
        throw new MedledgerError(
          'HOME_NOT_FOUND',
          `there is no node home at ${home} (no ${paths.keystore}); create one with: medledger init --home ${home}`,
        );
      }
      const keys = await readKeystorePublicKeys(paths.keystore);
      const settings = await loadSettings(home);
      let addresses = settings.advertise;
      if (addresses.length === 0 && existsSync(paths.genesis)) {
        const genesis = await loadGenesis(paths.genesis);
        const self = genesis.validators.find((v) => hex(v.publicKey) === hex(keys.signingPublicKey));
        addresses = self?.addresses ?? [];
      }
      const info = {
        ...nodeIdentity(home, keys, settings, addresses),
        api: await apiIdentity(home, settings),
      };
      if (options.json) return out(JSON.stringify(info));
      out(`The node home ${home}`);
      printIdentity(info, out);
    });
}
