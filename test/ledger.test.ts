import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareBytes } from '../src/bytes.ts';
import { decode, encode } from '../src/codec/index.ts';
import { sha256 } from '../src/crypto/index.ts';
import {
  assembleBlock,
  BLOCK_VERSION,
  Block,
  blockHash,
  ChainStore,
  checkCertificate,
  merkleRoot,
  openChainDb,
  quorumSize,
  signCommit,
  signingPayload,
  signTransaction,
  Transaction,
  txHash,
  validatorSet,
  verifyChain,
  verifyTransactionSignature,
} from '../src/ledger/index.ts';
import { heightKey, PREFIX } from '../src/ledger/keys.ts';
import { receivedTxBytes } from '../src/ledger/tx-bytes.ts';
import { buildChain, makeNetwork, makeTx, nextBlock, type TestNetwork } from './fixtures/chain.ts';

const leaf = (n: number) => new Uint8Array(32).fill(n);
const L = (x: Uint8Array) => sha256(new Uint8Array([0]), x);
const N = (a: Uint8Array, b: Uint8Array) => sha256(new Uint8Array([1]), a, b);

describe('merkle root (RFC 6962)', () => {
  it('matches the RFC tree shapes for 0 to 5 leaves', () => {
    const [a, b, c, d, e] = [1, 2, 3, 4, 5].map(leaf) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    expect(merkleRoot([])).toEqual(sha256());
    expect(merkleRoot([a])).toEqual(L(a));
    expect(merkleRoot([a, b, c])).toEqual(N(N(L(a), L(b)), L(c)));
    expect(merkleRoot([a, b, c, d, e])).toEqual(N(N(N(L(a), L(b)), N(L(c), L(d))), L(e)));
  });

  it('never gives two different lists one root (no duplicated last leaf)', () => {
    const [a, b, c] = [1, 2, 3].map(leaf) as [Uint8Array, Uint8Array, Uint8Array];
    expect(merkleRoot([a, b, c])).not.toEqual(merkleRoot([a, b, c, c]));
    expect(merkleRoot([a, b])).not.toEqual(merkleRoot([b, a]));
  });
});

describe('quorums', () => {
  it('is 2f+1 for n = 3f+1 and large enough to intersect in an honest validator otherwise', () => {
    expect([1, 4, 7, 10].map(quorumSize)).toEqual([1, 3, 5, 7]);
    expect(quorumSize(5)).toBe(4);
    expect(quorumSize(6)).toBe(4);
    for (let n = 1; n <= 40; n++) {
      const f = Math.floor((n - 1) / 3);
      expect(2 * quorumSize(n) - n).toBeGreaterThanOrEqual(f + 1);
    }
  });
});

describe('transactions', () => {
  const net = makeNetwork({ validators: 1, clients: 1 });
  const tx = makeTx(net.clients[0]!, 1, 'test-chain');

  it('verifies as signed and fails when any field changes', () => {
    expect(verifyTransactionSignature(tx)).toBe(true);
    expect(verifyTransactionSignature({ ...tx, nonce: 2 })).toBe(false);
    expect(verifyTransactionSignature({ ...tx, chainId: 'other-chain' })).toBe(false);
    expect(verifyTransactionSignature({ ...tx, type: 'test.other' })).toBe(false);
    expect(verifyTransactionSignature({ ...tx, body: new Uint8Array(64) })).toBe(false);
  });

  it('has a hash that covers the signature', () => {
    const sig = new Uint8Array(tx.signature);
    sig[0] = sig[0]! ^ 1;
    expect(txHash({ ...tx, signature: sig })).not.toEqual(txHash(tx));
  });
});

