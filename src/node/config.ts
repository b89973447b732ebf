/**
 * A node's home directory and its settings file, `node.json`.
 *
 *   HOME/node.json        settings (below)
 *   HOME/genesis.json     the network's genesis file
 *   HOME/validator.key    the validator's keystore (passphrase-encrypted)
 *   HOME/data/            chain and consensus databases
 *
 * Settings are validated strictly: an unknown or ill-typed setting is an error that names it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConsensusParams } from '../consensus/index.ts';
import { DEFAULT_CONSENSUS_PARAMS } from '../consensus/index.ts';
import { MedledgerError } from '../errors.ts';
import { type JsonObject, strictObject } from '../strict-json.ts';
import type { TransportFaults } from './validator.ts';

export interface NodeSettings {
  /** Multiaddrs the p2p host listens on. */
  listen: string[];
  /** Where the other validators (and observers) can be dialed. */
  peers: Array<{ publicKey: string; addresses: string[] }>;
  /** `faultInjection` enables PUT /v1/debug/faults (benchmarks only; never on a production node). */
  api: { host: string; port: number; faultInjection?: boolean };
  consensus: Partial<ConsensusParams>;
  faults: TransportFaults;
}

export const homePaths = (home: string) => ({
  settings: join(home, 'node.json'),
  genesis: join(home, 'genesis.json'),
  keystore: join(home, 'validator.key'),
  data: join(home, 'data'),
});

function bad(path: string, why: string): MedledgerError {
  return new MedledgerError('CONFIG_INVALID', `node.json: ${path}: ${why}`);
}

function object(value: unknown, path: string, allowed: readonly string[]): JsonObject {
  return strictObject(value, path, allowed, bad);
}

function strings(value: unknown, path: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw bad(path, 'expected a list of strings');
  return value;
}

function boundedNumber(
  value: unknown,
  path: string,
  min: number,
  max: number,
  fail: (path: string, why: string) => MedledgerError,
): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw fail(path, `expected a number in [${min}, ${max}]`);
  }
  return value;
}

const number = (value: unknown, path: string, min: number, max: number) =>
  boundedNumber(value, path, min, max, bad);

/** Transport faults, from node.json's `faults` or a PUT /v1/debug/faults body. */
export function parseFaults(
  json: unknown,
  path: string,
  bad: (path: string, why: string) => MedledgerError,
): TransportFaults {
  const number = (value: unknown, at: string, min: number, max: number) =>
    boundedNumber(value, at, min, max, bad);
  const faultsJson = strictObject(json, path, ['dropRate', 'delay_ms', 'partitionedFrom'], bad);
  const faults: TransportFaults = {};
  if (faultsJson.dropRate !== undefined)
    faults.dropRate = number(faultsJson.dropRate, `${path}.dropRate`, 0, 1);
  if (faultsJson.delay_ms !== undefined)
    faults.delay_ms = number(faultsJson.delay_ms, `${path}.delay_ms`, 0, 60_000);
  if (faultsJson.partitionedFrom !== undefined) {
    const list = faultsJson.partitionedFrom;
    if (!Array.isArray(list)) throw bad(`${path}.partitionedFrom`, 'expected a list of validator indexes');
    faults.partitionedFrom = list.map((v, i) => number(v, `${path}.partitionedFrom[${i}]`, 0, 1023));
  }
  return faults;
}

export function parseSettings(json: unknown): NodeSettings {
  const doc = object(json, '$', ['listen', 'peers', 'api', 'consensus', 'faults']);
  const peersJson = doc.peers ?? [];
  if (!Array.isArray(peersJson)) throw bad('$.peers', 'expected a list');
  const peers = peersJson.map((p, i) => {
    const peer = object(p, `$.peers[${i}]`, ['publicKey', 'addresses']);
    if (typeof peer.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(peer.publicKey)) {
      throw bad(`$.peers[${i}].publicKey`, 'expected 64 lowercase hex digits');
    }
    return { publicKey: peer.publicKey, addresses: strings(peer.addresses ?? [], `$.peers[${i}].addresses`) };
  });
  const api = object(doc.api ?? {}, '$.api', ['host', 'port', 'faultInjection']);
  const faultInjection = api.faultInjection ?? false;
  if (typeof faultInjection !== 'boolean') throw bad('$.api.faultInjection', 'expected true or false');
  const consensusJson = object(doc.consensus ?? {}, '$.consensus', Object.keys(DEFAULT_CONSENSUS_PARAMS));
  const consensus: Partial<ConsensusParams> = {};
  for (const [key, value] of Object.entries(consensusJson)) {
    (consensus as Record<string, number>)[key] = number(value, `$.consensus.${key}`, 0, 10_000_000);
  }
  const faults = parseFaults(doc.faults ?? {}, '$.faults', bad);
  const host = api.host ?? '127.0.0.1';
  if (typeof host !== 'string') throw bad('$.api.host', 'expected a string');
  return {
    listen: strings(doc.listen ?? ['/ip4/127.0.0.1/tcp/0'], '$.listen'),
    peers,
    api: { host, port: number(api.port ?? 0, '$.api.port', 0, 65535), faultInjection },
    consensus,
    faults,
  };
}

export async function loadSettings(home: string): Promise<NodeSettings> {
  const path = homePaths(home).settings;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new MedledgerError('CONFIG_NOT_FOUND', `cannot read ${path}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MedledgerError('CONFIG_INVALID', `${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseSettings(json);
}
