/**
 * The genesis file: the chain id, the validators, the network admins, the initial organisations and
 * the chain's parameters. Whoever holds it can verify the whole chain offline.
 *
 * `parseGenesis` validates the JSON strictly (unknown fields are errors, so a typo is never silently
 * ignored) and names the offending path. The genesis block commits to the canonical encoding of the
 * parsed document through its state root, so two nodes with different files can never share a chain.
 */
import { readFile } from 'node:fs/promises';
import { fromHex, hex } from '../bytes.ts';
import { bytes, encode, type Infer, list, oneOf, str, struct, u32, u64 } from '../codec/index.ts';
import { isValidSigningKey, isWeakEncryptionKey } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { type JsonObject, strictObject } from '../strict-json.ts';
import { assembleBlock } from './block.ts';
import { ADDRESS_EXAMPLE, addressKey, type PeerAddress, parsePeerAddress } from './peer-address.ts';
import { nextStateRoot, ZERO_HASH } from './state-root.ts';
import type { Block, StateWrite } from './types.ts';

export const ORGANISATION_KINDS = [
  'hospital',
  'diagnostic-lab',
  'pharmacy',
  'insurer',
  'research-institute',
] as const;

const key = bytes(32);
const name = str(128);

export const GenesisParams = struct('GenesisParams', {
  /** Blocks between checkpoints (K). */
  checkpointInterval: u32,
  /** Most transactions a block may carry. */
  maxBlockTxs: u32,
  /** Largest encoded transaction accepted, in bytes. */
  maxTxBytes: u32,
  /** Longest break-glass emergency window, in milliseconds. */
  emergencyAccessMaxMs: u64,
});
export type GenesisParams = Infer<typeof GenesisParams>;

export const DEFAULT_PARAMS: GenesisParams = {
  checkpointInterval: 100,
  maxBlockTxs: 1000,
  maxTxBytes: 64 * 1024,
  emergencyAccessMaxMs: 4 * 60 * 60 * 1000,
};

/** The most p2p addresses one validator may list. */
export const MAX_VALIDATOR_ADDRESSES = 8;

/**
 * The genesis document as the chain commits to it. A validator's p2p addresses are in genesis.json
 * but not in this form: they tell nodes where to dial, they may change (a hospital moves its node)
 * without making a new chain, and a chain verifies whatever addresses its genesis file lists.
 */
const CommittedGenesis = struct('Genesis', {
  chainId: str(64),
  /** Milliseconds since the Unix epoch; the genesis block's timestamp. */
  genesisTime: u64,
  /** Each validator's Ed25519 key (votes, p2p identity) and X25519 key (key shares are sealed to it). */
  validators: list(struct('Validator', { name, publicKey: key, encryptionKey: key }), 256),
  networkAdmins: list(struct('NetworkAdmin', { name, publicKey: key, encryptionKey: key }), 64),
  organisations: list(
    struct('Organisation', {
      id: str(64),
      kind: oneOf(ORGANISATION_KINDS),
      name,
      adminKey: key,
      encryptionKey: key,
    }),
    1024,
  ),
  params: GenesisParams,
});

export interface GenesisValidator {
  name: string;
  publicKey: Uint8Array;
  /** Its node's X25519 custodian key, the one in its validator.key (chain format 2). */
  encryptionKey: Uint8Array;
  /** Multiaddrs other validators dial it at (peer-address.ts); empty: it only dials out. */
  addresses: string[];
}

export type Genesis = Omit<Infer<typeof CommittedGenesis>, 'validators'> & {
  validators: GenesisValidator[];
};
/** The canonical encoding of a genesis document (the struct encoder takes only the committed fields). */
export const Genesis = CommittedGenesis;

/** The state key under which the genesis document is stored. */
export const GENESIS_STATE_KEY = new TextEncoder().encode('genesis');

function invalid(path: string, why: string): MedledgerError {
  return new MedledgerError('GENESIS_INVALID', `genesis.json: ${path}: ${why}`);
}

