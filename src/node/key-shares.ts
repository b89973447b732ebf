/**
 * The key-share protocol (`/medledger/key-shares/1.0.0`): a node serving a permitted reader gathers
 * the record's key shares, each re-sealed to the reader by the validator that holds it.
 *
 * Each validator checks the read permit on its own chain first (waiting briefly to reach the
 * permit's height), so no share leaves a node without a committed, fresh permit; the share it sends
 * opens only with the reader's key, so the serving node learns nothing. The serving node cannot tell
 * a true share from a false one (the reader's client checks each against its commitment in the key
 * blob); it punishes what it can see: an answer that does not decode, or a share under another
 * validator's index.
 *
 * Each validator remembers which reads it released a share for, so that a read permit that was
 * decided but never served (fewer than t validators released) shows as such in the audit trail.
 *
 *   request  share { readTx: 32 bytes, height }       |  released { readTxs }
 *   response share { index, sealed }  |  refused { code, message }  |  released { readTxs }
 */
import { hex } from '../bytes.ts';
import { bytes, decode, encode, list, str, struct, u32, u64, union, varBytes } from '../codec/index.ts';
import { MedledgerError } from '../errors.ts';
import type { ValidatorNode } from './validator.ts';

/** Most read transactions one `released` question may name (an audit page's reads). */
export const MAX_RELEASE_QUERY = 256;
export const KEY_SHARES_PROTOCOL = {
  id: '/medledger/key-shares/1.0.0',
  maxFrameBytes: 16 * 1024,
  maxResponseBytes: 16 * 1024,
};
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a validator waits to reach the permit's height before answering. */
const CATCH_UP_MS = 5_000;

/** Exported for tests that play a lying peer. */
const readTxs = list(bytes(32), MAX_RELEASE_QUERY);
export const ShareRequest = union('ShareRequest', {
  share: struct('ShareAsk', { readTx: bytes(32), height: u64 }),
  released: struct('ReleasedAsk', { readTxs }),
});
export const ShareResponse = union('ShareResponse', {
  share: struct('ReleasedShare', { index: u32, sealed: varBytes(256) }),
  refused: struct('ShareRefused', { code: str(64), message: str(512) }),
  released: struct('ReleasedAnswer', { readTxs }),
});

/** One validator's share, re-sealed to the reader. */
export interface ReleasedShare {
  index: number;
  sealed: Uint8Array;
}

/** What the validators answered for one read. */
export interface GatheredShares {
  shares: Array<ReleasedShare & { validator: string }>;
  /** Validators that refused, with their reason, and those that did not answer in time. */
  refused: Array<{ validator: string; code: string; message: string }>;
  unreachable: string[];
}

/** What this validator does for the protocol: the record service implements it. */
export interface ShareHolderSide {
  /** Checks the permit and re-seals this validator's share, or throws a MedledgerError. */
  release(readTx: Uint8Array): Promise<ReleasedShare>;
  /** Which of `readTxs` this validator released a share for. */
  released(readTxs: Uint8Array[]): Promise<Uint8Array[]>;
}

export class KeyShareExchange {
  readonly #node: ValidatorNode;
  readonly #holder: ShareHolderSide;

  constructor(node: ValidatorNode, holder: ShareHolderSide) {
    this.#node = node;
    this.#holder = holder;
  }

