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
 *   request  { readTx: 32 bytes, height }
 *   response share { index, sealed }  |  refused { code, message }
 */
import { bytes, decode, encode, str, struct, u32, u64, union, varBytes } from '../codec/index.ts';
import { MedledgerError } from '../errors.ts';
import { hex } from '../hex.ts';
import type { ValidatorNode } from './validator.ts';

export const KEY_SHARES_PROTOCOL = {
  id: '/medledger/key-shares/1.0.0',
  maxFrameBytes: 1024,
  maxResponseBytes: 2048,
};
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a validator waits to reach the permit's height before answering. */
const CATCH_UP_MS = 5_000;

/** Exported for tests that play a lying peer. */
export const ShareRequest = struct('ShareRequest', { readTx: bytes(32), height: u64 });
export const ShareResponse = union('ShareResponse', {
  share: struct('ReleasedShare', { index: u32, sealed: varBytes(256) }),
  refused: struct('ShareRefused', { code: str(64), message: str(512) }),
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

/** Checks the permit and re-seals this validator's share, or throws a MedledgerError. */
export type ReleaseShare = (readTx: Uint8Array) => Promise<ReleasedShare>;

export class KeyShareExchange {
  readonly #node: ValidatorNode;
  readonly #release: ReleaseShare;

  constructor(node: ValidatorNode, release: ReleaseShare) {
    this.#node = node;
    this.#release = release;
  }

  async serve(): Promise<void> {
    await this.#node.host.onRequest(KEY_SHARES_PROTOCOL, async (peer, frame) => {
      let request: { readTx: Uint8Array; height: number };
      try {
        request = decode(ShareRequest, frame, KEY_SHARES_PROTOCOL.maxFrameBytes);
      } catch {
        this.#node.host.punish(peer, 'malformed-share-request');
        return [];
      }
      await this.#node.waitForHeight(request.height, CATCH_UP_MS);
      try {
        const share = await this.#release(request.readTx);
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
    const request = encode(ShareRequest, { readTx, height });
    const result: GatheredShares = { shares: [], refused: [], unreachable: [] };
    await Promise.all(
      validators.map(async (validator, index) => {
        const peer = hex(validator.publicKey);
        try {
          const share =
            index === self ? await this.#release(readTx) : await this.#ask(peer, index, request, connected);
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
    if (response.index !== index) {
      this.#node.host.punish(peer, 'share-of-another-validator');
      throw new Error(`answered with share ${response.index}, not its own ${index}`);
    }
    return { index: response.index, sealed: response.sealed };
  }
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
