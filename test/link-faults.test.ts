/** The link-fault model, its parser, and the fault-injecting consensus link a validator composes. */
import { describe, expect, it } from 'vitest';
import { MedledgerError } from '../src/errors.ts';
import {
  combineLinkFaults,
  hasLinkFaults,
  type LinkFaults,
  linkFate,
  parseLinkFaults,
} from '../src/faults/link-faults.ts';
import { checkEnvNames, parseFaults } from '../src/node/config.ts';
import { type ConsensusLink, composeLink, FaultyLink, faultSeedFromEnv } from '../src/node/faulty-link.ts';
import { Prng } from '../src/prng.ts';

const bad = (path: string, why: string) => new MedledgerError('CONFIG_INVALID', `${path}: ${why}`);
const parse = (json: unknown) => parseLinkFaults(json, 'faults', bad);
const errorOf = (json: unknown): string => {
  try {
    parse(json);
  } catch (error) {
    expect(error).toBeInstanceOf(MedledgerError);
    return (error as Error).message;
  }
  throw new Error('parsed');
};

/** A link that records what reaches it. */
function recorder(): ConsensusLink & { sent: Array<[number, number]>; received: number[] } {
  const sent: Array<[number, number]> = [];
  const received: number[] = [];
  return {
    sent,
    received,
    send: (to, payload) => sent.push([to, payload[0]!]),
    receive: (from) => received.push(from),
    close: () => {},
  };
}

/** Which of 200 frames to peer 1 a link with `faults` and `seed` lets through. */
function delivered(faults: LinkFaults, seed: number): number[] {
  const inner = recorder();
  const link = new FaultyLink(inner, faults, seed);
  for (let k = 0; k < 200; k++) link.send(1, Uint8Array.of(k));
  return inner.sent.map(([, k]) => k);
}

