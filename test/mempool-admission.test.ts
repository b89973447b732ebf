/**
 * Transaction admission on a real four-validator cluster (libp2p on 127.0.0.1, LevelDB, the rule
 * engine): what the rule engine's sender rules would refuse never reaches a block, whether it comes
 * through a node's API or straight to its core, while a registered sender's out-of-order nonces
 * all commit. The API refuses it at once with a stable code.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../src/api/server.ts';
import { hex } from '../src/bytes.ts';
import { encode, list } from '../src/codec/index.ts';
import { NONCE_WINDOW } from '../src/consensus/mempool.ts';
import { buildTx } from '../src/contracts/index.ts';
import {
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  type SigningKeyPair,
} from '../src/crypto/index.ts';
import { Transaction, txHash } from '../src/ledger/index.ts';
import { startValidators, type TestValidators, until } from './fixtures/validators.ts';

let cluster: TestValidators;
let api: Server;
let url = '';

beforeAll(async () => {
  cluster = await startValidators(4);
  await until(() => cluster.nodes.every((n) => n!.status().peers === 3));
  api = await startApi({ node: cluster.nodes[0]!, version: 'test' }, '127.0.0.1', 0);
  url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  api?.closeAllConnections();
  await new Promise((resolve) => api?.close(resolve));
  await cluster?.close();
});

/** An org.register from `from` with `nonce` (its body differs per call). */
function register(from: SigningKeyPair, nonce: number): Transaction {
  const body = {
    id: `org-${hex(from.publicKey).slice(0, 8)}-${nonce}-${Math.random().toString(36).slice(2, 8)}`,
    kind: 'hospital' as const,
    adminKey: generateSigningKeyPair().publicKey,
    encryptionKey: generateEncryptionKeyPair().publicKey,
  };
  return buildTx('org.register', body, nonce, cluster.genesis.chainId, from.secretKey);
}

const committedEverywhere = (tx: Transaction) =>
  cluster.nodes.every((node) => node!.store.hasTxSync(txHash(tx)));

/** Every transaction on node `i`'s chain, with its receipt code. */
async function chainOf(i: number): Promise<Array<{ tx: Transaction; code: string }>> {
  const { store } = cluster.nodes[i]!;
  const out: Array<{ tx: Transaction; code: string }> = [];
  for (let h = 1; h <= store.head.height; h++) {
    const [block, receipts] = await Promise.all([store.block(h), store.receipts(h)]);
    for (const [k, tx] of block!.txs.entries()) out.push({ tx, code: receipts![k]!.code });
  }
  return out;
}

async function post(tx: Transaction, query = '') {
  const response = await fetch(`${url}/v1/txs${query}`, { method: 'POST', body: encode(Transaction, tx) });
  return { status: response.status, body: (await response.json()) as any };
}

describe('mempool admission on a cluster', () => {
  it('keeps unregistered senders and nonces past the window off the chain; out-of-order nonces commit', async () => {
    const { nodes, admins } = cluster;
    const stranger = generateSigningKeyPair();
    // Straight to the validators' cores (the API would refuse them): 200 from an unregistered key,
    // and 50 from a registered one with nonces past the window.
    const flood = Array.from({ length: 200 }, (_, k) => register(stranger, k + 1));
    const tooFar = Array.from({ length: 50 }, (_, k) => register(admins[0]!, NONCE_WINDOW + 2 + k));
    for (const [k, tx] of [...flood, ...tooFar].entries()) nodes[k % 4]!.submit(tx);
    // A registered sender's nonces arrive out of order, at different validators.
    const [first, second, third] = [1, 2, 3].map((nonce) => register(admins[1]!, nonce));
    nodes[2]!.submit(third!);
    nodes[0]!.submit(first!);
    nodes[3]!.submit(second!);
    await until(() => [first!, second!, third!].every(committedEverywhere), 30_000);
    // Submitted after the flood: once it is committed everywhere, the flood had every chance.
    const sentinel = register(admins[2]!, 1);
    nodes[1]!.submit(sentinel);
    await until(() => committedEverywhere(sentinel), 30_000);
    const expected = [first!, second!, third!, sentinel].map((tx) => hex(txHash(tx))).sort();
    for (let i = 0; i < 4; i++) {
      const chain = await chainOf(i);
      expect(chain.map(({ tx }) => hex(txHash(tx))).sort()).toEqual(expected);
      expect(chain.every(({ code }) => code === 'OK')).toBe(true);
      // Nothing refused is left waiting either.
      const metric = await nodes[i]!.metrics.registry.getSingleMetricAsString(
        'medledger_mempool_transactions',
      );
      expect(metric).toMatch(/^medledger_mempool_transactions 0$/m);
    }
  }, 90_000);

  it('the API refuses at once, with stable codes, what the mempool would refuse', async () => {
    const admin = cluster.admins[3]!;
    const stranger = await post(register(generateSigningKeyPair(), 1));
    expect([stranger.status, stranger.body.error.code]).toEqual([403, 'API_SENDER_NOT_REGISTERED']);
    const far = await post(register(admin, NONCE_WINDOW + 1));
    expect([far.status, far.body.error.code]).toEqual([409, 'API_NONCE_TOO_FAR']);
    expect(far.body.error.message).toContain('last committed nonce is 0');
    // Within the window after a gap: accepted (held until the gap fills).
    const gapped = register(admin, 2);
    expect((await post(gapped)).status).toBe(202);
    const next = register(admin, 1);
    const done = await post(next, '?wait_ms=20000');
    expect([done.status, done.body.receipt?.code]).toEqual([200, 'OK']);
    await until(() => committedEverywhere(gapped), 20_000);
    // A used nonce can never commit again: refused. Asking again for a committed one is not.
    const stale = await post(register(admin, 1));
    expect([stale.status, stale.body.error.code]).toEqual([409, 'API_NONCE_STALE']);
    expect(stale.body.error.message).toContain('nonce 3 or later');
    const again = await post(next, '?wait_ms=1000');
    expect([again.status, again.body.receipt?.code]).toEqual([200, 'OK']);
    // The batch form answers per transaction.
    const batch = [register(admin, 3), register(generateSigningKeyPair(), 1), register(admin, 1)];
    const response = await fetch(`${url}/v1/txs?batch=1`, {
      method: 'POST',
      body: encode(list(Transaction, 4096), batch),
    });
    expect(response.status).toBe(202);
    const results = ((await response.json()) as any).results;
    expect(results.map((r: any) => r.error?.code ?? 'accepted')).toEqual([
      'accepted',
      'API_SENDER_NOT_REGISTERED',
      'API_NONCE_STALE',
    ]);
  }, 60_000);
});
