/**
 * The node's executor and the nonce rule: a block must take each sender's nonces in order on top of
 * its parent's exact state. `execute` refuses a block that would leave a transaction refused
 * NONCE_GAP on chain (its client could never run it again), `build` leaves such transactions out,
 * and a block on top of a parent that arrived by state transfer is judged on that parent's state.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTx, genesisState } from '../src/contracts/index.ts';
import {
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  type SigningKeyPair,
} from '../src/crypto/index.ts';
import { NodeExecutor } from '../src/driver/executor.ts';
import {
  assembleBlock,
  type Block,
  blockHash,
  ChainStore,
  type CommitCertificate,
  type Genesis,
  signCommit,
  sortVotes,
  type Transaction,
} from '../src/ledger/index.ts';
import { makeNetwork } from './fixtures/chain.ts';

const net = makeNetwork();
const admins = [generateSigningKeyPair(), generateSigningKeyPair()];
const genesis: Genesis = {
  ...net.genesis,
  networkAdmins: admins.map((admin, i) => ({
    name: `admin-${i}`,
    publicKey: admin.publicKey,
    encryptionKey: generateEncryptionKeyPair().publicKey,
  })),
};
const validatorKeys = net.validators.map((v) => v.publicKey);
const time = genesis.genesisTime + 1000;

let dir: string;
const stores: ChainStore[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medledger-executor-'));
});

afterAll(async () => {
  for (const store of stores) await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A validator's executor over a fresh chain store. */
async function executor(): Promise<NodeExecutor> {
  const store = await ChainStore.open(join(dir, `chain-${stores.length}`), genesis, genesisState(genesis));
  stores.push(store);
  return new NodeExecutor(store, validatorKeys, () => time);
}

/** A network admin's `org.register` with `nonce` (each one registers a new organisation). */
function tx(admin: SigningKeyPair, nonce: number): Transaction {
  const body = {
    id: `org-${Buffer.from(admin.publicKey).toString('hex').slice(0, 8)}-${nonce}`,
    kind: 'hospital' as const,
    adminKey: generateSigningKeyPair().publicKey,
    encryptionKey: generateEncryptionKeyPair().publicKey,
  };
  return buildTx('org.register', body, nonce, genesis.chainId, admin.secretKey);
}

const [a, b] = admins as [SigningKeyPair, SigningKeyPair];
const genesisParent = () => {
  const head = stores[0]!.head;
  return { hash: head.hash, stateRoot: head.stateRoot, timestamp: genesis.genesisTime };
};
const parentOf = (block: Block) => ({
  hash: blockHash(block.header),
  stateRoot: block.header.stateRoot,
  timestamp: block.header.timestamp,
});

/** The block a faulty primary could propose: `txs` as given, with whatever state root it claims. */
function proposal(parent: { hash: Uint8Array; stateRoot: Uint8Array }, height: number, txs: Transaction[]) {
  return assembleBlock({
    chainId: genesis.chainId,
    height,
    view: 0,
    timestamp: time,
    prevHash: parent.hash,
    stateRoot: parent.stateRoot,
    proposer: validatorKeys[0]!,
    txs,
  });
}

function certificate(block: Block): CommitCertificate {
  const { height, view } = block.header;
  const statement = { chainId: genesis.chainId, height, view, blockHash: blockHash(block.header) };
  const votes = sortVotes(net.validators.slice(0, 3).map((v) => signCommit(statement, v.secretKey)));
  return { height, view, blockHash: statement.blockHash, votes };
}

describe('NodeExecutor and the nonce order', () => {
  it('refuses to execute a block that takes a nonce before an earlier one of its sender', async () => {
    const primary = await executor();
    const backup = await executor();
    const parent = genesisParent();
    const gap = proposal(parent, 1, [tx(a, 1), tx(a, 3)]);
    expect(backup.execute(gap)).toMatchObject({ ok: false, reason: expect.stringMatching(/nonce order/) });
    // Nor nonce 2 before nonce 1.
    expect(backup.execute(proposal(parent, 1, [tx(a, 2), tx(a, 1)])).ok).toBe(false);

    // A nonce used already is no gap: it could run in no order, and its refusal clears mempools.
    const a1 = tx(a, 1);
    const reused = primary.build({ height: 1, view: 0, parent, txs: [a1, tx(a, 1)] });
    expect(reused!.txs).toHaveLength(2);
    expect(backup.execute(reused!)).toEqual({ ok: true, stateRoot: reused!.header.stateRoot });
  });

  it('builds without what would skip a nonce, keeping the rest for a later block', async () => {
    const primary = await executor();
    const backup = await executor();
    const [a1, a3, b1, a4, b2, a2] = [tx(a, 1), tx(a, 3), tx(b, 1), tx(a, 4), tx(b, 2), tx(a, 2)];
    const parent = genesisParent();
    const first = primary.build({ height: 1, view: 0, parent, txs: [a1, a3, b1, a4, b2] })!;
    expect(first.txs).toEqual([a1, b1, b2]);
    expect(backup.execute(first)).toEqual({ ok: true, stateRoot: first.header.stateRoot });

    // On top of it, the left-out ones follow on once their predecessor is there.
    const second = primary.build({
      height: 2,
      view: 0,
      parent: parentOf(first),
      txs: [a2, a3, a4],
    })!;
    expect(second.txs).toEqual([a2, a3, a4]);
    expect(backup.execute(second)).toEqual({ ok: true, stateRoot: second.header.stateRoot });

    // Nothing that can run: a block without transactions, which the core does not propose.
    const none = primary.build({ height: 2, view: 0, parent: parentOf(first), txs: [a3] })!;
    expect(none.txs).toEqual([]);
  });

  it('judges a block on the state of a parent that arrived by state transfer', async () => {
    const primary = await executor();
    const rejoined = await executor();
    const [a1, a2, b1] = [tx(a, 1), tx(a, 2), tx(b, 1)];
    const first = primary.build({ height: 1, view: 0, parent: genesisParent(), txs: [a1, a2, b1] })!;
    await primary.commit(first, certificate(first));
    // The rejoined validator never executed it: it applies the certified block as it arrives.
    await rejoined.commit(first, certificate(first));

    const next = primary.build({
      height: 2,
      view: 0,
      parent: parentOf(first),
      txs: [tx(a, 3), tx(b, 2)],
    })!;
    expect(next.txs).toHaveLength(2);
    expect(rejoined.execute(next)).toEqual({ ok: true, stateRoot: next.header.stateRoot });
    expect(rejoined.execute(proposal(parentOf(first), 2, [tx(a, 4)])).ok).toBe(false);
    expect(rejoined.execute(proposal(parentOf(first), 2, [tx(b, 3)])).ok).toBe(false);

    // And on top of a block executed speculatively there, its nonces count too.
    const third = primary.build({ height: 3, view: 0, parent: parentOf(next), txs: [tx(a, 4)] })!;
    expect(rejoined.execute(third)).toEqual({ ok: true, stateRoot: third.header.stateRoot });
    expect(rejoined.execute(proposal(parentOf(next), 3, [tx(a, 5)])).ok).toBe(false);
  });
});
