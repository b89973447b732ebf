/**
 * The one table of node settings. Each row gives a setting's place in config.toml, its type and
 * bounds, its MEDLEDGER_* environment variable, its `medledger start` flag, its documentation and its
 * default. The config template that `medledger init` writes, the parsing of environment variables and
 * flags, and the validation of all three are driven by this table, so they cannot drift apart.
 *
 * Peers and transport faults are lists and tables of objects: they live in config.toml only.
 */
import {
  BURST_SECONDS,
  DEFAULT_MAX_TX_PER_SENDER_PER_SECOND,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_UPLOAD_QUOTA_BYTES_PER_DAY,
} from '../api/limits.ts';
import { DEFAULT_CONSENSUS_PARAMS } from '../consensus/index.ts';
import { ADDRESS_EXAMPLE, parsePeerAddress } from '../ledger/peer-address.ts';

export type SettingValue = string | number | boolean | string[];

export type SettingType =
  | { kind: 'string'; pattern: RegExp; hint: string }
  | { kind: 'list'; pattern: RegExp; hint: string; allowEmpty?: boolean; checkItem?: (item: string) => void }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'choice'; values: readonly string[] };

export interface Setting {
  /** Dotted place in config.toml, e.g. `api.port` or `api.tls.cert` (a table in a table). */
  path: string;
  type: SettingType;
  /** Environment variable, e.g. `MEDLEDGER_API_PORT`. */
  env: string;
  /** `medledger start` flag without its dashes, e.g. `api-port`. */
  flag: string;
  doc: string;
  /** Undefined: not set unless configured (the doc says what applies then). */
  default: SettingValue | undefined;
  /** For a setting without a default: a value shown, commented out, in the template. */
  example?: SettingValue;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The default p2p and API ports of a node. */
export const DEFAULT_P2P_PORT = 7400;
export const DEFAULT_API_PORT = 7480;

/** MEDLEDGER_* variables that are not settings (the passphrase, and the operator commands' own). */
export const NON_SETTING_ENV = [
  'MEDLEDGER_PASSPHRASE',
  'MEDLEDGER_PASSPHRASE_FILE',
  'MEDLEDGER_HOME',
  'MEDLEDGER_NODE',
  'MEDLEDGER_CA',
  'MEDLEDGER_FINGERPRINT',
  'MEDLEDGER_OPERATOR_KEY',
  'MEDLEDGER_FAULTS_SEED',
  // The chain scrubber's rate (node/daemon.ts scrubRate), read by the daemon itself.
  'MEDLEDGER_SCRUB_BLOCKS_PER_SECOND',
] as const;

const MULTIADDR = /^(\/[\w.:-]+)+$/;
const MULTIADDR_HINT = 'expected multiaddrs such as /ip4/0.0.0.0/tcp/7400';
const FILE_PATH = /^\P{Cc}{1,4096}$/u;
const FILE_PATH_HINT = 'expected a file path';

/** `consensus.batchDelay_ms` → `consensus_batch_delay_ms`: the stem of its env and flag names. */
function snake(path: string): string {
  return path
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[._]+/g, '_')
    .toLowerCase();
}

function setting(
  path: string,
  type: SettingType,
  doc: string,
  defaultValue: SettingValue | undefined,
  example?: SettingValue,
): Setting {
  const stem = snake(path);
  return {
    path,
    type,
    env: `MEDLEDGER_${stem.toUpperCase()}`,
    flag: stem.replaceAll('_', '-'),
    doc,
    default: defaultValue,
    ...(example === undefined ? {} : { example }),
  };
}

const integer = (min: number, max: number): SettingType => ({ kind: 'integer', min, max });
const consensus = DEFAULT_CONSENSUS_PARAMS;