type Json = JsonObject;

function object(value: unknown, path: string, allowed: readonly string[]): Json {
  return strictObject(value, path, allowed, invalid);
}

function string(
  obj: Json,
  field: string,
  path: string,
  pattern: RegExp,
  hint: string,
  fallback?: string,
): string {
  const value = obj[field] ?? fallback;
  if (typeof value !== 'string' || !pattern.test(value)) throw invalid(`${path}.${field}`, hint);
  return value;
}

function hexKey(obj: Json, field: string, path: string, use: 'signing' | 'encryption'): Uint8Array {
  const hint = 'expected a 32-byte key as 64 lowercase hex digits';
  const key = fromHex(string(obj, field, path, /^[0-9a-f]{64}$/, hint));
  const weak = use === 'signing' ? !isValidSigningKey(key) : isWeakEncryptionKey(key);
  if (weak)
    throw invalid(`${path}.${field}`, `not a valid ${use === 'signing' ? 'Ed25519' : 'X25519'} public key`);
  return key;
}

function integer(obj: Json, field: string, path: string, min: number, max: number, fallback: number): number {
  const value = obj[field] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${path}.${field}`, `expected an integer in [${min}, ${max}]`);
  }
  return value;
}

function array(obj: Json, field: string, path: string, min: number): unknown[] {
  const value = obj[field] ?? [];
  if (!Array.isArray(value)) throw invalid(`${path}.${field}`, 'expected an array');
  if (value.length < min) throw invalid(`${path}.${field}`, `expected at least ${min} entries`);
  return value;
}

function unique<T>(items: readonly T[], keyOf: (item: T) => string, path: string, what: string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = keyOf(item);
    if (seen.has(k)) throw invalid(`${path}[${i}]`, `duplicate ${what}`);
    seen.add(k);
  });
}

const NAME = /^[\p{L}\p{N} .,'&()-]{1,128}$/u;
const NAME_HINT = "expected a name of 1 to 128 letters, digits, spaces or .,'&()-";
const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const ID_HINT = 'expected 1 to 64 lowercase letters, digits or dashes, starting with a letter or digit';

/** Why a validator without `encryptionKey` is refused: its file predates chain format 2. */
const FORMAT_1_HINT =
  "missing: this file was written for chain format 1, and format 2 names each validator's X25519 " +
  '"encryptionKey" (as "medledger node info" and "medledger init" print it), so make a new genesis ' +
  'with "medledger genesis create" or "medledger testnet"';

/** A validator's `addresses`, each parsed as a dialable address. */
function validatorAddresses(o: Json, path: string): PeerAddress[] {
  const list = array(o, 'addresses', path, 0);
  if (list.length > MAX_VALIDATOR_ADDRESSES)
    throw invalid(`${path}.addresses`, `at most ${MAX_VALIDATOR_ADDRESSES} addresses`);
  return list.map((text, j) => {
    const at = `${path}.addresses[${j}]`;
    if (typeof text !== 'string' || text.length > 256)
      throw invalid(at, `expected a multiaddr such as ${ADDRESS_EXAMPLE}`);
    try {
      return parsePeerAddress(text);
    } catch (error) {
      throw invalid(at, (error as Error).message);
    }
  });
}

/**
 * No two validators at one address, and none reachable only from its own machine (loopback) when
 * another validator is on another host: the network would form without it, or not at all.
 */
function checkReachability(validators: GenesisValidator[], parsed: PeerAddress[][]): void {
  const owner = new Map<string, number>();
  parsed.forEach((addresses, i) => {
    for (const [j, address] of addresses.entries()) {
      const other = owner.get(addressKey(address));
      if (other !== undefined && other !== i) {
        throw invalid(
          `$.validators[${i}].addresses[${j}]`,
          `${address.text} is also the address of validators[${other}] (${validators[other]!.name})`,
        );
      }
      owner.set(addressKey(address), i);
    }
  });
  const remote = parsed.findIndex((addresses) => addresses.some((a: PeerAddress) => !a.loopback));
  if (remote < 0) return;
  parsed.forEach((addresses, i) => {
    if (addresses.length > 0 && addresses.every((a) => a.loopback)) {
      throw invalid(
        `$.validators[${i}].addresses`,
        `${validators[i]!.name} lists only loopback addresses, which ${validators[remote]!.name} ` +
          `(${parsed[remote]!.find((a) => !a.loopback)!.text}) on another host cannot reach`,
      );
    }
  });
}

/** Validates a parsed genesis.json document; throws GENESIS_INVALID naming the first bad path. */
export function parseGenesis(json: unknown): Genesis {
  const doc = object(json, '$', [
    'chainId',
    'genesisTime',
    'validators',
    'networkAdmins',
    'organisations',
    'params',
  ]);
  const chainId = string(doc, 'chainId', '$', ID, ID_HINT);
  const time = string(
    doc,
    'genesisTime',
    '$',
    /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/,
    'expected an ISO 8601 UTC time',
  );
  const genesisTime = Date.parse(time);
  // Date.parse rolls 2026-02-30 over to March 2nd: insist that the date reads back unchanged.
  if (
    !Number.isFinite(genesisTime) ||
    genesisTime < 0 ||
    new Date(genesisTime).toISOString().slice(0, 10) !== time.slice(0, 10)
  ) {
    throw invalid('$.genesisTime', 'not a valid time');
  }

  const parsedAddresses: PeerAddress[][] = [];
  const validators = array(doc, 'validators', '$', 1).map((v, i) => {
    const path = `$.validators[${i}]`;
    if (v && typeof v === 'object' && 'address' in v) {
      throw invalid(`${path}.address`, 'replaced by "addresses", a list of multiaddrs');
    }
    const o = object(v, path, ['name', 'publicKey', 'encryptionKey', 'addresses']);
    const name = string(o, 'name', path, NAME, NAME_HINT);
    const publicKey = hexKey(o, 'publicKey', path, 'signing');
    if (o.encryptionKey === undefined) throw invalid(`${path}.encryptionKey`, FORMAT_1_HINT);
    const encryptionKey = hexKey(o, 'encryptionKey', path, 'encryption');
    const addresses = validatorAddresses(o, path);
    parsedAddresses.push(addresses);
    return { name, publicKey, encryptionKey, addresses: addresses.map((a) => a.text) };
  });
  unique(validators, (v) => hex(v.publicKey), '$.validators', 'public key');
  unique(validators, (v) => hex(v.encryptionKey), '$.validators', 'encryption key');
  unique(validators, (v) => v.name, '$.validators', 'name');
  checkReachability(validators, parsedAddresses);

  const networkAdmins = array(doc, 'networkAdmins', '$', 1).map((a, i) => {
    const path = `$.networkAdmins[${i}]`;
    const o = object(a, path, ['name', 'publicKey', 'encryptionKey']);
    return {
      name: string(o, 'name', path, NAME, NAME_HINT),
      publicKey: hexKey(o, 'publicKey', path, 'signing'),
      encryptionKey: hexKey(o, 'encryptionKey', path, 'encryption'),
    };
  });
  unique(networkAdmins, (a) => hex(a.publicKey), '$.networkAdmins', 'public key');

  const organisations = array(doc, 'organisations', '$', 0).map((org, i) => {
    const path = `$.organisations[${i}]`;
    const o = object(org, path, ['id', 'kind', 'name', 'adminKey', 'encryptionKey']);
    const kind = string(o, 'kind', path, /^[a-z-]+$/, `expected one of ${ORGANISATION_KINDS.join(', ')}`);
    if (!(ORGANISATION_KINDS as readonly string[]).includes(kind)) {
      throw invalid(`${path}.kind`, `expected one of ${ORGANISATION_KINDS.join(', ')}`);
    }
    return {
      id: string(o, 'id', path, ID, ID_HINT),
      kind: kind as (typeof ORGANISATION_KINDS)[number],
      name: string(o, 'name', path, NAME, NAME_HINT),
      adminKey: hexKey(o, 'adminKey', path, 'signing'),
      encryptionKey: hexKey(o, 'encryptionKey', path, 'encryption'),
    };
  });
  unique(organisations, (o) => o.id, '$.organisations', 'id');

  const p = object(doc.params ?? {}, '$.params', Object.keys(DEFAULT_PARAMS));
  const params: GenesisParams = {
    checkpointInterval: integer(
      p,
      'checkpointInterval',
      '$.params',
      1,
      1_000_000,
      DEFAULT_PARAMS.checkpointInterval,
    ),
    maxBlockTxs: integer(p, 'maxBlockTxs', '$.params', 1, 20_000, DEFAULT_PARAMS.maxBlockTxs),
    maxTxBytes: integer(p, 'maxTxBytes', '$.params', 256, 1024 * 1024, DEFAULT_PARAMS.maxTxBytes),
    emergencyAccessMaxMs: integer(
      p,
      'emergencyAccessMaxMs',
      '$.params',
      60_000,
      7 * 86_400_000,
      DEFAULT_PARAMS.emergencyAccessMaxMs,
    ),
  };
  const genesis: Genesis = { chainId, genesisTime, validators, networkAdmins, organisations, params };
  try {
    encode(Genesis, genesis); // the canonical form's bounds: name bytes, list lengths
  } catch (error) {
    throw invalid('$', (error as Error).message);
  }
  return genesis;
}

/** Reads and validates a genesis.json file. */
export async function loadGenesis(path: string): Promise<Genesis> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new MedledgerError('GENESIS_NOT_FOUND', `cannot read genesis file ${path}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MedledgerError(
      'GENESIS_PARSE',
      `genesis file ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  return parseGenesis(json);
}

/** The inverse of parseGenesis: the JSON form of a genesis document. */
export function genesisToJson(genesis: Genesis): object {
  return {
    chainId: genesis.chainId,
    genesisTime: new Date(genesis.genesisTime).toISOString(),
    validators: genesis.validators.map((v) => ({
      name: v.name,
      publicKey: hex(v.publicKey),
      encryptionKey: hex(v.encryptionKey),
      addresses: v.addresses,
    })),
    networkAdmins: genesis.networkAdmins.map((a) => ({
      name: a.name,
      publicKey: hex(a.publicKey),
      encryptionKey: hex(a.encryptionKey),
    })),
    organisations: genesis.organisations.map((o) => ({
      id: o.id,
      kind: o.kind,
      name: o.name,
      adminKey: hex(o.adminKey),
      encryptionKey: hex(o.encryptionKey),
    })),
    params: genesis.params,
  };
}

/** The state written at height 0. */
export function genesisWrites(genesis: Genesis): StateWrite[] {
  return [{ key: GENESIS_STATE_KEY, value: encode(Genesis, genesis) }];
}

/**
 * Height 0: no transactions, no proposer, no certificate; its state root commits to the genesis file
 * through `state`: the ledger's own genesis writes, or the application's fuller initial state (the
 * rule engine's genesisState, a superset of them). Everyone must use the same one.
 */
export function genesisBlock(genesis: Genesis, state: StateWrite[] = genesisWrites(genesis)): Block {
  return assembleBlock({
    chainId: genesis.chainId,
    height: 0,
    view: 0,
    timestamp: genesis.genesisTime,
    prevHash: ZERO_HASH,
    stateRoot: nextStateRoot(ZERO_HASH, state, []),
    proposer: ZERO_HASH,
    txs: [],
  });
}

/** Validator keys as hex strings, the form certificate checks look them up in. */
export function validatorSet(genesis: Genesis): Set<string> {
  return new Set(genesis.validators.map((v) => hex(v.publicKey)));
}
