/**
 * Yamux flow control as the node runs it (patches/@chainsafe+libp2p-yamux+*.patch): a receiver
 * gives its sender more window once half the window is used, as go-yamux does, not after every
 * frame (which cost each consensus message a second socket write, the receiver's, back). A sender
 * that sends many windows' worth through real hosts never stalls.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import { defaultLogger } from '@libp2p/logger';
import { afterEach, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { generateSigningKeyPair } from '../src/crypto/index.ts';
import { P2PHost } from '../src/p2p/host.ts';

const WINDOW = 256 * 1024; // yamux's initial stream window
const FRAME = 1024;

let hosts: P2PHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  hosts = [];
});

/** The window updates a receiving stream sends for `frames` data frames of FRAME bytes. */
function windowUpdatesFor(frames: number): Array<{ length: number }> {
  const sent: Array<{ type: number; length: number }> = [];
  const stream = new YamuxStream({
    id: '1',
    streamId: 1,
    state: StreamState.Established,
    direction: 'inbound',
    log: defaultLogger().forComponent('test'),
    getRTT: () => -1, // no measured round trip: the window keeps its initial size
    sendFrame: (header: { type: number; length: number }) => {
      sent.push(header);
      return true;
    },
  } as unknown as ConstructorParameters<typeof YamuxStream>[0]);
  stream.addEventListener('message', () => {});
  for (let k = 0; k < frames; k++) {
    stream.handleData({
      header: { type: 0, flag: 0, streamID: 1, length: FRAME },
      data: new Uint8Array(FRAME),
    } as unknown as Parameters<YamuxStream['handleData']>[0]);
  }
  return sent;
}

describe('yamux window updates', () => {
  it('are sent once half the window is used, each giving back what was used', () => {
    const frames = 400; // 400 KiB: the 256 KiB window over one and a half times
    const updates = windowUpdatesFor(frames);
    expect(updates.length).toBe(Math.floor((frames * FRAME) / (WINDOW / 2)));
    for (const update of updates) expect(update.length).toBe(WINDOW / 2);
    expect(windowUpdatesFor(10)).toEqual([]);
  });

  it('never stall a sender that sends many windows of data between real hosts', async () => {
    const keys = [generateSigningKeyPair(), generateSigningKeyPair()];
    const [a, b] = await Promise.all(
      keys.map((k) =>
        P2PHost.start({
          secretKey: k.secretKey,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          peers: keys.map((p) => ({ publicKey: p.publicKey, addresses: [] })),
        }),
      ),
    );
    hosts.push(a!, b!);
    const protocol = { id: '/medledger/test-window/1.0.0', maxFrameBytes: 64 * 1024 };
    const received: number[] = [];
    await b!.onMessage(protocol, (_peer, payload) => received.push(payload[0]! + 256 * payload[1]!));
    a!.setPeerAddresses(keys[1]!.publicKey, b!.addresses);
    for (let k = 0; k < 500 && b!.connectedPeers().length === 0; k++)
      await new Promise((r) => setTimeout(r, 20));
    const count = 200; // 200 × 60 KiB: about 47 initial windows
    for (let k = 0; k < count; k++) {
      const payload = new Uint8Array(60 * 1024);
      payload[0] = k % 256;
      payload[1] = Math.floor(k / 256);
      a!.send(protocol, hex(keys[1]!.publicKey), payload);
    }
    const deadline = Date.now() + 20_000;
    while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(received).toEqual(Array.from({ length: count }, (_, k) => k));
  });
});
