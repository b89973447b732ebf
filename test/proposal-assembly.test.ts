/**
 * Proposals sent by hash, assembled from what the replica holds (consensus/assembly.ts): what is
 * missing is asked for by place, any transaction that hashes right fills its places, and what waits
 * is bounded and forgotten with its view or height. The replica's use of it is scripted in
 * test/testdata/consensus/proposal-by-hash.txt.
 */
import { describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { MAX_ASSEMBLING, ProposalAssembly } from '../src/consensus/assembly.ts';
import { byHash, type PrePrepare } from '../src/consensus/messages.ts';
import { assembleBlock, type Transaction, txHash } from '../src/ledger/index.ts';
import { makeNetwork, makeTx } from './fixtures/chain.ts';

const net = makeNetwork({ validators: 4, clients: 1 });
const txs = Array.from({ length: 4 }, (_, i) => makeTx(net.clients[0]!, i + 1, 'test-chain'));

function proposal(view: number, height: number, body: Transaction[]): PrePrepare {
  const block = assembleBlock({
    chainId: 'test-chain',
    height,
    view,
    timestamp: height,
    prevHash: new Uint8Array(32),
    stateRoot: new Uint8Array(32),
    proposer: net.validators[view % 4]!.publicKey,
    txs: body,
  });
  return { from: view % 4, view, height, block, signature: new Uint8Array(64) };
}

const holding = (held: Transaction[]) => {
  const byId = new Map(held.map((tx) => [hex(txHash(tx)), tx]));
  return (id: string) => byId.get(id);
};

describe('proposals by hash', () => {
  it('are whole at once when every transaction is held, with the signed header and order', () => {
    const pp = proposal(0, 1, [txs[2]!, txs[0]!]);
    const started = new ProposalAssembly().start(byHash(pp), holding(txs));
    expect(started).toEqual({ complete: pp });
  });

  it('ask the proposer for the missing places, and take each transaction whoever sends it', () => {
    const assembly = new ProposalAssembly();
    const pp = proposal(1, 3, [txs[0]!, txs[1]!, txs[2]!, txs[3]!]);
    const started = assembly.start(byHash(pp), holding([txs[1]!]));
    expect(started).toEqual({ request: { to: 1, blockHash: expect.any(Uint8Array), indexes: [0, 2, 3] } });
    // Starting it again (a resent proposal) asks nothing more.
    expect(assembly.start(byHash(pp), holding([]))).toBeNull();
    const id = (tx: Transaction) => hex(txHash(tx));
    expect(assembly.offer(txs[0]!, id(txs[0]!))).toEqual([]);
    // A transaction offered against another block's hash fills nothing here.
    expect(assembly.offer(txs[2]!, id(txs[2]!), 'ff'.repeat(32))).toEqual([]);
    expect(assembly.requests().map((r) => r.indexes)).toEqual([[2, 3]]);
    expect(assembly.offer(txs[2]!, id(txs[2]!))).toEqual([]);
    expect(assembly.offer(txs[3]!, id(txs[3]!))).toEqual([pp]);
    expect(assembly.waiting).toBe(0);
  });

  it('wait at most MAX_ASSEMBLING at once, and are forgotten below the view or at the executed height', () => {
    const assembly = new ProposalAssembly();
    for (let height = 1; height <= MAX_ASSEMBLING + 1; height++) {
      const started = assembly.start(byHash(proposal(height % 3, height, [txs[0]!])), holding([]));
      expect(started === null).toBe(height > MAX_ASSEMBLING);
    }
    expect(assembly.waiting).toBe(MAX_ASSEMBLING);
    assembly.prune(1, 10); // views below 1 and heights up to 10 go
    const left = assembly.requests().length;
    expect(left).toBe(
      Array.from({ length: MAX_ASSEMBLING }, (_, i) => i + 1).filter((h) => h > 10 && h % 3 >= 1).length,
    );
  });
});
