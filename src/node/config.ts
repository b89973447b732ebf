/**
 * A node's home directory and its settings file, `config.toml`.
 *
 *   HOME/config.toml      settings (the table in settings.ts; `medledger init` writes them documented)
 *   HOME/genesis.json     the network's genesis file
 *   HOME/validator.key    the validator's keystore (passphrase-encrypted)
 *   HOME/operator.key     the operator's key for the API's node-operator routes (mode 0600)
 *   HOME/data/            chain and consensus databases
 *   HOME/node.lock        the pid of the node running on this home (lock.ts)
 *   HOME/listening.json   where the running node listens (its real ports when configured as 0)
 *
 * Settings are validated strictly: an unknown or ill-typed setting is an error that names it. Each
 * setting comes from config.toml, overridden by its MEDLEDGER_* environment variable, overridden by
 * its `medledger start` flag.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConsensusParams } from '../consensus/index.ts';
import { MedledgerError } from '../errors.ts';
import { parseLinkFaults } from '../faults/link-faults.ts';
import { parsePeerAddress } from '../ledger/peer-address.ts';
import type { JsonObject } from '../strict-json.ts';
import {
  checkSetting,
  FILE_ONLY_SETTINGS,
  type LogLevel,
  NON_SETTING_ENV,
  SETTINGS,
  type Setting,
  type SettingValue,
  settingFromText,
} from './settings.ts';
import { parseConfigText } from './settings-toml.ts';
import type { TransportFaults } from './validator.ts';

export interface NodeSettings {
  /** This node's name in its logs; empty: its validator name in the genesis file. */
  name: string;
  /** Multiaddrs the p2p host listens on. */
  listen: string[];
  /** Where the other validators dial it, as genesis.json should list it (empty: not set). */
  advertise: string[];
  /** Threads that verify signatures off the event loop (0: on it). */
  signatureThreads: number;
  /** Where the other validators (and observers) can be dialed. */
  peers: Array<{ publicKey: string; addresses: string[] }>;
  /**
   * `tls`: the API's certificate and key files (HTTPS; relative to the home, or absolute);
   * `insecure`: plain HTTP allowed on a host that is not loopback (node/api-tls.ts);
   * `faultInjection` enables PUT /v1/debug/faults (benchmarks only; never on a production node);
   * `maxTxPerSenderPerSecond`, `maxUploadBytes` and `uploadQuotaBytesPerDay` are the API's limits
   * (api/limits.ts).
   */
  api: {
    host: string;
    port: number;
    tls?: { cert?: string; key?: string };
    insecure?: boolean;
    faultInjection?: boolean;
    maxTxPerSenderPerSecond?: number;
    maxUploadBytes?: number;
    uploadQuotaBytesPerDay?: number;
  };
  /** Local consensus parameters; unset ones take their defaults (consensusParams in validator.ts). */
  consensus: Partial<ConsensusParams>;
  log: { level: LogLevel };
  faults: TransportFaults;
}

/** Settings as code gives them (writeHome, tests): whatever is left out takes its default. */
export interface SettingsInput {
  name?: string;
  listen?: string[];
  advertise?: string[];
  signatureThreads?: number;
  peers?: NodeSettings['peers'];
  api?: Partial<NodeSettings['api']>;
  consensus?: Partial<ConsensusParams>;
  log?: Partial<NodeSettings['log']>;
  faults?: TransportFaults;
}

export const CONFIG_FILE = 'config.toml';

export const homePaths = (home: string) => ({
  settings: join(home, CONFIG_FILE),
  genesis: join(home, 'genesis.json'),
  keystore: join(home, 'validator.key'),
  /** The operator's key for the API's node-operator routes (crypto/operator-key.ts), mode 0600. */
  operatorKey: join(home, 'operator.key'),
  data: join(home, 'data'),
  lock: join(home, 'node.lock'),
  listening: join(home, 'listening.json'),
  /** Where `medledger init --tls` writes the API's self-signed certificate and its key. */
  tlsCert: join(home, 'tls', 'cert.pem'),
  tlsKey: join(home, 'tls', 'key.pem'),
});

