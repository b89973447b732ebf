/**
 * `medledger genesis create` writes a network's genesis.json from the validators' and admins' public
 * keys (as hex, or read without a passphrase from keystores and node homes); `medledger genesis
 * validate` checks a genesis file strictly and summarises it.
 */
import { stat, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { hex } from '../bytes.ts';
import { identityId } from '../contracts/index.ts';
import { readKeystorePublicKeys } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import {
  type Genesis,
  genesisToJson,
  loadGenesis,
  maxFaults,
  parseGenesis,
  quorumSize,
} from '../ledger/index.ts';
import { homePaths } from '../node/config.ts';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const HEX_PAIR = /^([0-9a-fA-F]{64}):([0-9a-fA-F]{64})$/;

interface PublicKeys {
  signing: string;
  encryption?: string;
}

function badKey(flag: string, value: string, why: string): MedledgerError {
  return new MedledgerError('GENESIS_KEY_INVALID', `${flag} ${value}: ${why}`);
}

/** KEY: 64 hex digits (Ed25519), ED25519HEX:X25519HEX, a keystore file, or a node home. */
async function publicKeys(text: string, flag: string, value: string): Promise<PublicKeys> {
  if (HEX_KEY.test(text)) return { signing: text.toLowerCase() };
  const pair = HEX_PAIR.exec(text);
  if (pair) return { signing: pair[1]!.toLowerCase(), encryption: pair[2]!.toLowerCase() };
  const info = await stat(text).catch(() => null);
  if (!info) throw badKey(flag, value, `${text} is not 64 hex digits, a keystore file or a node home`);
  const file = info.isDirectory() ? homePaths(text).keystore : text;
  try {
    const keys = await readKeystorePublicKeys(file);
    return { signing: hex(keys.signingPublicKey), encryption: hex(keys.encryptionPublicKey) };
  } catch (error) {
    if (error instanceof MedledgerError) throw badKey(flag, value, error.message);
    throw error;
  }
}

async function withEncryptionKey(text: string, flag: string, value: string): Promise<Required<PublicKeys>> {
  const keys = await publicKeys(text, flag, value);
  if (keys.encryption === undefined) {
    throw badKey(
      flag,
      value,
      flag === '--validator'
        ? "needs the node's X25519 key too (chain format 2): give ED25519HEX:X25519HEX as " +
            'medledger node info prints it, a keystore file or a node home'
        : 'needs an X25519 key too: give ED25519HEX:X25519HEX, a keystore file or a home',
    );
  }
  return { signing: keys.signing, encryption: keys.encryption };
}

/** `NAME=REST`: names never hold `=`. */
function named(value: string, flag: string): [string, string] {
  const at = value.indexOf('=');
  if (at <= 0) throw badKey(flag, value, `expected NAME=KEY`);
  return [value.slice(0, at), value.slice(at + 1)];
}

/**
 * `NAME=KEY[@MULTIADDR[,MULTIADDR…]]`: multiaddrs start with `/` and hold no commas. KEY names both
 * of the node's public keys (ED25519HEX:X25519HEX, a keystore or a home): chain format 2 commits to
 * each validator's X25519 key.
 */
async function validatorEntry(value: string) {
  const [name, rest] = named(value, '--validator');
  const at = rest.indexOf('@/');
  const key = at < 0 ? rest : rest.slice(0, at);
  const addresses = at < 0 ? [] : rest.slice(at + 1).split(',');
  const keys = await withEncryptionKey(key, '--validator', value);
  return { name, publicKey: keys.signing, encryptionKey: keys.encryption, addresses };
}

async function adminEntry(value: string, index: number) {
  const [name, key] = value.includes('=') ? named(value, '--admin') : [`admin-${index + 1}`, value];
  const keys = await withEncryptionKey(key, '--admin', value);
  return { name, publicKey: keys.signing, encryptionKey: keys.encryption };
}

async function organisationEntry(value: string) {
  const [head, key] = named(value, '--org');
  const [id, kind, name, ...extra] = head.split(':');
  if (name === undefined || extra.length > 0) throw badKey('--org', value, 'expected ID:KIND:NAME=KEY');
  const keys = await withEncryptionKey(key, '--org', value);
  return { id, kind, name, adminKey: keys.signing, encryptionKey: keys.encryption };
}

function integerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new MedledgerError('GENESIS_INVALID', `${flag}: expected an integer`);
  return Number(value);
}

