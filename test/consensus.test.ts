/** Scenario tests of the PBFT replica in a small in-process cluster (see fixtures/cluster.ts). */
import { describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { blockHash, checkCertificate, validatorSet } from '../src/ledger/index.ts';
import { Cluster } from './fixtures/cluster.ts';

function expectAgreement(cluster: Cluster, replicas = cluster.nodes.map((_, i) => i)): void {
  const validators = validatorSet(cluster.net.genesis);
  const byHeight = new Map<number, string>();
  for (const i of replicas) {
    for (const { block, certificate } of cluster.nodes[i]!.chain) {
      const h = block.header.height;
      const hash = hex(blockHash(block.header));
      expect(byHeight.get(h) ?? hash, `height ${h} at replica ${i}`).toBe(hash);
      byHeight.set(h, hash);
      const problem = checkCertificate(certificate, {
        chainId: cluster.net.genesis.chainId,
        validators,
        height: h,
        blockHash: blockHash(block.header),
        proposedInView: block.header.view,
      });
      expect(problem).toBeNull();
    }
  }
}

const committedTxs = (cluster: Cluster, i: number) =>
  cluster.nodes[i]!.chain.reduce((sum, e) => sum + e.block.txs.length, 0);

describe('PBFT replica', () => {
  it('commits submitted transactions on every replica, in batches, with valid certificates', () => {
    const cluster = new Cluster(4);
    cluster.submit(45, 1);
    cluster.runUntil(500);
    for (let i = 0; i < 4; i++) expect(committedTxs(cluster, i), `replica ${i}`).toBe(45);
    expect(cluster.nodes[0]!.chain.length).toBeGreaterThanOrEqual(5); // batches of at most 10
    expectAgreement(cluster);
  });

  it('replaces a silent primary by a view change and commits on', () => {
    const cluster = new Cluster(4);
    cluster.silenced.add(0); // primary of view 0
    cluster.submit(20, 2);
    cluster.runUntil(3000);
    for (const i of [1, 2, 3]) {
      expect(committedTxs(cluster, i), `replica ${i}`).toBe(20);
      expect(cluster.nodes[i]!.replica.info.view).toBeGreaterThanOrEqual(1);
    }
    expectAgreement(cluster, [1, 2, 3]);
  });

  it('works with n = 7 and two silent replicas', () => {
    const cluster = new Cluster(7);
    cluster.silenced.add(3);
    cluster.silenced.add(5);
    cluster.submit(30, 0);
    cluster.runUntil(3000);
    for (const i of [0, 1, 2, 4, 6]) expect(committedTxs(cluster, i), `replica ${i}`).toBe(30);
    expectAgreement(cluster, [0, 1, 2, 4, 6]);
  });

  it('a crashed replica restarts from its persisted state and catches up', () => {
    const cluster = new Cluster(4);
    cluster.submit(20, 0);
    cluster.runUntil(200);
    cluster.crash(2);
    cluster.submit(40, 0);
    cluster.runUntil(600);
    cluster.restart(2);
    cluster.runUntil(3000);
    for (let i = 0; i < 4; i++) expect(committedTxs(cluster, i), `replica ${i}`).toBe(60);
    expectAgreement(cluster);
  });

  it('a restarted primary never signs a second proposal for a height it already proposed', () => {
    const cluster = new Cluster(4);
    cluster.submit(30, 0);
    cluster.runUntil(3);
    cluster.crash(0);
    cluster.restart(0);
    cluster.submit(30, 0);
    cluster.runUntil(4000);
    const signed = new Map<string, string>();
    for (const record of cluster.nodes[0]!.records) {
      if (record.kind !== 'signed') continue;
      const key = `${record.phase}/${record.view}/${record.height}`;
      expect(signed.get(key) ?? hex(record.blockHash), key).toBe(hex(record.blockHash));
      signed.set(key, hex(record.blockHash));
    }
    for (let i = 0; i < 4; i++) expect(committedTxs(cluster, i), `replica ${i}`).toBe(60);
    expectAgreement(cluster);
  });
});

describe('the mempool', () => {
  it('verifies a signature on admission unless the driver says it checked it already', async () => {
    const { Mempool } = await import('../src/consensus/mempool.ts');
    const { generateSigningKeyPair } = await import('../src/crypto/index.ts');
    const { makeTx } = await import('./fixtures/chain.ts');
    const tx = makeTx(generateSigningKeyPair(), 1, 'mempool-test');
    const forged = { ...tx, signature: new Uint8Array(64) };
    const never = () => false;
    expect(new Mempool('mempool-test', 10).admit(forged, never)).toBe('bad-signature');
    // The API verified it (it answers a bad signature itself): admission trusts that, and does not redo it.
    expect(new Mempool('mempool-test', 10).admit(forged, never, 0, true)).toBe('admitted');
    const mempool = new Mempool('mempool-test', 10);
    expect(mempool.admit(tx, never, 0, true)).toBe('admitted');
    expect(mempool.admit(tx, never)).toBe('duplicate');
  });
});
