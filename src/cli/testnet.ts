/**
 * `medledger testnet --validators N --hosts H1,…,HN --out DIR`: writes N ready node homes and their
 * genesis for N hosts in one step, for labs, CI and the container compose file (as CometBFT's
 * `testnet`). Each validator's genesis entry carries its host's address, so the network forms from
 * the genesis alone once every home is copied to its host and started.
 *
 *   DIR/genesis.json     the network's genesis (also in every home)
 *   DIR/node-I/          validator I's home: validator.key, config.toml, genesis.json, operator.key
 *   DIR/admin.key        the network admin's keystore
 *   DIR/testnet.json     the layout: each validator's name, home, p2p address and API URL
 *
 * All keystores share the passphrase from MEDLEDGER_PASSPHRASE or MEDLEDGER_PASSPHRASE_FILE (or the
 * prompt): a testnet is for trying a multi-host network, not for patient data.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { hex } from '../bytes.ts';
import { newPassphraseFor } from '../client/passphrase.ts';
import {
  checkPassphraseStrength,
  generateIdentityKeys,
  type IdentityKeys,
  writeKeystore,
} from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { DEFAULT_PARAMS, type Genesis, genesisToJson, parseGenesis } from '../ledger/index.ts';
import { isLoopback } from '../node/api-tls.ts';
import { homePaths } from '../node/config.ts';
import { writeHome } from '../node/home.ts';
import { DEFAULT_API_PORT, DEFAULT_P2P_PORT } from '../node/settings.ts';

interface TestnetOptions {
  validators: string;
  hosts: string;
  out: string;
  chainId: string;
  p2pPort: string;
  apiHost: string;
  apiPort: string;
  apiInsecure?: boolean;
  force?: boolean;
  json?: boolean;
}

interface HostSpec {
  host: string;
  /** The p2p port given with the host (`HOST:PORT`), if any. */
  port?: number;
}

const bad = (why: string) => new MedledgerError('TESTNET_INVALID', why);

function port(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 65535) throw bad(`${flag}: expected a port in [1, 65535]`);
  return value;
}

/** `HOST`, `HOST:PORT` or `[IPV6]:PORT`. */
function parseHost(text: string): HostSpec {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  if (bracketed)
    return { host: bracketed[1]!, port: bracketed[2] ? port(bracketed[2], '--hosts') : undefined };
  if (isIP(text) === 6) return { host: text };
  const [host, portText, ...extra] = text.split(':');
  if (!host || extra.length > 0 || !/^[A-Za-z0-9.-]{1,253}$/.test(host))
    throw bad(`--hosts: ${JSON.stringify(text)} is not HOST, HOST:PORT or [IPV6]:PORT`);
  return { host, port: portText === undefined ? undefined : port(portText, '--hosts') };
}

/** The multiaddr for a host: an IP literal, or a DNS name (a compose service name works). */
function dialAddress(host: string, p2pPort: number): string {
  const family = isIP(host);
  const protocol = family === 4 ? 'ip4' : family === 6 ? 'ip6' : 'dns4';
  return `/${protocol}/${host}/tcp/${p2pPort}`;
}

interface Placement {
  name: string;
  home: string;
  host: string;
  address: string;
  listen: string;
  apiPort: number;
}

/**
 * Where each validator runs. Validators that share a host get consecutive ports (p2p and API) unless
 * their ports were given, so `--hosts 127.0.0.1` makes a whole testnet on one machine.
 */
function place(count: number, hosts: HostSpec[], options: TestnetOptions, out: string): Placement[] {
  const basePort = port(options.p2pPort, '--p2p-port');
  const baseApiPort = port(options.apiPort, '--api-port');
  const onHost = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const spec = hosts.length === 1 ? hosts[0]! : hosts[i]!;
    const earlier = onHost.get(spec.host) ?? 0;
    onHost.set(spec.host, earlier + 1);
    const p2pPort = spec.port ?? basePort + earlier;
    const wildcard = isIP(spec.host) === 6 ? '/ip6/::' : '/ip4/0.0.0.0';
    return {
      name: `validator-${i + 1}`,
      home: join(out, `node-${i + 1}`),
      host: spec.host,
      address: dialAddress(spec.host, p2pPort),
      listen: `${wildcard}/tcp/${p2pPort}`,
      apiPort: baseApiPort + earlier,
    };
  });
}

function checkOptions(options: TestnetOptions): { count: number; hosts: HostSpec[] } {
  // The check every node makes on start, made here before any home is written (node/api-tls.ts).
  if (!isLoopback(options.apiHost) && !options.apiInsecure) {
    throw bad(
      `--api-host ${options.apiHost} is not a loopback address, and a testnet's APIs serve plain HTTP: ` +
        'add --api-insecure if only a TLS reverse proxy or a port published on loopback (a container) ' +
        'reaches them, or keep --api-host 127.0.0.1',
    );
  }
  const count = Number(options.validators);
  if (!/^\d+$/.test(options.validators) || count < 1 || count > 64)
    throw bad('--validators: expected an integer in [1, 64]');
  const hosts = options.hosts
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '')
    .map(parseHost);
  if (hosts.length !== 1 && hosts.length !== count) {
    throw bad(
      `--hosts: give one host per validator (${count}), or one host for all of them; got ${hosts.length}`,
    );
  }
  return { count, hosts };
}

/** parseGenesis, with a bad address named by its place in --hosts. */
function checkedGenesis(genesis: Genesis): Genesis {
  try {
    return parseGenesis(genesisToJson(genesis));
  } catch (error) {
    const at = /^genesis\.json: \$\.validators\[(\d+)\]\.addresses(?:\[\d+\])?: (.*)$/.exec(
      (error as Error).message,
    );
    if (!at) throw error;
    throw bad(`--hosts: host ${Number(at[1]) + 1}: ${at[2]}`);
  }
}