describe('link faults', () => {
  it('parses every field, and config.toml and the API read them the same way', () => {
    const json = {
      dropRate: 0.1,
      duplicateRate: 0.05,
      delay_ms: 20,
      jitter_ms: 5,
      partitionedFrom: [2, 3],
      to: [1],
      seed: 4_000_000_000,
    };
    expect(parse(json)).toEqual(json);
    expect(parseFaults(json, 'faults', bad)).toEqual(json);
    expect(parse({})).toEqual({});
  });

  it('names the field and the reason of a bad setting', () => {
    expect(errorOf([])).toBe('faults: expected an object');
    expect(errorOf({ loss: 0.1 })).toMatch(/^faults\.loss: unknown field \(allowed: dropRate, /);
    expect(errorOf({ dropRate: 2 })).toBe('faults.dropRate: expected a number in [0, 1]');
    expect(errorOf({ duplicateRate: -0.1 })).toBe('faults.duplicateRate: expected a number in [0, 1]');
    expect(errorOf({ dropRate: '0.1' })).toBe('faults.dropRate: expected a number in [0, 1]');
    expect(errorOf({ delay_ms: 60_001 })).toBe('faults.delay_ms: expected a number in [0, 60000]');
    expect(errorOf({ jitter_ms: Number.NaN })).toBe('faults.jitter_ms: expected a number in [0, 60000]');
    expect(errorOf({ partitionedFrom: 3 })).toBe(
      'faults.partitionedFrom: expected a list of validator indexes',
    );
    expect(errorOf({ partitionedFrom: [1, 1024] })).toBe(
      'faults.partitionedFrom[1]: expected a number in [0, 1023]',
    );
    expect(errorOf({ to: [1.5] })).toBe('faults.to[0]: expected a validator index (an integer)');
    expect(errorOf({ seed: -1 })).toBe('faults.seed: expected an integer in [0, 4294967295]');
    expect(errorOf({ seed: 2 ** 32 })).toBe('faults.seed: expected an integer in [0, 4294967295]');
    expect(errorOf({ seed: 1.5 })).toBe('faults.seed: expected an integer in [0, 4294967295]');
  });

  it('tells faults that change nothing from faults that do', () => {
    expect(hasLinkFaults({})).toBe(false);
    expect(hasLinkFaults({ seed: 3, to: [1], dropRate: 0, partitionedFrom: [] })).toBe(false);
    expect(hasLinkFaults({ dropRate: 0.01 })).toBe(true);
    expect(hasLinkFaults({ partitionedFrom: [0] })).toBe(true);
    expect(hasLinkFaults({ jitter_ms: 1 })).toBe(true);
  });

  it('decides each message: cut links lose everything, `to` limits the faults, delays and jitter add', () => {
    const prng = new Prng(1);
    expect(linkFate({ partitionedFrom: [2] }, 2, prng)).toEqual([]);
    expect(linkFate({ dropRate: 1, to: [1] }, 2, prng)).toEqual([0]);
    expect(linkFate({ dropRate: 1, to: [1] }, 1, prng)).toEqual([]);
    expect(linkFate({ duplicateRate: 1, delay_ms: 7 }, 1, prng)).toEqual([7, 7]);
    const [jittered] = linkFate({ delay_ms: 7, jitter_ms: 3 }, 1, prng);
    expect(jittered).toBeGreaterThanOrEqual(7);
    expect(jittered).toBeLessThan(10);
    expect(combineLinkFaults({ dropRate: 0.5, delay_ms: 2 }, { dropRate: 0.5, delay_ms: 3 })).toMatchObject({
      dropRate: 0.75,
      delay_ms: 5,
    });
  });
});

describe('the fault-injecting link', () => {
  it('with a fixed seed drops and duplicates the same frames twice, and other ones with another seed', () => {
    const faults = { dropRate: 0.3, duplicateRate: 0.2 };
    const first = delivered(faults, 7);
    expect(delivered(faults, 7)).toEqual(first);
    expect(first.length).toBeGreaterThan(100);
    expect(first.length).toBeLessThan(200);
    expect(new Set(first).size).toBeLessThan(first.length); // some duplicated
    expect(delivered(faults, 8)).not.toEqual(first);
  });

  it("decides a peer's frames independently of what goes to the other peers", () => {
    const faults = { dropRate: 0.5 };
    const alone = recorder();
    const mixed = recorder();
    const a = new FaultyLink(alone, faults, 11);
    const b = new FaultyLink(mixed, faults, 11);
    for (let k = 0; k < 100; k++) {
      a.send(1, Uint8Array.of(k));
      b.send(2, Uint8Array.of(k));
      b.send(1, Uint8Array.of(k));
    }
    expect(mixed.sent.filter(([to]) => to === 1)).toEqual(alone.sent);
  });

  it('refuses frames from cut peers and holds delayed frames until their time', async () => {
    const inner = recorder();
    const link = new FaultyLink(inner, { partitionedFrom: [3], delay_ms: 20 }, 1);
    link.receive(3, Uint8Array.of(0));
    link.receive(1, Uint8Array.of(0));
    expect(inner.received).toEqual([1]);
    link.send(3, Uint8Array.of(0));
    link.send(1, Uint8Array.of(5));
    expect(inner.sent).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(inner.sent).toEqual([[1, 5]]);
    link.send(1, Uint8Array.of(6));
    link.close();
    await new Promise((r) => setTimeout(r, 60));
    expect(inner.sent).toEqual([[1, 5]]);
  });

  it('is not composed when the faults change nothing: the node sends straight to its peers', () => {
    const direct = recorder();
    expect(composeLink(direct, {})).toBe(direct);
    expect(composeLink(direct, { seed: 5, dropRate: 0 })).toBe(direct);
    const lossy = composeLink(direct, { dropRate: 0.1, seed: 5 }, 9);
    expect(lossy).toBeInstanceOf(FaultyLink);
    expect((lossy as FaultyLink).seed).toBe(5);
    expect((composeLink(direct, { dropRate: 0.1 }, 9) as FaultyLink).seed).toBe(9);
    const fresh = (composeLink(direct, { dropRate: 0.1 }) as FaultyLink).seed;
    expect(Number.isInteger(fresh) && fresh >= 0 && fresh < 2 ** 32).toBe(true);
  });

  it('takes its seed from MEDLEDGER_FAULTS_SEED, strictly', () => {
    expect(faultSeedFromEnv({})).toBeUndefined();
    expect(faultSeedFromEnv({ MEDLEDGER_FAULTS_SEED: '42' })).toBe(42);
    expect(() => faultSeedFromEnv({ MEDLEDGER_FAULTS_SEED: 'x1' })).toThrow(
      /MEDLEDGER_FAULTS_SEED: expected an integer in \[0, 4294967295\]/,
    );
    expect(() => faultSeedFromEnv({ MEDLEDGER_FAULTS_SEED: '4294967296' })).toThrow(MedledgerError);
    expect(() => checkEnvNames({ MEDLEDGER_FAULTS_SEED: '42' })).not.toThrow();
  });
});
