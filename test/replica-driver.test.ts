/**
 * The replica driver's contract: actions in order, a persist durable before any later send leaves,
 * a commit applied before what follows, answers through the inbox, nothing after the replica stops,
 * and no promise at all when every port answers synchronously (what keeps the simulator exact).
 */
import { describe, expect, it } from 'vitest';
import type { ConsensusAction, ConsensusEvent } from '../src/consensus/index.ts';
import { type DriverPorts, ReplicaDriver } from '../src/driver/index.ts';
import { type Block, blockHash, type CommitCertificate, genesisBlock } from '../src/ledger/index.ts';
import { makeNetwork } from './fixtures/chain.ts';

const net = makeNetwork({ validators: 4, clients: 1 });
const block: Block = genesisBlock(net.genesis);
const certificate: CommitCertificate = { view: 0, height: 0, blockHash: blockHash(block.header), votes: [] };
const status = { kind: 'status', from: 0, view: 0, changing: false, height: 0 } as never;

/** Ports that record what happened, in order; `slow` makes the log and commits asynchronous. */
function recordingPorts(options: { slow?: boolean; live?: () => boolean } = {}) {
  const happened: string[] = [];
  const inbox: ConsensusEvent[] = [];
  const later = (what: string) =>
    options.slow
      ? new Promise<void>((resolve) =>
          setTimeout(() => {
            happened.push(what);
            resolve();
          }, 5),
        )
      : void happened.push(what);
  const ports: DriverPorts = {
    transport: {
      send: (to) => void happened.push(`send ${to}`),
      broadcast: () => void happened.push('broadcast'),
      fetch: (r) => void happened.push(`fetch ${r.fromHeight}-${r.toHeight}`),
      punish: (peer, reason) => void happened.push(`punish ${peer} ${reason}`),
    },
    timers: {
      set: (timer, delay_ms) => void happened.push(`set ${timer} ${delay_ms}`),
      cancel: (timer) => void happened.push(`cancel ${timer}`),
    },
    log: { append: (records) => later(`persisted ${records.length}`) },
    executor: {
      build: () => block,
      execute: () => ({ ok: false, stateRoot: new Uint8Array(32), reason: 'unknown parent' }),
      commit: () => later('committed'),
    },
    inbox: (event) => void inbox.push(event),
    live: options.live ?? (() => true),
  };
  return { ports, happened, inbox };
}

const actions: ConsensusAction[] = [
  { kind: 'setTimer', timer: 'request', delay_ms: 1000 },
  { kind: 'persist', records: [{ kind: 'view', view: 1, changing: false }] },
  { kind: 'broadcast', message: status },
  { kind: 'commit', block, certificate },
  { kind: 'send', to: 2, message: status },
  { kind: 'misbehaviour', peer: 3, reason: 'bad-signature' },
];

describe('ReplicaDriver', () => {
  it('waits for an asynchronous persist before sending, and for a commit before what follows', async () => {
    const { ports, happened } = recordingPorts({ slow: true });
    const pending = new ReplicaDriver(ports).perform(actions);
    expect(pending).toBeInstanceOf(Promise);
    expect(happened).toEqual(['set request 1000']); // nothing past the persist yet
    await pending;
    expect(happened).toEqual([
      'set request 1000',
      'persisted 1',
      'broadcast',
      'committed',
      'send 2',
      'punish 3 bad-signature',
    ]);
  });

  it('never awaits when every port answers synchronously', () => {
    const { ports, happened } = recordingPorts();
    expect(new ReplicaDriver(ports).perform(actions)).toBeUndefined();
    expect(happened).toHaveLength(6);
  });

  it('answers build and execute through the inbox, with the block hash and the reason', () => {
    const { ports, inbox } = recordingPorts();
    const parent = { hash: blockHash(block.header), stateRoot: block.header.stateRoot, timestamp: 0 };
    new ReplicaDriver(ports).perform([
      { kind: 'build', height: 1, view: 0, parent, txs: [] },
      { kind: 'execute', block },
    ]);
    expect(inbox.map((e) => e.kind)).toEqual(['built', 'executed']);
    expect(inbox[1]).toMatchObject({
      height: 0,
      blockHash: blockHash(block.header),
      ok: false,
      reason: 'unknown parent',
    });
  });

  it('does nothing more once the replica stops, even mid-step', async () => {
    let live = true;
    const { ports, happened } = recordingPorts({ slow: true, live: () => live });
    const pending = new ReplicaDriver(ports).perform(actions);
    live = false; // stopped while the persist is in flight
    await pending;
    expect(happened).toEqual(['set request 1000', 'persisted 1']);
  });
});
