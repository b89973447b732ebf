/**
 * Validators as real processes on 127.0.0.1: kill -9 under load and restart, kill the primary, a
 * peer that sends garbage, a peer that sends every protocol's messages mangled into others that
 * still decode. Times are reported, not asserted.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode, type Schema } from '../src/codec/index.ts';
import { ConsensusMessage } from '../src/consensus/messages.ts';
import { genesisState } from '../src/contracts/index.ts';
import { verifyChain } from '../src/ledger/index.ts';
import { SYNC_PROTOCOL, SyncRequest } from '../src/node/block-sync.ts';
import { ERASURE_RECEIPTS_PROTOCOL, ErasureRequest } from '../src/node/erasure-receipts.ts';
import { KEY_SHARES_PROTOCOL, ShareRequest } from '../src/node/key-shares.ts';
import { BLOB_PROTOCOL } from '../src/node/records.ts';
import { CONSENSUS_PROTOCOL } from '../src/node/validator.ts';
import { encodeFrame } from '../src/p2p/framing.ts';
import { P2PHost, type ProtocolSpec } from '../src/p2p/host.ts';
import { Prng } from '../src/prng.ts';
import { mangle } from '../src/sim/mangle.ts';
import { cidOf } from '../src/store/cid.ts';
import { BlobRequestSchema } from '../src/store/replication.ts';
import { type ProcessCluster, startProcesses } from './fixtures/processes.ts';
import { orgRegistrations, until } from './fixtures/validators.ts';

let cluster: ProcessCluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

/** Every transaction in `hashes` is committed at each of `nodes` (read from their blocks, as the operator). */
async function allCommitted(c: ProcessCluster, nodes: number[], hashes: string[]): Promise<boolean> {
  for (const i of nodes) {
    const committed = await c.committed(i);
    if (!hashes.every((hash) => committed.has(hash))) return false;
  }
  return true;
}

/**
 * Validators 0-2 as processes, and validator 3 played by this test process with its real key, to
 * misbehave: a bare P2P host, which never bars the validators it provokes.
 */
async function withRogueValidator3(): Promise<{ c: ProcessCluster; rogue: P2PHost }> {
  cluster = await startProcesses(4, undefined, [0, 1, 2]);
  const c = cluster;
  const rogue = await P2PHost.start({
    secretKey: c.validators[3]!.signing.secretKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers: c.validators.slice(0, 3).map((v, j) => ({
      publicKey: v.signing.publicKey,
      addresses: [`/ip4/127.0.0.1/tcp/${c.p2pPorts[j]}`],
    })),
    penalties: { base_ms: 1, max_ms: 1 },
  });
  return { c, rogue };
}

/** Every validator is connected to the three others. */
async function fullyConnected(c: ProcessCluster): Promise<boolean> {
  return (await Promise.all([0, 1, 2, 3].map((i) => c.status(i)))).every((s) => s.peers === 3);
}

