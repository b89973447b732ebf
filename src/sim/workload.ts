/**
 * The clients' workload: real signed transactions, each from one of the clients with that client's
 * next nonce, at random virtual times in the submission period. Planned up front from the seed, so
 * the set of submitted transactions (what the validity and liveness checkers compare against) is
 * known before the run starts. (A closed-loop run makes its transactions as it goes, with
 * `workloadTx`; the simulator keeps the list of those it submitted.)
 */

import { hex } from '../bytes.ts';
import { buildTx } from '../contracts/build.ts';
import type { SigningKeyPair } from '../crypto/index.ts';
import { type Transaction, txHash } from '../ledger/index.ts';
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
  /** Default: `simTx`, an organisation registration. */
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
  options: Pick<WorkloadOptions, 'chainId' | 'clients' | 'makeTx'>,
  at_ms: number,
  client: number,
  nonce: number,
  prng: Prng,
): PlannedTx {
  const make = options.makeTx ?? simTx;
  const tx = make({ chainId: options.chainId, client: options.clients[client]!, nonce, prng });
  return { at_ms, client, tx, id: hex(txHash(tx)) };
}

/**
 * The default transaction: a client (a network admin) registers an organisation, named after the
 * client and the nonce so that every one succeeds; the rule engine executes it and writes state.
 */
export const simTx: TxMaker = ({ chainId, client, nonce, prng }) =>
  buildTx(
    'org.register',
    {
      id: `sim-${hex(client.publicKey).slice(0, 8)}-${nonce}`,
      kind: 'hospital',
      adminKey: prng.bytes(32),
      encryptionKey: prng.bytes(32),
    },
    nonce,
    chainId,
    client.secretKey,
  );