/** genesis.json's shape, as genesisToJson writes it. */
interface GenesisJson {
  chainId: string;
  genesisTime: string;
  validators: Array<{ name: string; publicKey: string; encryptionKey: string; addresses: string[] }>;
  networkAdmins: Array<{ name: string; publicKey: string; encryptionKey: string }>;
  organisations: Array<{ id: string; kind: string; name: string; adminKey: string; encryptionKey: string }>;
  params: Genesis['params'];
}

/** What `validate` prints, and `create --json`: the file's content, the fault arithmetic, the admins' ids. */
export function genesisSummary(genesis: Genesis) {
  const n = genesis.validators.length;
  const json = genesisToJson(genesis) as GenesisJson;
  return {
    ...json,
    n,
    f: maxFaults(n),
    quorum: quorumSize(n),
    networkAdmins: json.networkAdmins.map((a, i) => ({
      ...a,
      identityId: identityId(genesis.networkAdmins[i]!.publicKey),
    })),
  };
}

function printSummary(summary: ReturnType<typeof genesisSummary>, out: (text: string) => void): void {
  const width = Math.max(
    ...summary.validators.map((v) => v.name.length),
    ...summary.networkAdmins.map((a) => a.name.length),
  );
  out(`  chain id        ${summary.chainId}`);
  out(`  genesis time    ${summary.genesisTime}`);
  out(
    `  validators      n=${summary.n}, f=${summary.f} (faulty validators tolerated), quorum=${summary.quorum}`,
  );
  for (const v of summary.validators) {
    out(`    ${v.name.padEnd(width)}  ${v.publicKey}  ${v.addresses.join(', ') || '(dials out only)'}`);
    out(`    ${''.padEnd(width)}  X25519 ${v.encryptionKey}`);
  }
  out(`  network admins  ${summary.networkAdmins.length}`);
  for (const a of summary.networkAdmins)
    out(`    ${a.name.padEnd(width)}  ${a.publicKey}  identity ${a.identityId}`);
  out(`  organisations   ${summary.organisations.length}`);
  for (const o of summary.organisations) out(`    ${o.id} (${o.kind}) ${o.name}  admin ${o.adminKey}`);
  out(
    `  params          ${Object.entries(summary.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
}

interface CreateOptions {
  chainId: string;
  validator?: string[];
  admin?: string[];
  org?: string[];
  genesisTime?: string;
  checkpointInterval?: string;
  maxBlockTxs?: string;
  maxTxBytes?: string;
  emergencyAccessMaxMs?: string;
  out: string;
  force?: boolean;
  json?: boolean;
}

async function create(options: CreateOptions): Promise<Genesis> {
  const params = Object.fromEntries(
    Object.entries({
      checkpointInterval: integerFlag(options.checkpointInterval, '--checkpoint-interval'),
      maxBlockTxs: integerFlag(options.maxBlockTxs, '--max-block-txs'),
      maxTxBytes: integerFlag(options.maxTxBytes, '--max-tx-bytes'),
      emergencyAccessMaxMs: integerFlag(options.emergencyAccessMaxMs, '--emergency-access-max-ms'),
    }).filter(([, value]) => value !== undefined),
  );
  const doc = {
    chainId: options.chainId,
    genesisTime: options.genesisTime ?? new Date().toISOString(),
    validators: await Promise.all((options.validator ?? []).map(validatorEntry)),
    networkAdmins: await Promise.all((options.admin ?? []).map(adminEntry)),
    organisations: await Promise.all((options.org ?? []).map(organisationEntry)),
    params,
  };
  return parseGenesis(doc); // the same strict check every node makes on start
}

const collect = (value: string, list: string[] | undefined) => [...(list ?? []), value];

export function addGenesisCommands(program: Command, out: (text: string) => void): void {
  const genesis = program.command('genesis').description("create and check a network's genesis file");
  genesis
    .command('create')
    .description('write a genesis.json from the validators’ and network admins’ public keys')
    .requiredOption('--chain-id <id>', 'the chain id: lowercase letters, digits and dashes')
    .option(
      '--validator <NAME=KEY[@MULTIADDR,…]>',
      'a validator (repeat for each); KEY: ED25519HEX:X25519HEX (as medledger node info prints it), ' +
        'a keystore file or a node home; ' +
        'MULTIADDR: where the others dial it, e.g. /dns4/node.st-mary.example/tcp/7400',
      collect,
    )
    .option(
      '--admin <[NAME=]KEY>',
      'a network admin (repeat); KEY: ED25519HEX:X25519HEX, a keystore file or a node home',
      collect,
    )
    .option('--org <ID:KIND:NAME=KEY>', 'an initial organisation (repeat); KEY as for --admin', collect)
    .option('--genesis-time <iso>', 'the genesis block time, ISO 8601 UTC (default: now)')
    .option('--checkpoint-interval <n>', 'blocks between checkpoints (default 100)')
    .option('--max-block-txs <n>', 'most transactions in a block (default 1000)')
    .option('--max-tx-bytes <n>', 'largest encoded transaction in bytes (default 65536)')
    .option('--emergency-access-max-ms <n>', 'longest break-glass window in ms (default 14400000: 4 hours)')
    .option('--out <file>', 'where to write it', 'genesis.json')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      [
        '',
        'KINDs of --org: hospital, diagnostic-lab, pharmacy, insurer, research-institute.',
        'Keystores and homes are read without their passphrase (only their public keys).',
        '',
        'Example:',
        '  medledger genesis create --chain-id hospitals-east \\',
        '    --validator "St Mary=./st-mary@/dns4/node.st-mary.example/tcp/7400" \\',
        '    --validator "City General=<ED25519HEX>:<X25519HEX>@/ip4/192.0.2.20/tcp/7400" \\',
        '    --validator "Riverside=./riverside.key@/dns4/node.riverside.example/tcp/7400" \\',
        '    --admin "network admin=./admin.key" --out genesis.json',
        '',
        'Each node dials the others at their addresses; a node without one only dials out.',
      ].join('\n'),
    )
    .action(async (options: CreateOptions) => {
      if (!options.validator?.length || !options.admin?.length) {
        throw new MedledgerError('GENESIS_INVALID', 'give at least one --validator and one --admin');
      }
      const created = await create(options);
      const text = `${JSON.stringify(genesisToJson(created), null, 2)}\n`;
      try {
        await writeFile(options.out, text, { flag: options.force ? 'w' : 'wx' });
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
        throw new MedledgerError(
          'GENESIS_EXISTS',
          `${options.out} exists; refusing to overwrite it without --force`,
        );
      }
      const summary = genesisSummary(created);
      if (options.json) return out(JSON.stringify({ file: options.out, ...summary }));
      out(`wrote ${options.out}`);
      printSummary(summary, out);
      out(`Copy it to every validator's home as genesis.json, unchanged.`);
    });

  genesis
    .command('validate')
    .description('check a genesis file strictly and summarise it: validators, n, f, quorum, admins')
    .argument('<file>', 'the genesis file')
    .option('--json', 'print one JSON object ({ "ok": false, "error": ... } when invalid)')
    .addHelpText(
      'after',
      '\nExit status 1 when the file is invalid.\n\nExample:\n  medledger genesis validate ./st-mary/genesis.json',
    )
    .action(async (file: string, options: { json?: boolean }) => {
      let parsed: Genesis;
      try {
        parsed = await loadGenesis(file);
      } catch (error) {
        if (!(error instanceof MedledgerError)) throw error;
        const message = error.message.replace(/^genesis\.json: /, `${file}: `);
        if (!options.json) throw new MedledgerError(error.code, message);
        out(JSON.stringify({ ok: false, file, error: { code: error.code, message } }));
        process.exitCode = 1;
        return;
      }
      const summary = genesisSummary(parsed);
      if (options.json) return out(JSON.stringify({ ok: true, file, ...summary }));
      out(`${file} is valid`);
      printSummary(summary, out);
    });
}
