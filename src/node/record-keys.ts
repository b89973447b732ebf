/**
 * The key protocol (`/medledger/record-keys/1.0.0`): a node serving a permitted reader asks its peers
 * for the record's data key re-sealed to the reader; only the custodian's node can answer, and it
 * checks the read permit against its own copy of the chain first (waiting briefly to reach the
 * permit's height). The answer is an envelope only the reader can open, so no peer learns the key.
 *
 * Any peer could answer with garbage, and an envelope cannot be checked without the reader's key; so
 * the request carries a challenge (a random nonce sealed to the custodian's X25519 key) that only the
 * custodian can open, and an answer counts only with the nonce. A peer that answers without it is
 * punished, and the custodian's answer is still taken.
 *
 *   request  { readTx: 32 bytes, height, challenge }
 *   response envelope { envelope, nonce }  |  refused { code, message }
 */
import { bytes, decode, encode, str, struct, u64, union, varBytes } from '../codec/index.ts';
import { MAX_ENVELOPE_BYTES } from '../contracts/model.ts';
import { openSealed, randomBytes, seal } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import type { ValidatorNode } from './validator.ts';

export const RECORD_KEYS_PROTOCOL = {
  id: '/medledger/record-keys/1.0.0',
  maxFrameBytes: 4096,
  maxResponseBytes: 8192,
};
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a custodian waits to reach the permit's height before answering. */
const CATCH_UP_MS = 5_000;

const NONCE_BYTES = 32;
const CHALLENGE_CONTEXT = new TextEncoder().encode('medledger/record-keys/challenge/v1');
/** Exported for tests that play a lying peer. */
export const KeyRequest = struct('KeyRequest', { readTx: bytes(32), height: u64, challenge: varBytes(256) });
export const KeyResponse = union('KeyResponse', {
  envelope: struct('KeyEnvelope', { envelope: varBytes(MAX_ENVELOPE_BYTES), nonce: bytes(NONCE_BYTES) }),
  refused: struct('KeyRefused', { code: str(64), message: str(512) }),
});

export class RecordKeyExchange {
  readonly #node: ValidatorNode;
  readonly #encryptionSecretKey: Uint8Array;
  readonly #rewrap: (readTx: Uint8Array) => Promise<Uint8Array>;

  /** `rewrap` checks the permit and re-seals as custodian, or throws a MedledgerError. */
  constructor(
    node: ValidatorNode,
    encryptionSecretKey: Uint8Array,
    rewrap: (readTx: Uint8Array) => Promise<Uint8Array>,
  ) {
    this.#node = node;
    this.#encryptionSecretKey = encryptionSecretKey;
    this.#rewrap = rewrap;
  }

  async serve(): Promise<void> {
    await this.#node.host.onRequest(RECORD_KEYS_PROTOCOL, async (peer, frame) => {
      let request: { readTx: Uint8Array; height: number; challenge: Uint8Array };
      try {
        request = decode(KeyRequest, frame, RECORD_KEYS_PROTOCOL.maxFrameBytes);
      } catch {
        this.#node.host.punish(peer, 'malformed-key-request');
        return [];
      }
      await this.#node.waitForHeight(request.height, CATCH_UP_MS);
      try {
        const envelope = await this.#rewrap(request.readTx);
        const nonce = this.#openChallenge(request.challenge);
        return [encode(KeyResponse, { kind: 'envelope', envelope, nonce })];
      } catch (error) {
        const code = error instanceof MedledgerError ? error.code : 'API_INTERNAL';
        const message = error instanceof MedledgerError ? error.message : 'internal error';
        return [encode(KeyResponse, { kind: 'refused', code, message: message.slice(0, 500) })];
      }
    });
  }

  /** The challenge's nonce, if this node holds the custodian key it was sealed to. */
  #openChallenge(challenge: Uint8Array): Uint8Array {
    try {
      const nonce = openSealed(this.#encryptionSecretKey, challenge, CHALLENGE_CONTEXT);
      if (nonce.length === NONCE_BYTES) return nonce;
    } catch {}
    throw new MedledgerError('API_NOT_CUSTODIAN', "this node does not hold the record custodian's key");
  }

  /**
   * Asks every connected peer at once for the envelope; only an answer proving it holds
   * `custodianKey` (the challenge's nonce) is taken.
   */
  async ask(readTx: Uint8Array, height: number, custodianKey: Uint8Array): Promise<Uint8Array> {
    const peers = this.#node.host.connectedPeers();
    const nonce = randomBytes(NONCE_BYTES);
    const challenge = seal(custodianKey, nonce, CHALLENGE_CONTEXT);
    const request = encode(KeyRequest, { readTx, height, challenge });
    const refusals: string[] = [];
    const attempts = peers.map(async (peer) => {
      const frames = await this.#node.host.request(RECORD_KEYS_PROTOCOL, peer, request, REQUEST_TIMEOUT_MS);
      const response = decode(KeyResponse, frames[0] ?? new Uint8Array(), RECORD_KEYS_PROTOCOL.maxFrameBytes);
      if (response.kind === 'envelope') {
        if (Buffer.from(response.nonce).equals(nonce)) return response.envelope;
        this.#node.host.punish(peer, 'false-custodian-answer');
        throw new Error('false custodian answer');
      }
      if (response.code !== 'API_NOT_CUSTODIAN') refusals.push(`${response.message} [${response.code}]`);
      throw new Error(response.code);
    });
    try {
      return await Promise.any(attempts);
    } catch {
      const why = refusals[0] ?? `none of the ${peers.length} connected nodes is the record's custodian`;
      throw new MedledgerError('API_CUSTODIAN_UNAVAILABLE', `the custodian did not re-seal the key: ${why}`);
    }
  }
}
