/**
 * The benchmark's transactions: signed, of the kinds and sizes a scenario's load asks for, from a
 * seeded PRNG (real mode pre-signs them; sim mode makes them as the simulator's clients need them).
 */
import { encode } from '../codec/index.ts';
import { buildTx } from '../contracts/index.ts';
import type { SigningKeyPair } from '../crypto/index.ts';
import { signTransaction, Transaction } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';
import type { TxMaker } from '../sim/workload.ts';
import { LOAD_TX_KINDS, type Load, type LoadTxKind } from './scenario.ts';

/** The transaction type of a `note`: unknown to the rule engine, which refuses it after ordering. */
export const NOTE_TX_TYPE = 'bench.note';

/** A load kind drawn by the mix's weights. */
export function pickKind(mix: Load['mix'], prng: Prng): LoadTxKind {
  const kinds = LOAD_TX_KINDS.filter((k) => (mix[k] ?? 0) > 0);
  const total = kinds.reduce((sum, k) => sum + mix[k]!, 0);
  let x = prng.float() * total;
  for (const k of kinds) {
    x -= mix[k]!;
    if (x < 0) return k;
  }
  return kinds[kinds.length - 1]!;
}

/** Bytes of an encoded `note` with a body of `body` bytes (the signature's length is fixed). */
function noteBytes(chainId: string, nonce: number, body: number): number {
  return encode(Transaction, {
    type: NOTE_TX_TYPE,
    sender: new Uint8Array(32),
    nonce,
    chainId,
    body: new Uint8Array(body),
    signature: new Uint8Array(64),
  }).length;
}

/** One signed load transaction of `kind` from the holder of `secretKey` with `nonce`. */
export function makeLoadTx(
  kind: LoadTxKind,
  input: {
    chainId: string;
    secretKey: Uint8Array;
    nonce: number;
    txBytes: number;
    prng: Prng;
    label: string;
  },
): Transaction {
  const { chainId, secretKey, nonce, prng } = input;
  if (kind === 'org.register') {
    return buildTx(
      'org.register',
      {
        id: `bench-${input.label}-${nonce}`,
        kind: 'hospital',
        adminKey: prng.bytes(32),
        encryptionKey: prng.bytes(32),
      },
      nonce,
      chainId,
      secretKey,
    );
  }
  // The body's length prefix grows with the body, so step down from the first guess.
  let body = Math.max(0, input.txBytes - noteBytes(chainId, nonce, 0));
  while (body > 0 && noteBytes(chainId, nonce, body) > input.txBytes) body--;
  return signTransaction({ type: NOTE_TX_TYPE, nonce, chainId, body: prng.bytes(body) }, secretKey);
}

/** The simulator's transaction maker for a scenario's load (kinds by the mix, `note`s of txBytes). */
export function simTxMaker(load: Load): TxMaker {
  return ({ chainId, client, nonce, prng }) =>
    makeLoadTx(pickKind(load.mix, prng), {
      chainId,
      secretKey: client.secretKey,
      nonce,
      txBytes: load.txBytes,
      prng,
      label: Buffer.from(client.publicKey).toString('hex').slice(0, 8),
    });
}

/** Pre-signed load for real mode: round-robin over the signers, each with its own nonce sequence. */
export class LoadSource {
  readonly #signers: readonly SigningKeyPair[];
  readonly #load: Load;
  readonly #chainId: string;
  readonly #prng: Prng;
  readonly #nonces: number[];
  #next = 0;

  constructor(chainId: string, signers: readonly SigningKeyPair[], load: Load, prng: Prng) {
    this.#chainId = chainId;
    this.#signers = signers;
    this.#load = load;
    this.#prng = prng;
    this.#nonces = signers.map(() => 0);
  }

  /** The next transaction and the index of its signer. */
  next(): { tx: Transaction; signer: number } {
    const signer = this.#next++ % this.#signers.length;
    const nonce = ++this.#nonces[signer]!;
    const tx = makeLoadTx(pickKind(this.#load.mix, this.#prng), {
      chainId: this.#chainId,
      secretKey: this.#signers[signer]!.secretKey,
      nonce,
      txBytes: this.#load.txBytes,
      prng: this.#prng,
      label: String(signer),
    });
    return { tx, signer };
  }
}
