/**
 * The consensus link of a validator (how its consensus frames leave for a peer and arrive from one),
 * and the fault-injecting decorator composed around it for experiments.
 *
 * The node's own link has no fault code and no randomness. When transport faults are set (config.toml's
 * `[faults]`, or PUT /v1/debug/faults), `composeLink` wraps it in a `FaultyLink`, which decides each
 * frame's fate with the link-fault model (`faults/link-faults.ts`) and a seeded PRNG; clearing the
 * faults removes the wrapper. The seed is `faults.seed`, else `MEDLEDGER_FAULTS_SEED`, else a fresh
 * one; the node logs it, and setting it again replays the same decisions: the k-th frame to peer j
 * meets the same fate for a given seed, whatever is sent to the other peers.
 */
import { randomInt } from 'node:crypto';
import { MedledgerError } from '../errors.ts';
import { hasLinkFaults, isCut, type LinkFaults, linkFate } from '../faults/link-faults.ts';
import { Prng } from '../prng.ts';

export interface ConsensusLink {
  /** Sends a frame to validator `to`. */
  send(to: number, payload: Uint8Array): void;
  /** Takes a frame that arrived from validator `from`. */
  receive(from: number, payload: Uint8Array): void;
  /** Drops what the link still holds (frames waiting out a delay). */
  close(): void;
}

/** The variable that fixes the fault decisions' seed when `faults.seed` is not set. */
export const FAULTS_SEED_ENV = 'MEDLEDGER_FAULTS_SEED';

/** The seed in `MEDLEDGER_FAULTS_SEED`, or undefined; an ill-formed one is an error. */
export function faultSeedFromEnv(env: Record<string, string | undefined>): number | undefined {
  const text = env[FAULTS_SEED_ENV];
  if (text === undefined || text === '') return undefined;
  const seed = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(seed) || seed >= 0x1_0000_0000) {
    throw new MedledgerError(
      'CONFIG_INVALID',
      `${FAULTS_SEED_ENV}: expected an integer in [0, 4294967295], got "${text}"`,
    );
  }
  return seed;
}

export class FaultyLink implements ConsensusLink {
  readonly faults: LinkFaults;
  readonly seed: number;
  readonly #inner: ConsensusLink;
  readonly #root: Prng;
  /** One stream per peer, so a peer's frames meet the same fates whatever goes to the others. */
  readonly #streams = new Map<number, Prng>();
  readonly #held = new Set<NodeJS.Timeout>();

  constructor(inner: ConsensusLink, faults: LinkFaults, seed: number) {
    this.#inner = inner;
    this.faults = faults;
    this.seed = seed;
    this.#root = new Prng(seed);
  }

  send(to: number, payload: Uint8Array): void {
    for (const delay_ms of linkFate(this.faults, to, this.#stream(to))) {
      if (delay_ms <= 0) {
        this.#inner.send(to, payload);
        continue;
      }
      const timer = setTimeout(() => {
        this.#held.delete(timer);
        this.#inner.send(to, payload);
      }, delay_ms);
      timer.unref();
      this.#held.add(timer);
    }
  }

  receive(from: number, payload: Uint8Array): void {
    if (!isCut(this.faults, from)) this.#inner.receive(from, payload);
  }

  close(): void {
    for (const timer of this.#held) clearTimeout(timer);
    this.#held.clear();
    this.#inner.close();
  }

  #stream(to: number): Prng {
    let stream = this.#streams.get(to);
    if (!stream) {
      stream = this.#root.derive(to);
      this.#streams.set(to, stream);
    }
    return stream;
  }
}

/**
 * The link for `faults`: `direct` itself when they change nothing, else `direct` wrapped in a
 * `FaultyLink` seeded with `faults.seed`, else `envSeed`, else a fresh seed.
 */
export function composeLink(direct: ConsensusLink, faults: LinkFaults, envSeed?: number): ConsensusLink {
  if (!hasLinkFaults(faults)) return direct;
  return new FaultyLink(direct, faults, faults.seed ?? envSeed ?? randomInt(0x1_0000_0000));
}
