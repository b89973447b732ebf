/**
 * The benchmark's transactions: signed, of the kinds and sizes a scenario's load asks for, from a
 * seeded PRNG (real mode pre-signs them; sim mode makes them as the simulator's clients need them).
 */
import { hex } from '../bytes.ts';
import { encode } from '../codec/index.ts';
import { buildTx } from '../contracts/index.ts';
import type { SigningKeyPair } from '../crypto/index.ts';
import { signTransaction, Transaction } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';
import type { TxMaker } from '../sim/workload.ts';
import { adminParty, type ClinicalCast, makeClinicalTx, type Party, sendersOf } from './clinical.ts';
import { isClinicalKind, LOAD_TX_KINDS, type Load, type LoadTxKind } from './scenario.ts';

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
  if (isClinicalKind(kind)) throw new Error(`${kind} is made by the clinical load (clinical.ts)`);
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
      label: hex(client.publicKey).slice(0, 8),
    });
}

/** The senders of the mix's kinds that one role sends (the network admins, or one role of the cast). */
interface SenderPool {
  parties: readonly Party[];
  /** Kinds of this class in the mix, with their weights. */
  mix: Load['mix'];
  weight: number;
  next: number;
}

/** One pre-signed load transaction: its kind, and the validator its sender is pinned to (sender index mod n). */
export interface LoadTx {
  tx: Transaction;
  kind: LoadTxKind;
  /** The sender's index within its class (admins: the signer's index). */
  signer: number;
}

/**
 * Pre-signed load for real mode. Senders take turns by class (network admins; with a clinical mix
 * also the cast's registrars, patients and doctors): a class is drawn by the total weight of its
 * kinds in the mix, then its next sender in turn signs `run` transactions in a row (consecutive
 * nonces), each of a kind drawn from the class's share of the mix. With admin kinds only and a run
 * of 1 this is a round-robin over the signers, one transaction each.
 */
export class LoadSource {
  readonly #load: Load;
  readonly #chainId: string;
  readonly #prng: Prng;
  readonly #cast: ClinicalCast | null;
  readonly #pools: SenderPool[];
  readonly #now_ms: () => number;
  #current: { pool: SenderPool; signer: number; left: number } | null = null;

  constructor(
    chainId: string,
    signers: readonly SigningKeyPair[],
    load: Load,
    prng: Prng,
    cast: ClinicalCast | null = null,
    now_ms: () => number = Date.now,
  ) {
    this.#chainId = chainId;
    this.#load = load;
    this.#prng = prng;
    this.#cast = cast;
    this.#now_ms = now_ms;
    const admins = signers.map(adminParty);
    // Kinds with the same senders (the admins, or one role of the cast) share one pool.
    const bySenders = new Map<readonly Party[], SenderPool>();
    for (const kind of LOAD_TX_KINDS) {
      const weight = load.mix[kind] ?? 0;
      if (weight <= 0) continue;
      if (isClinicalKind(kind) && cast === null) throw new Error(`the ${kind} load needs the clinical cast`);
      const parties = isClinicalKind(kind) ? sendersOf(cast!, kind) : admins;
      let pool = bySenders.get(parties);
      if (!pool) {
        pool = { parties, mix: {}, weight: 0, next: 0 };
        bySenders.set(parties, pool);
      }
      pool.mix[kind] = weight;
      pool.weight += weight;
    }
    this.#pools = [...bySenders.values()];
  }

  #pickPool(): SenderPool {
    if (this.#pools.length === 1) return this.#pools[0]!;
    const total = this.#pools.reduce((sum, p) => sum + p.weight, 0);
    let x = this.#prng.float() * total;
    for (const pool of this.#pools) {
      x -= pool.weight;
      if (x < 0) return pool;
    }
    return this.#pools[this.#pools.length - 1]!;
  }

  /** The next transaction, its kind and its sender's index within its class. */
  next(): LoadTx {
    if (this.#current === null || this.#current.left === 0) {
      const pool = this.#pickPool();
      const signer = pool.next++ % pool.parties.length;
      this.#current = { pool, signer, left: this.#load.run };
    }
    const current = this.#current;
    current.left--;
    const party = current.pool.parties[current.signer]!;
    const kind = pickKind(current.pool.mix, this.#prng);
    if (isClinicalKind(kind))
      return {
        tx: makeClinicalTx(this.#cast!, kind, party, this.#prng, this.#now_ms()),
        kind,
        signer: current.signer,
      };
    const nonce = ++party.nonce;
    const tx = makeLoadTx(kind, {
      chainId: this.#chainId,
      secretKey: party.signing.secretKey,
      nonce,
      txBytes: this.#load.txBytes,
      prng: this.#prng,
      label: String(current.signer),
    });
    return { tx, kind, signer: current.signer };
  }
}