type Fail = (path: string, why: string) => MedledgerError;

const failIn =
  (source: string): Fail =>
  (path, why) =>
    new MedledgerError('CONFIG_INVALID', `${source}: ${path}: ${why}`);

/** Transport faults, from config.toml's `[faults]` or a PUT /v1/debug/faults body. */
export function parseFaults(
  json: unknown,
  path: string,
  bad: (path: string, why: string) => MedledgerError,
): TransportFaults {
  return parseLinkFaults(json, path, bad);
}

/** A TOML table (a plain object) with only `allowed` keys; `path` is its dotted place. */
function table(value: unknown, path: string, allowed: readonly string[], bad: Fail): JsonObject {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) throw bad(path || '(top level)', 'expected a table');
  for (const key of Object.keys(value as object)) {
    if (!allowed.includes(key))
      throw bad(path ? `${path}.${key}` : key, `unknown setting (allowed: ${allowed.join(', ')})`);
  }
  return value as JsonObject;
}

function parsePeers(json: unknown, bad: Fail): NodeSettings['peers'] {
  if (!Array.isArray(json)) throw bad('peers', 'expected a list of [[peers]] tables');
  return json.map((p, i) => {
    const peer = table(p, `peers[${i}]`, ['publicKey', 'addresses'], bad);
    if (typeof peer.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(peer.publicKey)) {
      throw bad(`peers[${i}].publicKey`, 'expected 64 lowercase hex digits');
    }
    const addresses = peer.addresses ?? [];
    if (!Array.isArray(addresses) || !addresses.every((a) => typeof a === 'string'))
      throw bad(`peers[${i}].addresses`, 'expected a list of multiaddrs');
    addresses.forEach((address, j) => {
      try {
        parsePeerAddress(address);
      } catch (error) {
        throw bad(`peers[${i}].addresses[${j}]`, (error as Error).message);
      }
    });
    return { publicKey: peer.publicKey, addresses };
  });
}

/** The table's settings by path (defaults filled in), and the file-only ones. */
interface ParsedSettings {
  values: Map<string, SettingValue>;
  peers: NodeSettings['peers'];
  faults: TransportFaults;
}

/** The keys the table at `prefix` (`` for the top level, `api`, `api.tls`) may hold. */
function keysUnder(prefix: string): string[] {
  const depth = prefix === '' ? 0 : prefix.split('.').length;
  const below = SETTINGS.filter((s) => prefix === '' || s.path.startsWith(`${prefix}.`));
  return [...new Set(below.map((s) => s.path.split('.')[depth]!))];
}

/** Every table that holds settings (`api`, `api.tls`, …), each after the table it is in. */
const SETTING_TABLES: readonly string[] = [
  ...new Set(
    SETTINGS.flatMap((s) => {
      const parts = s.path.split('.');
      return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
    }),
  ),
].sort((a, b) => a.split('.').length - b.split('.').length);

function parseDocument(json: unknown, bad: Fail): ParsedSettings {
  const doc = table(json, '', [...keysUnder(''), ...FILE_ONLY_SETTINGS], bad);
  const tables = new Map<string, JsonObject>([['', doc]]);
  for (const path of SETTING_TABLES) {
    const parent = tables.get(path.split('.').slice(0, -1).join('.'))!;
    tables.set(path, table(parent[path.split('.').at(-1)!] ?? {}, path, keysUnder(path), bad));
  }
  const values = new Map<string, SettingValue>();
  for (const s of SETTINGS) {
    const parts = s.path.split('.');
    const raw = tables.get(parts.slice(0, -1).join('.'))![parts.at(-1)!];
    const value = raw === undefined ? s.default : checkSetting(s, raw, (why) => bad(s.path, why));
    if (value !== undefined) values.set(s.path, value);
  }
  return {
    values,
    peers: parsePeers(doc.peers ?? [], bad),
    faults: parseFaults(doc.faults ?? {}, 'faults', bad),
  };
}

