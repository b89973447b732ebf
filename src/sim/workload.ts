/**
 * The clients' workload: real signed transactions, each from one of the clients with that client's
 * next nonce, at random virtual times in the submission period. Planned up front from the seed, so
 * the set of submitted transactions (what the validity and liveness checkers compare against) is
 * known before the run starts. (A closed-loop run makes its transactions as it goes, with
 * `workloadTx`; the simulator keeps the list of those it submitted.)
 */
import { hex } from '../bytes.ts';
import type { SigningKeyPair } from '../crypto/index.ts';
import { signTransaction, type Transaction, txHash } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';

export interface PlannedTx {
  /** Virtual time of the first submission. */
  at_ms: number;
  client: number;
  tx: Transaction;
  /** Hex of the transaction hash. */
  id: string;
}

/** Makes client `client`'s transaction with `nonce`; random bytes come from `prng`. */
export type TxMaker = (input: {
  chainId: string;
  client: SigningKeyPair;
  nonce: number;
  prng: Prng;
}) => Transaction;

export interface WorkloadOptions {
  chainId: string;
  clients: readonly SigningKeyPair[];
  txs: number;
  /** Submissions happen in [0, submitUntil_ms). */
  submitUntil_ms: number;
  bodyBytes: number;
  /** Default: a `sim.note` transaction with a body of `bodyBytes` random bytes. */
  makeTx?: TxMaker;
}

export function planWorkload(options: WorkloadOptions, prng: Prng): PlannedTx[] {
  const times = Array.from({ length: options.txs }, () => prng.between(0, options.submitUntil_ms)).sort(
    (a, b) => a - b,
  );
  const nonces = new Array<number>(options.clients.length).fill(0);
  return times.map((at_ms) => {
    const client = prng.int(options.clients.length);
    const nonce = ++nonces[client]!;
    return workloadTx(options, at_ms, client, nonce, prng);
  });
}

/** Client `client`'s transaction with `nonce`, first submitted at `at_ms`. */
export function workloadTx(
  options: Pick<WorkloadOptions, 'chainId' | 'clients' | 'bodyBytes' | 'makeTx'>,
  at_ms: number,
  client: number,
  nonce: number,
  prng: Prng,
): PlannedTx {
  const tx = options.makeTx
    ? options.makeTx({ chainId: options.chainId, client: options.clients[client]!, nonce, prng })
    : signTransaction(
        { type: 'sim.note', nonce, chainId: options.chainId, body: prng.bytes(options.bodyBytes) },
        options.clients[client]!.secretKey,
      );
  return { at_ms, client, tx, id: hex(txHash(tx)) };
}