export const SETTINGS: readonly Setting[] = [
  setting(
    'name',
    { kind: 'string', pattern: /^\P{Cc}{0,128}$/u, hint: 'expected a name of at most 128 characters' },
    "This node's name in its logs. Empty: the validator's name in genesis.json.",
    '',
  ),
  setting(
    'listen',
    { kind: 'list', pattern: MULTIADDR, hint: MULTIADDR_HINT },
    'Multiaddrs the p2p host listens on. The other validators dial the addresses genesis.json lists ' +
      'for this one, which must lead here. Peers are authenticated by their validator key, so ' +
      'listening on every interface is safe.',
    [`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`],
  ),
  setting(
    'advertise',
    {
      kind: 'list',
      pattern: MULTIADDR,
      hint: `expected multiaddrs such as ${ADDRESS_EXAMPLE}`,
      allowEmpty: true,
      checkItem: parsePeerAddress,
    },
    'Where the other validators dial this node: its entry in genesis.json. `medledger init` and ' +
      "`medledger node info` print it for the network's organiser, and on start the node warns if " +
      'genesis.json lists it elsewhere. Empty: not set.',
    [],
  ),
  setting(
    'signatureThreads',
    integer(0, 63),
    "Threads of libuv's pool that verify transaction signatures off the event loop (keep it below " +
      "the pool's size, UV_THREADPOOL_SIZE or 4, so LevelDB keeps a thread). 0: on the event loop, " +
      'after consensus messages; on two cores that is as fast, and faster where validators share the ' +
      'cores (docs/benchmarks).',
    0,
  ),
  setting(
    'api.host',
    { kind: 'string', pattern: /^[\w.:-]{1,253}$/, hint: 'expected a host name or IP address' },
    'Address the HTTP API binds to. Keep it on loopback unless a firewall or reverse proxy guards it.',
    '127.0.0.1',
  ),
  setting(
    'api.port',
    integer(0, 65535),
    'TCP port of the HTTP API (0: any free port; HOME/listening.json tells which).',
    DEFAULT_API_PORT,
  ),
  setting(
    'api.tls.cert',
    { kind: 'string', pattern: FILE_PATH, hint: FILE_PATH_HINT },
    "The API's certificate (PEM; relative to the home, or absolute), with api.tls.key: the API then " +
      'serves HTTPS (TLS 1.2 or later). `medledger init --tls` makes a self-signed one. Unset: plain ' +
      'HTTP, which api.host must then keep on loopback unless api.insecure is true.',
    undefined,
    'tls/cert.pem',
  ),
  setting(
    'api.tls.key',
    { kind: 'string', pattern: FILE_PATH, hint: FILE_PATH_HINT },
    'The private key of api.tls.cert (PEM, unencrypted; relative to the home, or absolute): keep it ' +
      "readable by the node's user alone.",
    undefined,
    'tls/key.pem',
  ),
  setting(
    'api.insecure',
    { kind: 'boolean' },
    'Serve plain HTTP on an api.host that is not loopback (the node warns at every start). Only for ' +
      'an API that a TLS reverse proxy fronts, or one in a container published on loopback.',
    false,
  ),
  setting(
    'api.faultInjection',
    { kind: 'boolean' },
    'Enables PUT /v1/debug/faults, for benchmarks only: never on a production node.',
    false,
  ),
  setting(
    'api.maxTxPerSenderPerSecond',
    integer(1, 1_000_000),
    'Transactions a second this node takes from one sender key, with a burst of ' +
      `${BURST_SECONDS} seconds' worth (POST /v1/txs, batches included); more get 429 API_RATE_LIMITED ` +
      'and a Retry-After. The default leaves load generators room: the benchmarks spread their load ' +
      'over 32 keys and 4 validators, so 32,000 tx/s before one is throttled.',
    DEFAULT_MAX_TX_PER_SENDER_PER_SECOND,
  ),
  setting(
    'api.maxUploadBytes',
    integer(1, 4 * 1024 ** 3),
    'Largest record ciphertext (or key blob) POST /v1/blobs takes, in bytes; larger uploads get 413 ' +
      'API_BODY_TOO_LARGE as soon as they pass it.',
    DEFAULT_MAX_UPLOAD_BYTES,
  ),
  setting(
    'api.uploadQuotaBytesPerDay',
    integer(1, 2 ** 50),
    'Bytes one identity may upload to POST /v1/blobs in a day (UTC) on this node; more get 429 ' +
      'API_UPLOAD_QUOTA. Uploads are ciphertext waiting for their record.add; those no record claims ' +
      'are swept after a day.',
    DEFAULT_UPLOAD_QUOTA_BYTES_PER_DAY,
  ),
  setting(
    'consensus.batchMaxTxs',
    integer(1, 100_000),
    'Most transactions in one block.',
    consensus.batchMaxTxs,
  ),
  setting(
    'consensus.batchDelay_ms',
    integer(0, 60_000),
    'How long the primary waits for a full batch before proposing a partial one, in milliseconds.',
    consensus.batchDelay_ms,
  ),
  setting(
    'consensus.window',
    integer(1, 64),
    'Most heights in flight beyond the last executed one (pipelining depth).',
    consensus.window,
  ),
  setting(
    'consensus.logSize',
    integer(1, 1_000_000),
    'Heights accepted above the stable checkpoint. Unset: window + 2 x the checkpoint interval of ' +
      'genesis.json (which sets the checkpoint interval for the whole network).',
    undefined,
    consensus.logSize,
  ),
  setting(
    'consensus.requestTimeout_ms',
    integer(10, 3_600_000),
    'The request timer, in ms: a validator holding transactions while the primary shows no progress ' +
      'for this long starts a view change. Stretched to twice the measured commit latency, up to 4x.',
    consensus.requestTimeout_ms,
  ),
  setting(
    'consensus.viewChangeTimeout_ms',
    integer(10, 3_600_000),
    'Time allowed for a view change, in ms; doubles with each failed attempt, up to 8x.',
    consensus.viewChangeTimeout_ms,
  ),
  setting(
    'consensus.statusInterval_ms',
    integer(10, 600_000),
    'Period of STATUS broadcasts, by which a lagging validator notices it is behind, in ms.',
    consensus.statusInterval_ms,
  ),
  setting(
    'consensus.mempoolMaxTxs',
    integer(1, 10_000_000),
    'Most transactions the mempool holds.',
    consensus.mempoolMaxTxs,
  ),
  setting(
    'consensus.fetchMaxBlocks',
    integer(1, 10_000),
    'Most blocks one catch-up request asks a peer for.',
    consensus.fetchMaxBlocks,
  ),
  setting(
    'consensus.maxClockSkew_ms',
    integer(100, 600_000),
    "How far a new block's timestamp may be from this validator's clock for it to vote, in ms (set " +
      'the same on every validator; keep clocks synchronised with NTP).',
    consensus.maxClockSkew_ms,
  ),
  setting(
    'log.level',
    { kind: 'choice', values: LOG_LEVELS },
    `Least severe level logged (JSON lines on stdout): ${LOG_LEVELS.join(', ')}.`,
    'info',
  ),
];

