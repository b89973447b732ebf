/**
 * The link-fault model: what can go wrong with the messages a node sends to its peers, and the
 * decision, message by message, of what happens to each. One model serves the node (config.toml's
 * `[faults]` and PUT /v1/debug/faults, applied by the node's fault-injecting transport), the
 * simulator (the link rules of a scheduled run) and both benchmark modes.
 *
 * Pure: no I/O, no clock; every random choice comes from the `Prng` the caller passes, so a seed
 * fixes the decisions.
 */
import type { Prng } from '../prng.ts';
import { strictObject } from '../strict-json.ts';

/** Faults on the links out of one node (or, in a simulator rule, out of each of its senders). */
export interface LinkFaults {
  /** Probability of dropping each message. */
  dropRate?: number;
  /** Probability of sending each message twice. */
  duplicateRate?: number;
  /** Extra delay of each message (each copy). */
  delay_ms?: number;
  /** A further delay, uniform in [0, jitter_ms), drawn per copy: it reorders messages. */
  jitter_ms?: number;
  /** Peers (validator indexes) cut off: nothing is sent to them nor taken from them. */
  partitionedFrom?: number[];
  /** The peers that drop, duplicate, delay and jitter apply to; every peer when absent. */
  to?: number[];
  /** Seed of the decisions' PRNG, to replay a lossy run; a fresh one (logged) when absent. */
  seed?: number;
}

export const LINK_FAULT_FIELDS = [
  'dropRate',
  'duplicateRate',
  'delay_ms',
  'jitter_ms',
  'partitionedFrom',
  'to',
  'seed',
] as const;

/** The longest delay or jitter a fault may add to a message. */
export const MAX_LINK_DELAY_MS = 60_000;
/** Validator indexes a fault may name. */
export const MAX_PEER_INDEX = 1023;
const UINT32 = 0x1_0000_0000;

type Fail = (path: string, why: string) => Error;

function bounded(value: unknown, path: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw fail(path, `expected a number in [${min}, ${max}]`);
  }
  return value;
}

function peers(value: unknown, path: string, fail: Fail): number[] {
  if (!Array.isArray(value)) throw fail(path, 'expected a list of validator indexes');
  return value.map((v, i) => {
    const index = bounded(v, `${path}[${i}]`, 0, MAX_PEER_INDEX, fail);
    if (!Number.isInteger(index)) throw fail(`${path}[${i}]`, 'expected a validator index (an integer)');
    return index;
  });
}

/**
 * Link faults from JSON or a TOML table (config.toml's `[faults]`, a PUT /v1/debug/faults body):
 * unknown fields and values out of range are errors, made by `fail` with the field's path.
 */
export function parseLinkFaults(json: unknown, path: string, fail: Fail): LinkFaults {
  const raw = strictObject(json, path, LINK_FAULT_FIELDS, fail);
  const faults: LinkFaults = {};
  if (raw.dropRate !== undefined) faults.dropRate = bounded(raw.dropRate, `${path}.dropRate`, 0, 1, fail);
  if (raw.duplicateRate !== undefined)
    faults.duplicateRate = bounded(raw.duplicateRate, `${path}.duplicateRate`, 0, 1, fail);
  if (raw.delay_ms !== undefined)
    faults.delay_ms = bounded(raw.delay_ms, `${path}.delay_ms`, 0, MAX_LINK_DELAY_MS, fail);
  if (raw.jitter_ms !== undefined)
    faults.jitter_ms = bounded(raw.jitter_ms, `${path}.jitter_ms`, 0, MAX_LINK_DELAY_MS, fail);
  if (raw.partitionedFrom !== undefined)
    faults.partitionedFrom = peers(raw.partitionedFrom, `${path}.partitionedFrom`, fail);
  if (raw.to !== undefined) faults.to = peers(raw.to, `${path}.to`, fail);
  if (raw.seed !== undefined) {
    const seed = raw.seed;
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= UINT32)
      throw fail(`${path}.seed`, `expected an integer in [0, ${UINT32 - 1}]`);
    faults.seed = seed;
  }
  return faults;
}

/** Whether `faults` changes anything on any link (a seed or a `to` alone changes nothing). */
export function hasLinkFaults(faults: LinkFaults): boolean {
  return (
    (faults.dropRate ?? 0) > 0 ||
    (faults.duplicateRate ?? 0) > 0 ||
    (faults.delay_ms ?? 0) > 0 ||
    (faults.jitter_ms ?? 0) > 0 ||
    (faults.partitionedFrom?.length ?? 0) > 0
  );
}

/** Whether the link to (or from) `peer` is cut. */
export function isCut(faults: LinkFaults, peer: number): boolean {
  return faults.partitionedFrom?.includes(peer) ?? false;
}

/**
 * Two sets of faults on one link as one: delays and jitters add, drop and duplicate probabilities
 * compound, cut peers join. Both must apply to the link (their `to` is dropped).
 */
export function combineLinkFaults(a: LinkFaults, b: LinkFaults): LinkFaults {
  const compound = (p = 0, q = 0) => 1 - (1 - p) * (1 - q);
  const combined: LinkFaults = {
    dropRate: compound(a.dropRate, b.dropRate),
    duplicateRate: compound(a.duplicateRate, b.duplicateRate),
    delay_ms: (a.delay_ms ?? 0) + (b.delay_ms ?? 0),
    jitter_ms: (a.jitter_ms ?? 0) + (b.jitter_ms ?? 0),
  };
  const cut = [...new Set([...(a.partitionedFrom ?? []), ...(b.partitionedFrom ?? [])])];
  if (cut.length > 0) combined.partitionedFrom = cut;
  return combined;
}

/**
 * What happens to one message on the link to `peer`: the extra delay of each copy that is sent
 * (none: it is lost; two: it is duplicated). Draws from `prng` in a fixed order: drop, duplicate,
 * then each copy's jitter; a zero probability or jitter draws nothing.
 */
export function linkFate(faults: LinkFaults, peer: number, prng: Prng): number[] {
  if (isCut(faults, peer)) return [];
  if (faults.to !== undefined && !faults.to.includes(peer)) return [0];
  if (prng.chance(faults.dropRate ?? 0)) return [];
  const copies = prng.chance(faults.duplicateRate ?? 0) ? 2 : 1;
  const delay_ms = faults.delay_ms ?? 0;
  const jitter_ms = faults.jitter_ms ?? 0;
  return Array.from({ length: copies }, () =>
    jitter_ms > 0 ? delay_ms + prng.between(0, jitter_ms) : delay_ms,
  );
}

/** A short description for logs and reports, e.g. "drop 0.1, delay +20 ms, cut from 2, 3". */
export function describeLinkFaults(faults: LinkFaults): string {
  const parts = [
    faults.delay_ms ? `delay +${faults.delay_ms} ms` : '',
    faults.jitter_ms ? `jitter ${faults.jitter_ms} ms` : '',
    faults.dropRate ? `drop ${faults.dropRate}` : '',
    faults.duplicateRate ? `duplicate ${faults.duplicateRate}` : '',
    faults.partitionedFrom?.length ? `cut from ${faults.partitionedFrom.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join(', ') || 'no faults';
}