describe('validator processes', () => {
  it('a validator killed with SIGKILL under load restarts, catches up, and nothing is lost or applied twice', async () => {
    cluster = await startProcesses(4);
    const c = cluster;
    await until(() => fullyConnected(c), 30_000);
    const nonces = new Map<number, number>();
    const hashes: string[] = [];
    const load = orgRegistrations(c, 300, nonces);
    for (const [k, tx] of load.entries()) {
      hashes.push(await c.submit(k % 3, tx));
      if (k === 100) await c.kill(3);
    }
    await until(() => allCommitted(c, [0, 1, 2], hashes), 60_000);
    await c.start(3);
    await until(() => allCommitted(c, [3], hashes), 60_000);
    // Each node gives the same receipt, to its operator only: unsigned, the route is refused.
    const first = await c.receipt(0, hashes[0]!);
    expect(first?.receipt.code).toBe('OK');
    for (const i of [1, 2, 3]) expect(await c.receipt(i, hashes[0]!)).toEqual(first);
    const unsigned = await fetch(`${c.api[0]}/v1/txs/${hashes[0]}`);
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { error: { code: string } }).error.code).toBe('API_UNSIGNED');
    await until(
      async () =>
        new Set((await Promise.all([0, 1, 2, 3].map((i) => c.status(i)))).map((s) => s.hash)).size === 1,
    );
    await c.stopAll();
    // Offline, every node's chain verifies in full (which also rejects a transaction committed twice).
    for (let i = 0; i < 4; i++) {
      const report = await verifyChain(
        join(c.dir, `validator-${i}`, 'data', 'chain'),
        c.genesis,
        genesisState(c.genesis),
      );
      expect(report.problem, `validator ${i}`).toBeNull();
      expect(report.txs).toBe(300);
    }
  });

  it('commits resume after the primary is killed', async () => {
    cluster = await startProcesses(4);
    const c = cluster;
    await until(() => fullyConnected(c), 30_000);
    const nonces = new Map<number, number>();
    const before = await Promise.all(orgRegistrations(c, 20, nonces).map((tx) => c.submit(1, tx)));
    await until(() => allCommitted(c, [1], before), 30_000);
    await c.kill(0);
    const killedAt = Date.now();
    const after = await Promise.all(orgRegistrations(c, 20, nonces).map((tx) => c.submit(2, tx)));
    await until(() => allCommitted(c, [1, 2, 3], after.slice(0, 1)), 30_000);
    const resumed_ms = Date.now() - killedAt;
    await until(() => allCommitted(c, [1, 2, 3], after), 30_000);
    expect((await c.status(1)).view).toBeGreaterThanOrEqual(1);
    // The survivors are ready (3 of 4 connected makes a quorum) and report it in their metrics.
    expect((await fetch(`${c.api[1]}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${c.api[1]}/metrics`)).text();
    expect(metrics).toMatch(/medledger_view [1-9]/);
    expect(metrics).toMatch(/medledger_commit_latency_seconds_count [1-9]/);
    console.info(`first commit ${resumed_ms} ms after the primary was killed (request timeout 1000 ms)`);
  });

  it('a peer that sends every protocol mangled messages is answered or refused, and no validator dies', async () => {
    const { c, rogue } = await withRogueValidator3();
    const prng = new Prng(2026);
    const someHash = new Uint8Array(32).fill(7);
    const cid = cidOf(new Uint8Array([1, 2, 3])).bytes;
    const nonces = new Map<number, number>();
    const [tx] = orgRegistrations(c, 1, nonces); // it may commit: a mangled list can still be valid
    const requests: Array<{ protocol: ProtocolSpec; schema: Schema<object>; samples: object[] }> = [
      { protocol: SYNC_PROTOCOL, schema: SyncRequest, samples: [{ fromHeight: 1, toHeight: 4 }] },
      {
        protocol: KEY_SHARES_PROTOCOL,
        schema: ShareRequest,
        samples: [
          { kind: 'share', readTx: someHash, height: 1 },
          { kind: 'released', readTxs: [someHash, someHash] },
        ],
      },
      {
        protocol: ERASURE_RECEIPTS_PROTOCOL,
        schema: ErasureRequest,
        samples: [{ kind: 'query', record: 'rec-1' }],
      },
      {
        protocol: BLOB_PROTOCOL,
        schema: BlobRequestSchema,
        samples: [
          { kind: 'want', cids: [cid, cid] },
          { kind: 'have', cids: [cid] },
          { kind: 'fetch', cid, first: 0, count: 4 },
        ],
      },
    ];
    const messages: ConsensusMessage[] = [
      { kind: 'status', view: 0, changing: false, height: 1, blockHash: someHash },
      { kind: 'gettxs', blockHash: someHash, indexes: [0, 1] },
      { kind: 'getbodies', hashes: [someHash] },
      { kind: 'txs', txs: [tx!] },
    ];
    try {
      await until(() => rogue.connectedPeers().length === 3, 30_000);
      const peers = rogue.connectedPeers();
      let answered = 0;
      for (let round = 0; round < 15; round++) {
        const to = peers[round % peers.length]!;
        for (const message of messages) {
          const mangled = mangle(ConsensusMessage, message, 4, prng);
          if (mangled) rogue.send(CONSENSUS_PROTOCOL, to, encode(ConsensusMessage, mangled));
        }
        await Promise.all(
          requests.flatMap(({ protocol, schema, samples }) =>
            samples.map(async (sample) => {
              const mangled = mangle(schema, sample, 4, prng);
              if (!mangled) return;
              await rogue
                .request(protocol, to, encode(schema, mangled), 1_000)
                .then(() => answered++)
                .catch(() => {}); // refused, or the stream aborted: either is an answer here
            }),
          ),
        );
      }
      console.log(`${answered} mangled requests answered`);
      expect(answered).toBeGreaterThan(0);
      for (const i of [0, 1, 2]) expect(c.running(i), `validator ${i}`).toBe(true);
      const hashes = await Promise.all(orgRegistrations(c, 30, nonces).map((t) => c.submit(0, t)));
      await until(() => allCommitted(c, [0, 1, 2], hashes), 30_000);
      for (const i of [0, 1, 2]) expect(c.starts(i), `validator ${i} was never restarted`).toBe(1);
    } finally {
      await rogue.stop();
    }
  });

  it('a peer that sends garbage frames is disconnected and the cluster keeps committing', async () => {
    const { c, rogue } = await withRogueValidator3();
    try {
      await until(() => rogue.connectedPeers().length === 3, 30_000);
      const target = rogue.node.getConnections()[0]!.remotePeer;
      const stream = await rogue.node.dialProtocol(target, CONSENSUS_PROTOCOL.id);
      stream.send(encodeFrame(new Uint8Array(2048).fill(0xc1))); // not a consensus message
      stream.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3])); // a 4 GiB frame header
      await until(() => rogue.node.getConnections(target).length === 0, 10_000);
      const hashes = await Promise.all(orgRegistrations(c, 30).map((tx) => c.submit(0, tx)));
      await until(() => allCommitted(c, [0, 1, 2], hashes), 30_000);
    } finally {
      await rogue.stop();
    }
  });
});