describe('transactions received as bytes', () => {
  const secretKey = makeNetwork({ validators: 1, clients: 1 }).clients[0]!.secretKey;
  const txArb = fc.record({
    type: fc.string({ minLength: 1, maxLength: 64 }),
    nonce: fc.maxSafeNat(),
    chainId: fc.string({ maxLength: 64 }),
    body: fc.uint8Array({ maxLength: 70_000 }).map((b) => b.subarray(0, 64 * 1024)),
  });

  it('hash and verify from the bytes they arrived in exactly as from a fresh encoding', () => {
    fc.assert(
      fc.property(txArb, (unsigned) => {
        const built = signTransaction(unsigned, secretKey);
        const received = decode(Transaction, encode(Transaction, built));
        expect(received).toEqual(built);
        expect(Buffer.from(receivedTxBytes(received)!)).toEqual(Buffer.from(encode(Transaction, built)));
        expect(receivedTxBytes(built)).toBeUndefined();
        expect(signingPayload(received)).toEqual(signingPayload(built));
        expect(txHash(received)).toEqual(sha256(encode(Transaction, built)));
        expect(verifyTransactionSignature(received)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('keep a copy of their bytes: changing the buffer they were decoded from changes nothing', () => {
    const built = signTransaction(
      { type: 'test.note', nonce: 1, chainId: 'c', body: new Uint8Array(8) },
      secretKey,
    );
    const buffer = Buffer.from(encode(Transaction, built));
    const received = decode(Transaction, buffer);
    buffer.fill(0);
    expect(txHash(received)).toEqual(sha256(encode(Transaction, built)));
    expect(verifyTransactionSignature(received)).toBe(true);
  });

  it('inside a block, each from its own bytes, and a forged one still fails', () => {
    const net = makeNetwork({ validators: 1, clients: 2 });
    const txs = [makeTx(net.clients[0]!, 1, 'test-chain'), makeTx(net.clients[1]!, 1, 'test-chain')];
    const forged = { ...txs[1]!, nonce: 2 };
    const block = assembleBlock({
      chainId: 'test-chain',
      height: 1,
      view: 0,
      timestamp: 1,
      prevHash: new Uint8Array(32),
      stateRoot: new Uint8Array(32),
      proposer: net.validators[0]!.publicKey,
      txs: [...txs, forged],
    });
    const received = decode(Block, encode(Block, block));
    expect(received.txs.map(txHash)).toEqual([...txs, forged].map((tx) => sha256(encode(Transaction, tx))));
    expect(received.txs.map(verifyTransactionSignature)).toEqual([true, true, false]);
  });
});

describe('commit certificates', () => {
  const net = makeNetwork({ validators: 4 });
  const validators = validatorSet(net.genesis);
  const blockHashBytes = leaf(9);
  const statement = { chainId: 'test-chain', height: 3, view: 1, blockHash: blockHashBytes };
  const ctx = { chainId: 'test-chain', validators, height: 3, blockHash: blockHashBytes, proposedInView: 0 };
  const vote = (i: number) => signCommit(statement, net.validators[i]!.secretKey);
  const cert = (votes: ReturnType<typeof vote>[]) => ({
    height: 3,
    view: 1,
    blockHash: blockHashBytes,
    votes: votes.sort((a, b) => compareBytes(a.validator, b.validator)),
  });

  it('accepts a quorum of distinct validators', () => {
    expect(checkCertificate(cert([vote(0), vote(1), vote(2)]), ctx)).toBeNull();
    expect(checkCertificate(cert([vote(0), vote(1), vote(2), vote(3)]), ctx)).toBeNull();
  });

  it('rejects fewer than a quorum, duplicates, outsiders, bad signatures and other blocks', () => {
    expect(checkCertificate(cert([vote(0), vote(1)]), ctx)).toMatch(/quorum is 3/);
    expect(checkCertificate(cert([vote(0), vote(0), vote(1)]), ctx)).toMatch(/distinct/);
    const outsider = signCommit(statement, makeNetwork({ validators: 1 }).validators[0]!.secretKey);
    expect(checkCertificate(cert([vote(0), vote(1), outsider]), ctx)).toMatch(/not a validator/);
    const forged = { ...vote(2), signature: new Uint8Array(64) };
    expect(checkCertificate(cert([vote(0), vote(1), vote(3), forged]), ctx)).toMatch(/invalid signature/);
    expect(checkCertificate(cert([vote(0), vote(1), vote(2)]), { ...ctx, blockHash: leaf(8) })).toMatch(
      /another/,
    );
    expect(checkCertificate(cert([vote(0), vote(1), vote(2)]), { ...ctx, chainId: 'x' })).toMatch(/invalid/);
    expect(checkCertificate(cert([vote(0), vote(1), vote(2)]), { ...ctx, proposedInView: 2 })).toMatch(
      /precedes/,
    );
  });
});

describe('chain store on LevelDB', () => {
  let dir: string;
  let net: TestNetwork;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'medledger-store-'));
    net = makeNetwork();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the genesis block, appends blocks, and keeps them across reopening', async () => {
    const store = await ChainStore.open(dir, net.genesis);
    expect(store.head.height).toBe(0);
    await buildChain(store, net, 5, 6);
    const head = store.head;
    expect(head.height).toBe(5);
    await store.close();

    const reopened = await ChainStore.open(dir, net.genesis);
    expect(reopened.head).toEqual(head);
    const block3 = (await reopened.block(3))!;
    expect(await reopened.heightOf(blockHash(block3.header))).toBe(3);
    const tx = block3.txs[2]!;
    const found = (await reopened.transaction(txHash(tx)))!;
    expect(found).toMatchObject({ height: 3, index: 2, tx, receipt: { code: 'OK' } });
    expect((await reopened.certificate(3))!.votes).toHaveLength(4);
    expect(await reopened.state(Buffer.concat([Buffer.from('nonce/'), tx.sender]))).toBeDefined();
    const patientTxs = await reopened.indexed('patient', 'patient-1');
    expect(patientTxs.length).toBeGreaterThan(0);
    expect(patientTxs.map((e) => e.height)).toEqual(
      [...patientTxs.map((e) => e.height)].sort((a, b) => a - b),
    );
    await reopened.close();
    expect(await verifyChain(dir, net.genesis)).toMatchObject({ ok: true, verifiedHeight: 5, txs: 30 });
  });

  it('serves the newest blocks as appended, older ones from disk, and nothing after a reopen', async () => {
    const store = await ChainStore.open(dir, net.genesis);
    await buildChain(store, net, 20, 2);
    // The last 16 appended, each with what it was appended with.
    for (let height = 5; height <= 20; height++) {
      const entry = store.recent(height)!;
      expect(entry.block.header.height).toBe(height);
      expect(entry.block).toEqual(await store.block(height));
      expect(entry.receipts).toEqual(await store.receipts(height));
      expect(entry.certificate).toEqual(await store.certificate(height));
    }
    expect(store.recent(4)).toBeUndefined();
    expect(store.recent(21)).toBeUndefined();
    await store.close();
    const reopened = await ChainStore.open(dir, net.genesis);
    expect(reopened.recent(20)).toBeUndefined();
    await reopened.close();
  });

  it('rejects blocks that do not extend the head, changing nothing', async () => {
    const store = await ChainStore.open(dir, net.genesis);
    const next = nextBlock(store, net, [makeTx(net.clients[0]!, 1, 'test-chain')]);
    const reject = (entry: typeof next) =>
      expect(store.append(entry)).rejects.toMatchObject({ code: 'LEDGER_BLOCK_REJECTED' });
    await reject({ ...next, block: { ...next.block, header: { ...next.block.header, height: 2 } } });
    await reject({ ...next, block: { ...next.block, header: { ...next.block.header, prevHash: leaf(1) } } });
    await reject({ ...next, block: { ...next.block, header: { ...next.block.header, stateRoot: leaf(1) } } });
    await reject({ ...next, block: { ...next.block, txs: [] } });
    await reject({ ...next, certificate: null });
    await reject({ ...next, receipts: [] });
    await reject({ ...next, writes: [...next.writes, ...next.writes] });
    expect(store.head.height).toBe(0);
    await store.append(next);
    expect(store.head.height).toBe(1);
    await store.close();
  });

  /** Rewrites the stored blocks at `heights` with another header version, as another release wrote them. */
  async function restamp(heights: number[], version: number): Promise<void> {
    const db = await openChainDb(dir, { create: false });
    for (const height of heights) {
      const block = decode(Block, (await db.get(heightKey(PREFIX.block, height)))!);
      await db.put(
        heightKey(PREFIX.block, height),
        encode(Block, { ...block, header: { ...block.header, version } }),
      );
    }
    await db.close();
  }

  it('refuses a chain of format 1, written by an earlier medledger, saying what to do', async () => {
    expect(BLOCK_VERSION).toBe(2);
    const store = await ChainStore.open(dir, net.genesis);
    await buildChain(store, net, 2, 2);
    await store.close();
    await restamp([0, 1, 2], 1); // a store as the earlier release left it: every header says version 1

    const refusal = ChainStore.open(dir, net.genesis);
    await expect(refusal).rejects.toMatchObject({ code: 'LEDGER_OLD_FORMAT' });
    expect(((await refusal.catch((e) => e)) as Error).message).toBe(
      `${dir} holds a chain of format 1 written by an earlier medledger, which this release (chain ` +
        'format 2) cannot continue: start a new chain with a format-2 genesis in a new home, or run the ' +
        'earlier release to keep this one',
    );
    expect(await verifyChain(dir, net.genesis)).toMatchObject({
      ok: false,
      verifiedHeight: -1,
      problem: {
        height: 0,
        code: 'CHAIN_OLD_FORMAT',
        detail: expect.stringMatching(/format 1, written by an earlier/),
      },
    });

    await restamp([0], 3);
    await expect(ChainStore.open(dir, net.genesis)).rejects.toMatchObject({ code: 'LEDGER_NEWER_FORMAT' });
  });

  it('rejects a block of another version on a chain of this format, naming the version', async () => {
    const store = await ChainStore.open(dir, net.genesis);
    const next = nextBlock(store, net, [makeTx(net.clients[0]!, 1, 'test-chain')]);
    const old = { ...next, block: { ...next.block, header: { ...next.block.header, version: 1 } } };
    await expect(store.append(old)).rejects.toMatchObject({
      code: 'LEDGER_BLOCK_REJECTED',
      message: 'block 1 rejected: block version 1, expected 2',
    });
    await buildChain(store, net, 3, 1);
    await store.close();
    await restamp([2], 1);
    expect(await verifyChain(dir, net.genesis)).toMatchObject({
      ok: false,
      verifiedHeight: 1,
      problem: { height: 2, code: 'CHAIN_BAD_HEADER', detail: 'block version 1, expected 2' },
    });
  });

  it('refuses a second opener and a different genesis', async () => {
    const store = await ChainStore.open(dir, net.genesis);
    await expect(ChainStore.open(dir, net.genesis)).rejects.toMatchObject({ code: 'LEDGER_LOCKED' });
    await store.close();
    await expect(ChainStore.open(dir, makeNetwork().genesis)).rejects.toMatchObject({
      code: 'LEDGER_GENESIS_MISMATCH',
    });
  });
});