async function writeTestnet(options: TestnetOptions) {
  const { count, hosts } = checkOptions(options);
  const out = resolve(options.out);
  const genesisPath = join(out, 'genesis.json');
  if (existsSync(genesisPath) && !options.force) {
    throw new MedledgerError(
      'TESTNET_EXISTS',
      `${out} already holds a testnet (${genesisPath}); refusing to overwrite it without --force`,
    );
  }
  const placements = place(count, hosts, options, out);
  const keys: IdentityKeys[] = placements.map(() => generateIdentityKeys());
  const admin = generateIdentityKeys();
  // The same strict check every node makes on start: bad hosts are named before anything is written.
  const genesis: Genesis = checkedGenesis({
    chainId: options.chainId,
    genesisTime: Date.now(),
    validators: placements.map((p, i) => ({
      name: p.name,
      publicKey: keys[i]!.signing.publicKey,
      encryptionKey: keys[i]!.encryption.publicKey,
      addresses: [p.address],
    })),
    networkAdmins: [
      {
        name: 'testnet admin',
        publicKey: admin.signing.publicKey,
        encryptionKey: admin.encryption.publicKey,
      },
    ],
    organisations: [],
    params: DEFAULT_PARAMS,
  });
  const passphrase = await newPassphraseFor(join(out, '*.key'));
  checkPassphraseStrength(passphrase); // before any file is written
  await mkdir(out, { recursive: true });
  for (const [i, p] of placements.entries()) {
    await writeHome({
      home: p.home,
      genesis,
      keys: keys[i]!,
      passphrase,
      settings: {
        name: p.name,
        listen: [p.listen],
        api: {
          host: options.apiHost,
          port: p.apiPort,
          ...(options.apiInsecure ? { insecure: true } : {}),
        },
      },
    });
  }
  await writeKeystore(join(out, 'admin.key'), admin, passphrase, { overwrite: true });
  await writeFile(genesisPath, `${JSON.stringify(genesisToJson(genesis), null, 2)}\n`);
  const layout = {
    chainId: genesis.chainId,
    genesis: genesisPath,
    adminKeystore: join(out, 'admin.key'),
    validators: placements.map((p, i) => ({
      name: p.name,
      home: p.home,
      operatorKey: homePaths(p.home).operatorKey,
      publicKey: hex(keys[i]!.signing.publicKey),
      encryptionKey: hex(keys[i]!.encryption.publicKey),
      p2p: p.address,
      api: `http://${apiHostFor(options.apiHost, p.host)}:${p.apiPort}`,
    })),
  };
  await writeFile(join(out, 'testnet.json'), `${JSON.stringify(layout, null, 2)}\n`);
  return layout;
}

/** Where a client reaches a validator's API: its host, unless the API is bound to one address. */
function apiHostFor(apiHost: string, host: string): string {
  const any = apiHost === '0.0.0.0' || apiHost === '::';
  const chosen = any ? host : apiHost;
  return isIP(chosen) === 6 ? `[${chosen}]` : chosen;
}

export function addTestnetCommand(program: Command, out: (text: string) => void): void {
  program
    .command('testnet')
    .description('write N ready validator homes and their genesis for N hosts (labs, CI, containers)')
    .requiredOption('--validators <n>', 'how many validators')
    .requiredOption(
      '--hosts <list>',
      'comma-separated HOST, HOST:PORT or [IPV6]:PORT, one per validator (or one for all)',
    )
    .option('--out <dir>', 'where to write the homes and genesis', './testnet')
    .option('--chain-id <id>', 'the chain id', 'testnet')
    .option('--p2p-port <port>', 'p2p port where a host does not give one', String(DEFAULT_P2P_PORT))
    .option('--api-host <address>', "address each node's HTTP API binds to", '127.0.0.1')
    .option('--api-port <port>', 'HTTP API port', String(DEFAULT_API_PORT))
    .option(
      '--api-insecure',
      'let the plain-HTTP APIs bind an --api-host that is not loopback (sets api.insecure: only behind a TLS proxy, or in containers published on loopback)',
    )
    .option('--force', 'overwrite a testnet already in --out')
    .option('--json', 'print the layout as one JSON object')
    .addHelpText(
      'after',
      [
        '',
        'Validators that share a host get consecutive p2p and API ports. Every keystore takes the',
        'passphrase from MEDLEDGER_PASSPHRASE or MEDLEDGER_PASSPHRASE_FILE (else it is asked twice).',
        '',
        'Examples:',
        '  medledger testnet --validators 4 --hosts 192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4 --out ./testnet',
        '  medledger testnet --validators 4 --hosts 127.0.0.1 --p2p-port 27400 --api-port 27480',
        '  then copy node-I to host I and run: medledger start --home node-I',
      ].join('\n'),
    )
    .action(async (options: TestnetOptions) => {
      const layout = await writeTestnet(options);
      if (options.json) return out(JSON.stringify(layout));
      out(
        `wrote a testnet of ${layout.validators.length} validators (chain ${layout.chainId}) in ${options.out}`,
      );
      for (const v of layout.validators) out(`  ${v.name}  ${v.home}  p2p ${v.p2p}  api ${v.api}`);
      out(`  network admin keystore  ${layout.adminKeystore}`);
      out(
        "  each home's operator.key signs its node's operator routes (--operator-key: block show, tx show, chain verify --node)",
      );
      out('Copy each node-I directory to its host and run there: medledger start --home node-I');
    });
}