/** The tables of config.toml that hold settings of the table above. */
export const SETTING_SECTIONS: readonly string[] = [
  ...new Set(SETTINGS.filter((s) => s.path.includes('.')).map((s) => s.path.split('.')[0]!)),
];

/** Settings that live in config.toml only. */
export const FILE_ONLY_SETTINGS = ['peers', 'faults'] as const;

/** `value` checked against `setting`; `fail(why)` builds the error, which the caller names. */
export function checkSetting(setting: Setting, value: unknown, fail: (why: string) => Error): SettingValue {
  const type = setting.type;
  switch (type.kind) {
    case 'string':
      if (typeof value !== 'string' || !type.pattern.test(value)) throw fail(type.hint);
      return value;
    case 'list':
      if (!Array.isArray(value) || (value.length === 0 && !type.allowEmpty)) throw fail(type.hint);
      for (const item of value) {
        if (typeof item !== 'string' || !type.pattern.test(item))
          throw fail(`${type.hint}; ${JSON.stringify(item)} is not one`);
        try {
          type.checkItem?.(item);
        } catch (error) {
          throw fail((error as Error).message);
        }
      }
      return value as string[];
    case 'integer':
    case 'number': {
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        value >= type.min &&
        value <= type.max &&
        (type.kind === 'number' || Number.isInteger(value));
      if (!ok)
        throw fail(
          `expected ${type.kind === 'integer' ? 'an integer' : 'a number'} in [${type.min}, ${type.max}]`,
        );
      return value as number;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('expected true or false');
      return value;
    case 'choice':
      if (typeof value !== 'string' || !type.values.includes(value))
        throw fail(`expected one of ${type.values.join(', ')}`);
      return value;
  }
}

const NUMBER_TEXT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * The typed value an environment variable or flag's text stands for: numbers and booleans are
 * converted, lists are comma-separated. Text that does not convert is returned as is, so that
 * checkSetting rejects it with the setting's own message.
 */
export function settingFromText(setting: Setting, text: string): unknown {
  switch (setting.type.kind) {
    case 'integer':
    case 'number':
      return NUMBER_TEXT.test(text.trim()) ? Number(text.trim()) : text;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'list':
      return text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    default:
      return text;
  }
}
