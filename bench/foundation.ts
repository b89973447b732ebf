/**
 * Foundation benchmark: the rates that bound everything above them, measured in one run so ratios
 * between them are meaningful on a shared, noisy machine.
 *
 *   npm run bench:foundation            a table
 *   npm run bench:foundation -- --json  one JSON object
 *
 * Ed25519 sign/verify with node:crypto and @noble/curves (and the ratio), SHA-256 and AES-256-GCM
 * throughput, canonical encode/decode of a 500-transaction block, and chain-store appends of
 * 500-transaction blocks (each one atomic, synced LevelDB batch), then verifyChain over them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { decode, encode } from '../src/codec/index.ts';
import {
  aesGcmEncrypt,
  generateSigningKeyPair,
  randomBytes,
  sha256,
  sign,
  verify,
} from '../src/crypto/index.ts';
import { Block, ChainStore, type CommittedBlock, verifyChain } from '../src/ledger/index.ts';
import { makeNetwork, makeTx, nextBlock } from '../test/fixtures/chain.ts';

const TXS_PER_BLOCK = 500;
const TX_BODY_BYTES = 256;
const STORE_BLOCKS = 20;

/** Runs `op` repeatedly for at least `minMs` and returns operations per second. */
function rate(op: (i: number) => void, minMs = 1000): number {
  for (let i = 0; i < 10; i++) op(i); // warm-up
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 16; i++) op(count++);
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

const results: Record<string, number> = {};
const log = (name: string, value: number, unit: string) => {
  results[name] = Math.round(value * 10) / 10;
  if (!process.argv.includes('--json'))
    console.log(`${name.padEnd(34)} ${value.toFixed(1).padStart(12)} ${unit}`);
};

// Ed25519: node:crypto (OpenSSL) against @noble/curves (pure JS).
const keys = generateSigningKeyPair();
const message = randomBytes(200);
const signature = sign(keys.secretKey, message);
const nodeSign = rate(() => sign(keys.secretKey, message));
const nodeVerify = rate(() => verify(keys.publicKey, message, signature));
const nobleSign = rate(() => ed25519.sign(message, keys.secretKey), 500);
const nobleVerify = rate(() => ed25519.verify(signature, message, keys.publicKey), 500);
log('ed25519 sign node:crypto', nodeSign, 'ops/s');
log('ed25519 verify node:crypto', nodeVerify, 'ops/s');
log('ed25519 sign @noble/curves', nobleSign, 'ops/s');
log('ed25519 verify @noble/curves', nobleVerify, 'ops/s');
log('verify ratio node:crypto/noble', nodeVerify / nobleVerify, 'x');
log('signature bound, 4 validators', (nodeVerify * cpus().length) / 4, 'signed tx/s');

// Bulk primitives, 1 MiB at a time.
const MiB = 1024 * 1024;
const chunk = randomBytes(MiB);
const aesKey = randomBytes(32);
const nonce = randomBytes(12);
log(
  'sha256',
  rate(() => sha256(chunk)),
  'MiB/s',
);
log(
  'aes-256-gcm encrypt',
  rate(() => aesGcmEncrypt(aesKey, nonce, chunk)),
  'MiB/s',
);

// Canonical codec on a 500-transaction block.
const net = makeNetwork({ validators: 4, clients: 50 });
const nonces = new Map<number, number>();
const signedTxs = (count: number) =>
  Array.from({ length: count }, (_, i) => {
    const c = i % net.clients.length;
    const n = (nonces.get(c) ?? 0) + 1;
    nonces.set(c, n);
    return makeTx(net.clients[c]!, n, net.genesis.chainId, TX_BODY_BYTES);
  });
const dir = await mkdtemp(join(tmpdir(), 'medledger-bench-'));
try {
  const store = await ChainStore.open(join(dir, 'chain'), net.genesis);
  const sample = nextBlock(store, net, signedTxs(TXS_PER_BLOCK)).block;
  const sampleBytes = encode(Block, sample);
  log('block size (500 txs)', sampleBytes.length / 1024, 'KiB');
  log(
    'codec encode block (500 txs)',
    rate(() => encode(Block, sample), 1000),
    'blocks/s',
  );
  log(
    'codec decode block (500 txs)',
    rate(() => decode(Block, sampleBytes), 1000),
    'blocks/s',
  );

  // Chain store: prepare certified blocks first (signing is not what is measured), then append.
  // Each block is built on the head the previous append produced, so build and append alternate;
  // only the append (the atomic, synced batch plus its checks) is timed.
  let appendMs = 0;
  for (let b = 0; b < STORE_BLOCKS; b++) {
    const entry: CommittedBlock = nextBlock(store, net, signedTxs(TXS_PER_BLOCK));
    const start = performance.now();
    await store.append(entry);
    appendMs += performance.now() - start;
  }
  await store.close();
  log('store append (500-tx blocks)', (STORE_BLOCKS * 1000) / appendMs, 'blocks/s');
  log('store append tx rate', (STORE_BLOCKS * TXS_PER_BLOCK * 1000) / appendMs, 'tx/s');

  const verifyStart = performance.now();
  const report = await verifyChain(join(dir, 'chain'), net.genesis);
  const verifyMs = performance.now() - verifyStart;
  if (!report.ok) throw new Error(`benchmark chain does not verify: ${report.problem?.detail}`);
  log('verifyChain tx rate', (report.txs * 1000) / verifyMs, 'tx/s');
} finally {
  await rm(dir, { recursive: true, force: true });
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ machine: { cpus: cpus().length, node: process.version }, results }, null, 2));
}
