/** The permissioned libp2p host on 127.0.0.1: messages, the gater, and peers that send garbage. */
import { afterEach, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { generateSigningKeyPair, type SigningKeyPair } from '../src/crypto/index.ts';
import { encodeFrame } from '../src/p2p/framing.ts';
import { P2PHost } from '../src/p2p/host.ts';

const PROTOCOL = { id: '/medledger/test/1.0.0', maxFrameBytes: 1024 };
const until = async (condition: () => boolean, timeout_ms = 10_000) => {
  const deadline = Date.now() + timeout_ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

let hosts: P2PHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  hosts = [];
});

async function mesh(keys: SigningKeyPair[], allowed: SigningKeyPair[]): Promise<P2PHost[]> {
  const started = await Promise.all(
    keys.map((k) =>
      P2PHost.start({
        secretKey: k.secretKey,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        peers: allowed.map((a) => ({ publicKey: a.publicKey, addresses: [] })),
      }),
    ),
  );
  hosts.push(...started);
  return started;
}

describe('P2P host', () => {
  it('delivers framed messages between allowed peers, naming the sender by its key', async () => {
    const keys = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];
    const [a, b, c] = (await mesh(keys, keys)) as [P2PHost, P2PHost, P2PHost];
    const received: Array<[string, string]> = [];
    await b.onMessage(PROTOCOL, (peer, payload) => received.push([peer, Buffer.from(payload).toString()]));
    a.setPeerAddresses(keys[1]!.publicKey, b.addresses);
    c.setPeerAddresses(keys[1]!.publicKey, b.addresses);
    await until(() => b.connectedPeers().length === 2);
    for (let i = 0; i < 5; i++) a.send(PROTOCOL, hex(keys[1]!.publicKey), Buffer.from(`a${i}`));
    c.send(PROTOCOL, hex(keys[1]!.publicKey), Buffer.from('c0'));
    await until(() => received.length === 6);
    expect(received.filter(([peer]) => peer === hex(keys[0]!.publicKey)).map(([, m]) => m)).toEqual([
      'a0',
      'a1',
      'a2',
      'a3',
      'a4',
    ]);
    expect(received).toContainEqual([hex(keys[2]!.publicKey), 'c0']);
  });

  it('refuses a peer whose key is not in the set, before any protocol runs', async () => {
    const members = [generateSigningKeyPair(), generateSigningKeyPair()];
    const outsider = generateSigningKeyPair();
    const [a] = (await mesh([members[0]!], members)) as [P2PHost];
    // The outsider believes it may talk to a, but a does not list it.
    const [o] = (await mesh([outsider], [...members, outsider])) as [P2PHost];
    let delivered = 0;
    await a.onMessage(PROTOCOL, () => delivered++);
    o.setPeerAddresses(members[0]!.publicKey, a.addresses);
    await until(() => a.metrics.rejectedConnections > 0);
    o.send(PROTOCOL, hex(members[0]!.publicKey), Buffer.from('hello'));
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered).toBe(0);
    expect(a.connectedPeers()).toEqual([]);
  });

  it('disconnects a peer that sends an oversized frame and keeps serving the others', async () => {
    const keys = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];
    const [a, bad, good] = (await mesh(keys, keys)) as [P2PHost, P2PHost, P2PHost];
    const received: string[] = [];
    await a.onMessage(PROTOCOL, (_peer, payload) => received.push(Buffer.from(payload).toString()));
    bad.setPeerAddresses(keys[0]!.publicKey, a.addresses);
    good.setPeerAddresses(keys[0]!.publicKey, a.addresses);
    await until(() => a.connectedPeers().length === 2);
    // A raw stream declaring a 1 MiB frame on a protocol limited to 1 KiB.
    const stream = await bad.node.dialProtocol(a.node.peerId, PROTOCOL.id);
    stream.send(encodeFrame(new Uint8Array(1 << 20)).subarray(0, 64 * 1024));
    await until(() => (a.metrics.disconnectedForMisbehaviour.get('oversized-frame') ?? 0) > 0);
    good.send(PROTOCOL, hex(keys[0]!.publicKey), Buffer.from('still here'));
    await until(() => received.includes('still here'));
    expect(received).toEqual(['still here']);
  });

  it('refuses a node at a peer address that has another key, logging both keys', async () => {
    const [a, expected, impostor] = [
      generateSigningKeyPair(),
      generateSigningKeyPair(),
      generateSigningKeyPair(),
    ];
    const warnings: Array<Record<string, unknown>> = [];
    const log = {
      info() {},
      debug() {},
      warn: (fields: object) => warnings.push(fields as Record<string, unknown>),
    };
    // The impostor listens where the genesis says `expected` is, and would even accept a.
    const [i] = (await mesh([impostor], [a])) as [P2PHost];
    const address = i.addresses[0]!.replace(/\/p2p\/.*$/, '');
    const host = await P2PHost.start({
      secretKey: a.secretKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [{ publicKey: expected.publicKey, addresses: [address], name: 'City General' }],
      log,
    });
    hosts.push(host);
    await until(() => host.metrics.unexpectedKeys >= 2); // the first dial and a redial
    expect(host.connectedPeers()).toEqual([]);
    expect(i.connectedPeers()).toEqual([]);
    const refusals = warnings.filter((w) => w.foundKey !== undefined);
    expect(refusals).toHaveLength(1); // one warning per outage, not one per redial
    expect(refusals[0]).toMatchObject({
      peer: 'City General',
      expectedKey: hex(expected.publicKey),
      foundKey: hex(impostor.publicKey),
      addresses: [address],
    });
  });

  it('dials a DNS name; reports each peer: where, since when, its last message; logs it connecting and lost', async () => {
    const keys = [generateSigningKeyPair(), generateSigningKeyPair()];
    const events: string[] = [];
    const log = {
      warn() {},
      debug() {},
      info: (fields: object, message: string) =>
        events.push(`${message} ${(fields as { peer: string }).peer}`),
    };
    const b = await P2PHost.start({
      secretKey: keys[1]!.secretKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [{ publicKey: keys[0]!.publicKey, addresses: [] }],
    });
    hosts.push(b);
    const a = await P2PHost.start({
      secretKey: keys[0]!.secretKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: [
        {
          publicKey: keys[1]!.publicKey,
          addresses: [`/dns4/localhost/tcp/${/\/tcp\/(\d+)/.exec(b.addresses[0]!)![1]}`],
          name: 'B',
        },
      ],
      log,
    });
    hosts.push(a);
    const before = Date.now();
    await until(() => a.connectedPeers().length === 1);
    expect(events).toEqual(['validator peer connected B']);
    let [peer] = a.peers();
    expect(peer).toMatchObject({
      name: 'B',
      publicKey: hex(keys[1]!.publicKey),
      connected: true,
      lastMessageAt: null,
    });
    expect(peer!.remoteAddress).toMatch(/^\/dns4\/localhost\/tcp\/\d+$/);
    expect(peer!.connectedSince).toBeGreaterThanOrEqual(before - 1000);
    await a.onMessage(PROTOCOL, () => {});
    // B drops frames to a peer it does not yet count as connected: wait for its side too.
    await until(() => b.connectedPeers().length === 1);
    b.send(PROTOCOL, hex(keys[0]!.publicKey), Buffer.from('hello'));
    await until(() => a.peers()[0]!.lastMessageAt !== null);
    await b.stop();
    hosts = hosts.filter((h) => h !== b);
    await until(() => events.length === 2);
    expect(events[1]).toBe('validator peer lost B');
    [peer] = a.peers();
    expect(peer).toMatchObject({ connected: false, remoteAddress: null, connectedSince: null });
  });

  it('answers more requests within the timeout than the peer accepts streams at once', async () => {
    // Each finished request closes its stream; a half-open one would count against the server's
    // 16 inbound streams per protocol until its timeout, refusing the 17th request.
    const keys = [generateSigningKeyPair(), generateSigningKeyPair()];
    const [a, b] = (await mesh(keys, keys)) as [P2PHost, P2PHost];
    await b.onRequest(PROTOCOL, async (_peer, payload) => [payload, Buffer.from('pong')]);
    a.setPeerAddresses(keys[1]!.publicKey, b.addresses);
    await until(() => a.connectedPeers().length === 1);
    for (let i = 0; i < 24; i++) {
      const frames = await a.request(PROTOCOL, hex(keys[1]!.publicKey), Buffer.from(`ping ${i}`), 30_000);
      expect(frames.map((f) => Buffer.from(f).toString())).toEqual([`ping ${i}`, 'pong']);
    }
  });
});