  async serve(): Promise<void> {
    const validators = new Set(this.#node.store.genesis.validators.map((v) => hex(v.publicKey)));
    await this.#node.host.onRequest(KEY_SHARES_PROTOCOL, async (peer, frame) => {
      // Only validators serve reads: an observer node may not trigger releases or ask about them.
      if (!validators.has(peer)) {
        const message = 'only validators may ask for key shares';
        return [encode(ShareResponse, { kind: 'refused', code: 'API_NOT_A_VALIDATOR', message })];
      }
      let request: ReturnType<typeof decodeRequest>;
      try {
        request = decodeRequest(frame);
      } catch {
        this.#node.host.punish(peer, 'malformed-share-request');
        return [];
      }
      if (request.kind === 'released') {
        const released = await this.#holder.released(request.readTxs);
        return [encode(ShareResponse, { kind: 'released', readTxs: released })];
      }
      await this.#node.waitForHeight(request.height, CATCH_UP_MS);
      try {
        const share = await this.#holder.release(request.readTx);
        return [encode(ShareResponse, { kind: 'share', ...share })];
      } catch (error) {
        const code = error instanceof MedledgerError ? error.code : 'API_INTERNAL';
        const message = error instanceof MedledgerError ? error.message : 'internal error';
        return [encode(ShareResponse, { kind: 'refused', code, message: message.slice(0, 500) })];
      }
    });
  }

  async stop(): Promise<void> {
    await this.#node.host.offRequest(KEY_SHARES_PROTOCOL).catch(() => {});
  }

  /**
   * This validator's share and every other validator's, asked at once; each validator named by its
   * genesis name. Resolves when all have answered or timed out.
   */
  async gather(readTx: Uint8Array, height: number): Promise<GatheredShares> {
    const { validators } = this.#node.store.genesis;
    const self = this.#node.validatorIndex;
    const connected = new Set(this.#node.host.connectedPeers());
    const request = encode(ShareRequest, { kind: 'share', readTx, height });
    const result: GatheredShares = { shares: [], refused: [], unreachable: [] };
    await Promise.all(
      validators.map(async (validator, index) => {
        const peer = hex(validator.publicKey);
        try {
          const share =
            index === self
              ? await this.#holder.release(readTx)
              : await this.#ask(peer, index, request, connected);
          result.shares.push({ validator: validator.name, ...share });
        } catch (error) {
          if (error instanceof ShareRefusal)
            result.refused.push({ validator: validator.name, ...error.reason });
          else if (error instanceof MedledgerError && index === self)
            result.refused.push({ validator: validator.name, code: error.code, message: error.message });
          else result.unreachable.push(validator.name);
        }
      }),
    );
    result.shares.sort((a, b) => a.index - b.index);
    return result;
  }

  async #ask(
    peer: string,
    index: number,
    request: Uint8Array,
    connected: Set<string>,
  ): Promise<ReleasedShare> {
    if (!connected.has(peer)) throw new Error('not connected');
    const frames = await this.#node.host.request(KEY_SHARES_PROTOCOL, peer, request, REQUEST_TIMEOUT_MS);
    let response: ReturnType<typeof decodeResponse>;
    try {
      response = decodeResponse(frames[0]);
    } catch (error) {
      this.#node.host.punish(peer, 'malformed-share-response');
      throw error;
    }
    if (response.kind === 'refused')
      throw new ShareRefusal({ code: response.code, message: response.message });
    if (response.kind !== 'share') {
      this.#node.host.punish(peer, 'malformed-share-response');
      throw new Error('answered a share request with something else');
    }
    if (response.index !== index) {
      this.#node.host.punish(peer, 'share-of-another-validator');
      throw new Error(`answered with share ${response.index}, not its own ${index}`);
    }
    return { index: response.index, sealed: response.sealed };
  }

  /**
   * Which validators (by genesis name) say they released a share for each of `readTxs` (hex):
   * this one and every connected one, asked at once. A validator that does not answer is left out.
   */
  async releasedBy(readTxs: Uint8Array[]): Promise<Map<string, string[]>> {
    const by = new Map<string, string[]>(readTxs.map((tx) => [hex(tx), []]));
    for (let from = 0; from < readTxs.length; from += MAX_RELEASE_QUERY) {
      await this.#askReleased(readTxs.slice(from, from + MAX_RELEASE_QUERY), by);
    }
    return by;
  }

  async #askReleased(readTxs: Uint8Array[], by: Map<string, string[]>): Promise<void> {
    const { validators } = this.#node.store.genesis;
    const self = this.#node.validatorIndex;
    const connected = new Set(this.#node.host.connectedPeers());
    const request = encode(ShareRequest, { kind: 'released', readTxs });
    const answers = await Promise.all(
      validators.map(async (validator, index) => {
        const peer = hex(validator.publicKey);
        if (index === self) return this.#holder.released(readTxs);
        if (!connected.has(peer)) return [];
        try {
          const frames = await this.#node.host.request(
            KEY_SHARES_PROTOCOL,
            peer,
            request,
            REQUEST_TIMEOUT_MS,
          );
          const response = decodeResponse(frames[0]);
          return response.kind === 'released' ? response.readTxs : [];
        } catch {
          return [];
        }
      }),
    );
    answers.forEach((released, index) => {
      for (const tx of new Set(released.map(hex))) by.get(tx)?.push(validators[index]!.name);
    });
  }
}

function decodeRequest(frame: Uint8Array) {
  return decode(ShareRequest, frame, KEY_SHARES_PROTOCOL.maxFrameBytes);
}

function decodeResponse(frame: Uint8Array | undefined) {
  return decode(ShareResponse, frame ?? new Uint8Array(), KEY_SHARES_PROTOCOL.maxResponseBytes);
}

class ShareRefusal extends Error {
  readonly reason: { code: string; message: string };
  constructor(reason: { code: string; message: string }) {
    super(reason.code);
    this.reason = reason;
  }
}
