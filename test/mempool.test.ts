/**
 * The mempool's admission by sender and nonce: what the rule engine would refuse (an unregistered
 * sender, a used nonce) never enters, nor a nonce too far ahead; a nonce after a gap waits until the
 * gap fills; batches take each sender's consecutive run only, one transaction per nonce, with nonces
 * in flight counted as filled; a commit drops what its nonces made useless. A replica applies the
 * same rules to gossiped transactions.
 */
import { describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { DEFAULT_CONSENSUS_PARAMS, Replica } from '../src/consensus/index.ts';
import {
  HELD_PER_SENDER,
  heldCap,
  Mempool,
  NONCE_WINDOW,
  type SenderAccount,
  senderCap,
  senderRefusal,
} from '../src/consensus/mempool.ts';
import { rememberedSenderAccounts, senderAccount } from '../src/contracts/sender-account.ts';
import { generateSigningKeyPair, type SigningKeyPair } from '../src/crypto/index.ts';
import { signTransaction, type Transaction, txHash } from '../src/ledger/index.ts';

const CHAIN = 'mempool-test';
const never = () => false;

/** A transaction from `from` with `nonce`; `variant` makes another one with the same nonce. */
function tx(from: SigningKeyPair, nonce: number, variant = 0): Transaction {
  const body = Uint8Array.of(variant >> 8, variant & 0xff, nonce & 0xff);
  return signTransaction({ type: 'test.note', nonce, chainId: CHAIN, body }, from.secretKey);
}

const id = (t: Transaction) => hex(txHash(t));
const nonces = (txs: Transaction[]) => txs.map((t) => t.nonce);

/** Accounts by sender key (hex); unknown keys are unregistered. */
function accounts(entries: Array<[SigningKeyPair, SenderAccount]>) {
  const byKey = new Map(entries.map(([key, account]) => [hex(key.publicKey), account]));
  return (sender: Uint8Array) => byKey.get(hex(sender)) ?? { registered: false, nonce: 0 };
}

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const mallory = generateSigningKeyPair();

describe('senderRefusal: the rule the mempool and the API share', () => {
  it.each([
    { account: { registered: false, nonce: 0 }, nonce: 1, expected: 'unregistered' },
    { account: { registered: true, nonce: 0 }, nonce: 0, expected: 'stale' },
    { account: { registered: true, nonce: 7 }, nonce: 7, expected: 'stale' },
    { account: { registered: true, nonce: 7 }, nonce: 3, expected: 'stale' },
    { account: { registered: true, nonce: 7 }, nonce: 8, expected: null },
    { account: { registered: true, nonce: 7 }, nonce: 7 + NONCE_WINDOW, expected: null },
    { account: { registered: true, nonce: 7 }, nonce: 8 + NONCE_WINDOW, expected: 'too-far' },
  ])('$account, nonce $nonce → $expected', ({ account, nonce, expected }) => {
    expect(senderRefusal(account, nonce)).toBe(expected);
  });
});

describe('Mempool admission with a sender lookup', () => {
  const lookup = accounts([
    [alice, { registered: true, nonce: 4 }],
    [bob, { registered: true, nonce: 0 }],
  ]);

  it.each([
    { name: 'the next nonce of a registered sender', from: alice, nonce: 5, result: 'admitted', ready: 1 },
    { name: 'an unregistered sender', from: mallory, nonce: 1, result: 'unregistered', ready: 0 },
    { name: 'the committed nonce', from: alice, nonce: 4, result: 'stale', ready: 0 },
    { name: 'a nonce below it', from: alice, nonce: 1, result: 'stale', ready: 0 },
    { name: 'a gap within the window: held', from: alice, nonce: 7, result: 'admitted', ready: 0 },
    { name: 'the last nonce of the window', from: bob, nonce: NONCE_WINDOW, result: 'admitted', ready: 0 },
    { name: 'past the window', from: bob, nonce: NONCE_WINDOW + 1, result: 'too-far', ready: 0 },
  ])('$name: $result', ({ from, nonce, result, ready }) => {
    const mempool = new Mempool(CHAIN, 1000);
    expect(mempool.admit(tx(from, nonce), never, 0, true, lookup)).toBe(result);
    expect(mempool.size).toBe(ready);
    expect(mempool.held).toBe(result === 'admitted' ? 1 - ready : 0);
  });

  it('checks the sender before the signature: a forged transaction is refused either way', () => {
    const mempool = new Mempool(CHAIN, 1000);
    const forged = { ...tx(alice, 5), signature: new Uint8Array(64) };
    expect(mempool.admit(forged, never, 0, false, lookup)).toBe('bad-signature');
    expect(mempool.admit({ ...tx(mallory, 1), signature: new Uint8Array(64) }, never, 0, false, lookup)).toBe(
      'unregistered',
    );
  });

  it('holds a nonce after a gap and releases it, and what follows, when the gap fills', () => {
    const mempool = new Mempool(CHAIN, 1000);
    const [t5, t6, t7] = [5, 6, 7].map((n) => tx(alice, n));
    expect(mempool.admit(t7!, never, 0, true, lookup)).toBe('admitted');
    expect(mempool.admit(t6!, never, 0, true, lookup)).toBe('admitted');
    expect([mempool.size, mempool.held]).toEqual([0, 2]);
    expect(mempool.batch(10, new Set())).toEqual([]);
    // Held transactions are still shared with peers that connect.
    expect(nonces(mempool.pending(10))).toEqual([6, 7]);
    expect(mempool.admit(t5!, never, 0, true, lookup)).toBe('admitted');
    expect([mempool.size, mempool.held]).toEqual([3, 0]);
    expect(nonces(mempool.batch(10, new Set()))).toEqual([5, 6, 7]);
  });

  it('a held transaction is late for no one until it can be proposed', () => {
    const mempool = new Mempool(CHAIN, 1000);
    mempool.admit(tx(alice, 6), never, 1, true, lookup);
    expect(mempool.oldestPeriod()).toBe(Number.POSITIVE_INFINITY);
    mempool.admit(tx(alice, 5), never, 4, true, lookup);
    expect(mempool.oldestPeriod()).toBe(4);
    expect(mempool.waitingPeriod(id(tx(alice, 5)))).toBe(4);
  });

  it('a transaction in flight (proposed) is not the oldest waiting, and a held one has no waiting period', () => {
    const mempool = new Mempool(CHAIN, 1000);
    mempool.admit(tx(alice, 5), never, 2, true, lookup);
    mempool.admit(tx(alice, 6), never, 3, true, lookup);
    mempool.admit(tx(alice, 8), never, 3, true, lookup); // after a gap: held
    expect(mempool.oldestPeriod(new Set([id(tx(alice, 5))]))).toBe(3);
    expect(mempool.waitingPeriod(id(tx(alice, 8)))).toBeUndefined();
    expect(mempool.waitingPeriod(id(tx(alice, 9)))).toBeUndefined();
  });

  it("bounds each sender's share of the mempool", () => {
    const maxTxs = 1000;
    const cap = senderCap(maxTxs);
    const mempool = new Mempool(CHAIN, maxTxs);
    // Variants of one nonce: only one can ever commit, and they must not fill the mempool.
    for (let k = 0; k < cap; k++)
      expect(mempool.admit(tx(bob, 1, k), never, 0, true, lookup)).toBe('admitted');
    expect(mempool.admit(tx(bob, 1, cap), never, 0, true, lookup)).toBe('sender-full');
    expect(mempool.admit(tx(alice, 5), never, 0, true, lookup)).toBe('admitted');
    // One per nonce is proposed.
    expect(mempool.batch(10, new Set()).map((t) => [t.nonce, t.body[1]])).toEqual([
      [1, 0],
      [5, 0],
    ]);
  });

  it('bounds held transactions per sender and in total', () => {
    const maxTxs = 20_000; // a sender's share is more than HELD_PER_SENDER
    expect(senderCap(maxTxs)).toBeGreaterThan(HELD_PER_SENDER);
    let mempool = new Mempool(CHAIN, maxTxs);
    // Per sender: variants of held nonces past HELD_PER_SENDER are refused; a ready one is not.
    for (let k = 0; k < HELD_PER_SENDER; k++) {
      expect(mempool.admit(tx(bob, 2 + (k % 100), k), never, 0, true, lookup)).toBe('admitted');
    }
    expect(mempool.admit(tx(bob, 3, 999), never, 0, true, lookup)).toBe('held-full');
    expect(mempool.admit(tx(bob, 1), never, 0, true, lookup)).toBe('admitted');
    // In total: many senders, each with a few held.
    mempool = new Mempool(CHAIN, maxTxs);
    const total = heldCap(maxTxs);
    const senders = Array.from({ length: Math.ceil(total / 50) + 1 }, () => generateSigningKeyPair());
    const all = accounts(senders.map((s) => [s, { registered: true, nonce: 0 }]));
    const results = senders.flatMap((s) =>
      Array.from({ length: 50 }, (_, k) => mempool.admit(tx(s, 2 + k), never, 0, true, all)),
    );
    expect(results.filter((r) => r === 'admitted')).toHaveLength(total);
    expect(new Set(results.filter((r) => r !== 'admitted'))).toEqual(new Set(['held-full']));
    expect(mempool.held).toBe(total);
    // Ready transactions are still taken.
    expect(mempool.admit(tx(senders[0]!, 1), never, 0, true, all)).toBe('admitted');
  });
});

describe('Mempool batches', () => {
  const lookup = accounts([
    [alice, { registered: true, nonce: 0 }],
    [bob, { registered: true, nonce: 10 }],
  ]);

  it.each([
    { name: 'nothing in flight', inFlight: [], expected: { alice: [1, 2, 3], bob: [11] } },
    { name: 'the first nonce in flight', inFlight: ['a1'], expected: { alice: [2, 3], bob: [11] } },
    { name: 'a run in flight', inFlight: ['a1', 'a2', 'b11'], expected: { alice: [3], bob: [] } },
    { name: "a variant's sibling in flight", inFlight: ['a1', 'a2*'], expected: { alice: [3], bob: [11] } },
  ])('each sender’s consecutive run, one per nonce: $name', ({ inFlight, expected }) => {
    const mempool = new Mempool(CHAIN, 1000);
    const txs: Record<string, Transaction> = {
      a1: tx(alice, 1),
      a2: tx(alice, 2),
      'a2*': tx(alice, 2, 1),
      a3: tx(alice, 3),
      a5: tx(alice, 5), // after a gap: never proposed
      b11: tx(bob, 11),
      b13: tx(bob, 13),
    };
    for (const t of Object.values(txs)) expect(mempool.admit(t, never, 0, true, lookup)).toBe('admitted');
    const batch = mempool.batch(100, new Set(inFlight.map((k) => id(txs[k]!))));
    const from = (key: SigningKeyPair) => nonces(batch.filter((t) => hex(t.sender) === hex(key.publicKey)));
    expect({ alice: from(alice), bob: from(bob) }).toEqual(expected);
    // The first to arrive of a nonce's variants is the one proposed.
    if (!inFlight.includes('a2')) expect(batch.some((t) => id(t) === id(txs['a2*']!))).toBe(false);
  });

  it('goes round the senders, so one busy sender cannot starve the others', () => {
    const mempool = new Mempool(CHAIN, 1000);
    for (let n = 1; n <= 20; n++) mempool.admit(tx(alice, n), never, 0, true, lookup);
    mempool.admit(tx(bob, 11), never, 0, true, lookup);
    expect(nonces(mempool.batch(3, new Set()))).toEqual([1, 11, 2]);
  });

  it('without a lookup, makes no sender checks (as before)', () => {
    const mempool = new Mempool(CHAIN, 1000);
    expect(mempool.admit(tx(mallory, 9), never, 0, true)).toBe('admitted');
    expect(mempool.admit(tx(mallory, 3), never, 0, true)).toBe('admitted');
    expect(nonces(mempool.batch(10, new Set()))).toEqual([3, 9]);
    expect(mempool.size).toBe(2);
  });
});

describe('Mempool after a commit', () => {
  it('drops what the committed nonces made useless, and releases what they unblocked', () => {
    const lookup = accounts([
      [alice, { registered: true, nonce: 0 }],
      [bob, { registered: true, nonce: 0 }],
    ]);
    const mempool = new Mempool(CHAIN, 1000);
    const a1 = tx(alice, 1);
    const a1b = tx(alice, 1, 1);
    const a2 = tx(alice, 2);
    const b1 = tx(bob, 1); // committed from another replica's mempool: never seen here
    const b2 = tx(bob, 2);
    const b3 = tx(bob, 3);
    for (const t of [a1, a1b, a2, b2, b3]) expect(mempool.admit(t, never, 0, true, lookup)).toBe('admitted');
    expect([mempool.size, mempool.held]).toEqual([3, 2]);
    mempool.remove([id(a1), id(b1)], [a1, b1]);
    expect(mempool.has(id(a1b))).toBe(false); // its nonce is used: it can never commit
    expect([mempool.size, mempool.held]).toEqual([3, 0]);
    expect(nonces(mempool.batch(10, new Set()))).toEqual([2, 2, 3]);
    // The lookup may not show the commit yet (the driver applies it after this step): what was
    // seen committed stands, so a late variant of a used nonce is stale.
    expect(mempool.admit(tx(alice, 2, 7), never, 0, true, lookup)).toBe('admitted');
    expect(mempool.admit(tx(alice, 3), never, 0, true, lookup)).toBe('admitted');
    mempool.remove([id(a2)], [a2]);
    expect(mempool.pending(10).map(id).sort()).toEqual([b2, b3, tx(alice, 3)].map(id).sort());
    expect(mempool.admit(tx(alice, 1, 2), never, 0, true, lookup)).toBe('stale');
    expect(mempool.admit(tx(alice, 2, 8), never, 0, true, lookup)).toBe('stale');
  });

  it('what a commit unblocks waits from the commit, not from its admission', () => {
    const lookup = accounts([[alice, { registered: true, nonce: 0 }]]);
    const mempool = new Mempool(CHAIN, 1000);
    const a1 = tx(alice, 1); // never admitted here (another validator had it)
    mempool.admit(tx(alice, 2), never, 1, true, lookup);
    mempool.remove([id(a1)], [a1], 7);
    expect(mempool.oldestPeriod()).toBe(7);
  });

  it('a block refused for its nonce (a gap) uses no nonce', () => {
    const lookup = accounts([[alice, { registered: true, nonce: 0 }]]);
    const mempool = new Mempool(CHAIN, 1000);
    const a1 = tx(alice, 1);
    const a3 = tx(alice, 3);
    mempool.admit(a1, never, 0, true, lookup);
    mempool.remove([id(a3)], [a3]); // the rule engine refused it (NONCE_GAP): the nonce stays 0
    expect(nonces(mempool.batch(10, new Set()))).toEqual([1]);
  });
});

describe('a replica applies the rules to gossiped transactions', () => {
  it('keeps from a txs message only what its committed state allows', () => {
    const validators = Array.from({ length: 4 }, () => generateSigningKeyPair());
    const replica = new Replica({
      chainId: CHAIN,
      validators: validators.map((v) => v.publicKey),
      self: 1,
      secretKey: validators[1]!.secretKey,
      params: DEFAULT_CONSENSUS_PARAMS,
      genesis: { hash: new Uint8Array(32), stateRoot: new Uint8Array(32), timestamp: 0 },
      isCommitted: never,
      senderAccount: accounts([[alice, { registered: true, nonce: 2 }]]),
    });
    replica.start();
    const good = [tx(alice, 3), tx(alice, 5)];
    const bad = [tx(mallory, 1), tx(alice, 2), tx(alice, 3 + NONCE_WINDOW)];
    replica.step({ kind: 'message', from: 0, message: { kind: 'txs', txs: [...bad, ...good] } });
    expect(replica.pendingTxs(100).map(id).sort()).toEqual(good.map(id).sort());
    expect(replica.info.mempoolSize).toBe(1); // nonce 5 waits for 4
  });
});

describe("rememberedSenderAccounts: admission's lookup of a sender", () => {
  it('reads the state once per sender until the chain grows, then reads it again', () => {
    let reads = 0;
    const state = {
      get: (_key: Uint8Array) => {
        reads++;
        return undefined;
      },
    };
    let height = 5;
    const lookup = rememberedSenderAccounts(state, () => height);
    const alice = generateSigningKeyPair().publicKey;
    const bob = generateSigningKeyPair().publicKey;
    const first = lookup(alice);
    expect(first).toEqual(senderAccount(state, alice));
    reads = 0;
    expect(lookup(alice)).toBe(first);
    expect(reads).toBe(0);
    lookup(bob);
    expect(reads).toBeGreaterThan(0);
    reads = 0;
    height = 6; // a block committed: every answer may have changed
    lookup(alice);
    expect(reads).toBeGreaterThan(0);
  });
});
