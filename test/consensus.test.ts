/**
 * Scenario tests of the PBFT replica on a small cluster: the simulator with no planned faults, only
 * the test's own timeline (fixtures/cluster.ts). Each run is checked by every checker of the
 * simulator (agreement, validity, certificates, no honest equivocation, liveness after the heal).
 */
import { describe, expect, it } from 'vitest';
import type { SimulationResult } from '../src/sim/index.ts';
import { committedTxCount, simulateCluster } from './fixtures/cluster.ts';

describe('PBFT replica', () => {
  it('commits submitted transactions on every replica, in batches, with valid certificates', async () => {
    const run = await simulateCluster({ nodes: 4, txs: 45 });
    for (let i = 0; i < 4; i++) expect(committedTxCount(run, i), `replica ${i}`).toBe(45);
    expect(run.chains[0]!.height).toBeGreaterThanOrEqual(3); // blocks of at most 20
    expect(run.stats.viewChanges).toBe(0);
  });

  it('replaces a silent primary by a view change and commits on', async () => {
    // Everything the primary of view 0 sends is lost until the network heals at 3 s.
    const run = await simulateCluster({
      nodes: 4,
      txs: 20,
      faultPeriod_ms: 3000,
      schedule: [{ kind: 'links', at_ms: 0, from: [0], faults: { dropRate: 1 } }],
    });
    expect(run.stats.maxView).toBeGreaterThanOrEqual(1);
    for (const i of [1, 2, 3]) expect(lateWhileFaulty(run, i), `replica ${i}`).toEqual([]);
  });

  it('works with n = 7 and two silent replicas', async () => {
    const run = await simulateCluster({
      nodes: 7,
      txs: 30,
      faultPeriod_ms: 3000,
      schedule: [{ kind: 'links', at_ms: 0, from: [3, 5], faults: { dropRate: 1 } }],
    });
    for (const i of [0, 1, 2, 4, 6]) expect(lateWhileFaulty(run, i), `replica ${i}`).toEqual([]);
  });

  it('a crashed replica restarts from its disks and catches up', async () => {
    const run = await simulateCluster({
      nodes: 4,
      txs: 60,
      schedule: [{ kind: 'crash', at_ms: 200, node: 2, restartAfter_ms: 400 }],
    });
    expect(run.stats.restarts).toBe(1);
    expect(committedTxCount(run, 2)).toBe(60);
    expect(run.chains[2]!.height).toBe(run.chains[0]!.height);
  });

  it('a restarted primary never signs a second proposal for a height it already proposed', async () => {
    const run = await simulateCluster({
      nodes: 4,
      txs: 60,
      schedule: [{ kind: 'crash', at_ms: 3, node: 'primary', restartAfter_ms: 0 }],
    });
    expect(run.stats.crashes).toBe(1);
    // The honest-equivocation checker (part of every run's checks) compares all it signed.
    expect(run.signatures.conflicts).toEqual([]);
    for (let i = 0; i < 4; i++) expect(committedTxCount(run, i), `replica ${i}`).toBe(60);
  });
});

/**
 * The transactions submitted while the faults held (at least 1.5 s before the heal) that replica
 * `i` did not commit before the heal: the cluster must make progress despite the faults.
 */
function lateWhileFaulty(run: SimulationResult, i: number): string[] {
  return run.workload
    .filter((tx) => tx.at_ms < run.heal_ms - 1500)
    .filter((tx) => !((run.commitTimes[i]!.get(tx.id) ?? Number.POSITIVE_INFINITY) < run.heal_ms))
    .map((tx) => tx.id);
}

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