function assemble({ values, peers, faults }: ParsedSettings): NodeSettings {
  const doc: Record<string, unknown> = { peers, faults };
  for (const [path, value] of values) {
    const parts = path.split('.');
    let at = doc;
    for (const part of parts.slice(0, -1)) {
      at[part] ??= {};
      at = at[part] as Record<string, unknown>;
    }
    at[parts.at(-1)!] = value;
  }
  return doc as unknown as NodeSettings;
}

/**
 * Validates settings given as a plain object shaped like config.toml (parsed TOML, or settings built
 * in code) and fills in every default. `source` names the origin in error messages.
 */
export function parseSettings(json: unknown, source = CONFIG_FILE): NodeSettings {
  return assemble(parseDocument(json, failIn(source)));
}

export interface SettingSources {
  /** config.toml, parsed. */
  file: unknown;
  /** How errors name the file (default `config.toml`). */
  fileName?: string;
  /** The process environment: each setting's MEDLEDGER_* variable overrides the file. */
  env: Record<string, string | undefined>;
  /** Flag values by flag name without dashes (`api-port`): they override the environment. */
  flags: Record<string, string | undefined>;
}

const invalid = (label: string, why: string) => new MedledgerError('CONFIG_INVALID', `${label}: ${why}`);

function override(values: Map<string, SettingValue>, s: Setting, text: string | undefined, label: string) {
  if (text === undefined) return;
  values.set(
    s.path,
    checkSetting(s, settingFromText(s, text), (why) => invalid(label, why)),
  );
}

/** An unknown MEDLEDGER_* variable is an error naming it: a misspelt override must not be ignored. */
export function checkEnvNames(env: Record<string, string | undefined>): void {
  const known = new Set<string>([...SETTINGS.map((s) => s.env), ...NON_SETTING_ENV]);
  for (const name of Object.keys(env)) {
    if (name.startsWith('MEDLEDGER_') && env[name] !== undefined && !known.has(name)) {
      throw invalid(name, 'not a medledger setting (medledger start --help lists the MEDLEDGER_* variables)');
    }
  }
}

/** The settings in force: config.toml, overridden by MEDLEDGER_* variables, overridden by flags. */
export function resolveSettings(sources: SettingSources): NodeSettings {
  const parsed = parseDocument(sources.file, failIn(sources.fileName ?? CONFIG_FILE));
  checkEnvNames(sources.env);
  const byFlag = new Map(SETTINGS.map((s) => [s.flag, s]));
  for (const flag of Object.keys(sources.flags)) {
    if (!byFlag.has(flag)) throw invalid(`--${flag}`, 'not a setting flag');
  }
  for (const s of SETTINGS) {
    override(parsed.values, s, sources.env[s.env], s.env);
    override(parsed.values, s, sources.flags[s.flag], `--${s.flag}`);
  }
  return assemble(parsed);
}

/** HOME/config.toml as a plain object (TOML syntax checked, settings not yet). */
export async function readConfigFile(home: string): Promise<unknown> {
  const path = homePaths(home).settings;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const legacy = existsSync(join(home, 'node.json'))
      ? ' (this home has a node.json from an older medledger: the same settings now go in config.toml)'
      : '; create the home with medledger init';
    throw new MedledgerError('CONFIG_NOT_FOUND', `cannot read ${path}${legacy}`, { cause: error });
  }
  return parseConfigText(text, path);
}

/** The settings of the node at `home`, with overrides from the environment and flags. */
export async function loadSettings(
  home: string,
  overrides: Pick<SettingSources, 'env' | 'flags'> = { env: {}, flags: {} },
): Promise<NodeSettings> {
  const file = await readConfigFile(home);
  return resolveSettings({ file, fileName: homePaths(home).settings, ...overrides });
}
