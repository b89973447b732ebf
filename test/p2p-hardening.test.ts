/**
 * The p2p host against misbehaving peers and strangers, over real libp2p connections on loopback
 * (ports 47100-47199): penalties that bar a punished peer, the frame deadline, the frame decoder's
 * limits, and idle sockets that never finish the handshake.
 */
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { generateSigningKeyPair, type SigningKeyPair } from '../src/crypto/index.ts';
import { encodeFrame, FrameDecoder, frameDeadline_ms } from '../src/p2p/framing.ts';
import { type HostConfig, P2PHost } from '../src/p2p/host.ts';
import { PeerPenalties } from '../src/p2p/penalties.ts';

const PROTOCOL = { id: '/medledger/test/1.0.0', maxFrameBytes: 1 << 20 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (condition: () => boolean, timeout_ms = 10_000) => {
  const deadline = Date.now() + timeout_ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
};

let hosts: P2PHost[] = [];
let sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await Promise.all(hosts.map((h) => h.stop()));
  hosts = [];
});

async function host(
  key: SigningKeyPair,
  port: number,
  peers: Array<{ key: SigningKeyPair; addresses?: string[] }>,
  options: Partial<HostConfig> = {},
): Promise<P2PHost> {
  const started = await P2PHost.start({
    secretKey: key.secretKey,
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    peers: peers.map((p) => ({ publicKey: p.key.publicKey, addresses: p.addresses ?? [] })),
    ...options,
  });
  hosts.push(started);
  return started;
}

const at = (port: number) => `/ip4/127.0.0.1/tcp/${port}`;

/**
 * A raw TCP socket to `port` from `localAddress` that never says a word; resolves once connected, or
 * once the host has refused it (a reset while connecting).
 */
function idleSocket(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.on('error', () => {});
    socket.on('close', () => resolve(socket));
    sockets.push(socket);
  });
}
const closed = (socket: Socket) => socket.closed || socket.destroyed || socket.readyState === 'closed';
function watchClose(socket: Socket): { closed: boolean } {
  const state = { closed: closed(socket) };
  socket.on('close', () => (state.closed = true));
  socket.on('end', () => (state.closed = true));
  return state;
}

describe('penalties', () => {
  it('doubles the bar with each offence up to the cap, and forgives after good behaviour', () => {
    const penalties = new PeerPenalties({ base_ms: 1000, max_ms: 60_000, decay_ms: 60_000 });
    let now = 0;
    const bars: number[] = [];
    for (let i = 0; i < 8; i++) {
      const offence = penalties.offend('p', now);
      bars.push(offence.penalty_ms);
      now += offence.penalty_ms; // reoffends the moment its bar ends
    }
    expect(bars).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    // An offence while barred (the rest of a burst) neither escalates nor extends the bar.
    expect(penalties.offend('p', now - 10)).toEqual({ penalty_ms: 10, level: 7, escalated: false });
    expect(penalties.remaining_ms('p', now - 10)).toBe(10);
    expect(penalties.barred(now - 10)).toEqual(['p']);
    // The level stops at the cap's (7); four minutes of good behaviour forgive four: 2^3 s next.
    expect(penalties.offend('p', now + 240_000).penalty_ms).toBe(8000);
    // Long good behaviour forgives everything; other peers are not affected.
    expect(penalties.offend('p', now + 10 * 3_600_000).penalty_ms).toBe(1000);
    expect(penalties.remaining_ms('q', now)).toBe(0);
  });

  it('refuses a punished peer until its penalty passes, then lets it in; a second offence bars it longer', async () => {
    const [ka, kb] = [generateSigningKeyPair(), generateSigningKeyPair()];
    const warnings: Array<Record<string, unknown>> = [];
    const log = { info() {}, debug() {}, warn: (f: object) => warnings.push(f as Record<string, unknown>) };
    // a knows no address of b: only b redials (every 100 ms), so every refusal is a's gater.
    const a = await host(ka, 47101, [{ key: kb }], { log, penalties: { base_ms: 800 } });
    await host(kb, 47102, [{ key: ka, addresses: [at(47101)] }], { maxRedialDelay_ms: 100 });
    const bKey = hex(kb.publicKey);
    await until(() => a.connectedPeers().includes(bKey));

    const bars: number[] = [];
    for (const expected_ms of [800, 1600]) {
      const punished = Date.now();
      a.punish(bKey, 'test-offence');
      expect(a.penalisedPeers()).toEqual([bKey]);
      await until(() => !a.connectedPeers().includes(bKey));
      await until(() => a.connectedPeers().includes(bKey), expected_ms + 5000);
      bars.push(Date.now() - punished);
      expect(a.metrics.refusedWhilePenalised).toBeGreaterThan(0);
    }
    expect(bars[0]).toBeGreaterThanOrEqual(800);
    expect(bars[1]).toBeGreaterThanOrEqual(1600);
    expect(a.metrics.penalties).toBe(2);
    expect(a.metrics.disconnectedForMisbehaviour.get('test-offence')).toBe(2);
    expect(warnings.map((w) => [w.reason, w.penalty_ms, w.level])).toEqual([
      ['test-offence', 800, 1],
      ['test-offence', 1600, 2],
    ]);
    expect(Object.keys(warnings[0]!).sort()).toEqual(
      ['level', 'peer', 'penalty_ms', 'publicKey', 'reason'].sort(),
    );
  });

  it('does not redial a punished peer before its penalty passes', async () => {
    const [ka, kb] = [generateSigningKeyPair(), generateSigningKeyPair()];
    const warnings: string[] = [];
    const log = { info() {}, debug() {}, warn: (_f: object, message: string) => warnings.push(message) };
    // Only a knows where b is: a's redial is the only way back.
    const b = await host(kb, 47104, [{ key: ka }]);
    const a = await host(ka, 47103, [{ key: kb, addresses: [at(47104)] }], {
      log,
      penalties: { base_ms: 1000 },
    });
    const bKey = hex(kb.publicKey);
    await until(() => a.connectedPeers().includes(bKey));
    const punished = Date.now();
    a.punish(bKey, 'test-offence');
    await until(() => !a.connectedPeers().includes(bKey));
    await until(() => a.connectedPeers().includes(bKey), 5000);
    expect(Date.now() - punished).toBeGreaterThanOrEqual(1000);
    await until(() => b.connectedPeers().length === 1, 1000);
    // a waited for the bar to end instead of dialing into its own gater and warning of it.
    expect(warnings).toEqual(['disconnected a misbehaving peer; refusing it for a while']);
  });
});

describe('frames', () => {
  it('decodes any split of any frames, a frame inside one chunk without copying it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }),
        (payloads, cuts) => {
          const wire = Buffer.concat(payloads.map(encodeFrame));
          const decoder = new FrameDecoder(300);
          const out: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < wire.length; i++) {
            const size = cuts[i % cuts.length]!;
            // Alternate plain chunks and lists of chunks, as libp2p delivers both.
            const piece = wire.subarray(offset, offset + size);
            out.push(...decoder.push(i % 2 ? [piece.subarray(0, 1), piece.subarray(1)] : piece));
            offset += size;
          }
          expect(out.map(hex)).toEqual(payloads.map(hex));
          expect(decoder.partial).toBeUndefined();
        },
      ),
    );
    const whole = encodeFrame(Buffer.from('hello'));
    const [frame] = new FrameDecoder(16).push(whole);
    expect(frame!.buffer).toBe(whole.buffer);
  });

  it('refuses an oversized header on its fourth byte, before buffering anything of the frame', () => {
    const decoder = new FrameDecoder(1024);
    const header = encodeFrame(new Uint8Array(0));
    new DataView(header.buffer).setUint32(0, 40 << 20);
    for (const byte of header.subarray(0, 3)) expect(decoder.push(Uint8Array.of(byte))).toEqual([]);
    expect(() => decoder.push(header.subarray(3, 4))).toThrow(
      expect.objectContaining({ code: 'P2P_FRAME_TOO_LARGE' }),
    );
    expect(decoder.partial).toBeUndefined();
  });

  it('gives a frame 10 s plus a second per MiB by default', () => {
    expect(frameDeadline_ms(0, { floor_ms: 10_000, minBytesPerSecond: 1 << 20 })).toBe(10_000);
    expect(frameDeadline_ms(48 << 20, { floor_ms: 10_000, minBytesPerSecond: 1 << 20 })).toBe(58_000);
  });

  it('aborts the stream of a peer that announces a large frame and goes silent, and punishes it', async () => {
    const [ka, kb] = [generateSigningKeyPair(), generateSigningKeyPair()];
    const frameDeadline = { floor_ms: 400, minBytesPerSecond: 1 << 20 }; // 512 KiB: 900 ms
    const a = await host(ka, 47105, [{ key: kb }], { frameDeadline });
    const b = await host(kb, 47106, [{ key: ka, addresses: [at(47105)] }]);
    const received: string[] = [];
    await a.onMessage(PROTOCOL, (_peer, payload) => received.push(Buffer.from(payload).toString()));
    await until(() => a.connectedPeers().length === 1);

    // A frame sent in two halves well within its deadline is delivered and nobody is punished.
    const slowButFine = encodeFrame(Buffer.alloc(512 << 10, 'x'));
    const good = await b.node.dialProtocol(a.node.peerId, PROTOCOL.id);
    good.send(slowButFine.subarray(0, 1000));
    await sleep(300);
    good.send(slowButFine.subarray(1000));
    await until(() => received.length === 1);
    expect(a.metrics.disconnectedForMisbehaviour.size).toBe(0);

    const started = Date.now();
    const stalled = await b.node.dialProtocol(a.node.peerId, PROTOCOL.id);
    stalled.send(encodeFrame(Buffer.alloc(512 << 10)).subarray(0, 4 + 1024));
    await until(() => (a.metrics.disconnectedForMisbehaviour.get('slow-frame') ?? 0) === 1, 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await until(() => stalled.status !== 'open', 2000);
    expect(a.penalisedPeers()).toEqual([hex(kb.publicKey)]);
  });
});

describe('strangers', () => {
  it('closes sockets that never finish the handshake, bounds them per IP, and lets a validator in meanwhile', async () => {
    const [ka, kb] = [generateSigningKeyPair(), generateSigningKeyPair()];
    // a knows no address of b, so b's IP is not on a's allow list: b gets in as a caller like any other.
    const a = await host(ka, 47110, [{ key: kb }], { handshakeTimeout_ms: 2500, maxInboundPerIp: 4 });
    // libp2p lets one IP open 5 connections a second; open 7 over two seconds, from 127.0.0.2.
    const idle: Array<{ closed: boolean }> = [];
    for (let i = 0; i < 7; i++) {
      if (i === 5) await sleep(1050);
      idle.push(watchClose(await idleSocket(47110, '127.0.0.2')));
    }
    await until(() => a.metrics.refusedPerIp >= 2, 2000);
    // The validator, from another address, is not held up by them.
    const b = await host(kb, 47111, [{ key: ka, addresses: [at(47110)] }]);
    await until(() => b.connectedPeers().length === 1, 1000);
    // Every idle socket is closed within the handshake timeout.
    await until(() => idle.every((s) => s.closed), 4000);
    expect(a.connectedPeers()).toEqual([hex(kb.publicKey)]);
  });

  it('lets in a validator from an allowed address while strangers hold every pending handshake slot', async () => {
    const [kv, ka, kz] = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];
    const slow = { handshakeTimeout_ms: 20_000 };
    // a lists the validator at 127.0.0.1 (a port where nothing listens: it dials in); z lists it nowhere.
    const a = await host(ka, 47120, [{ key: kv, addresses: [at(47199)] }], slow);
    const z = await host(kz, 47121, [{ key: kv }], slow);
    // At each, 40 strangers from 40 addresses: more than libp2p's 32 pending handshakes.
    for (const port of [47120, 47121])
      for (let i = 0; i < 40; i++) await idleSocket(port, `127.0.1.${i + 1}`);
    const v = await host(
      kv,
      47122,
      [
        { key: ka, addresses: [at(47120)] },
        { key: kz, addresses: [at(47121)] },
      ],
      {
        maxRedialDelay_ms: 200,
      },
    );
    await until(() => a.connectedPeers().length === 1, 3000);
    await sleep(500);
    // z, with no allow list, refuses the validator while its pending slots are full.
    expect(z.connectedPeers()).toEqual([]);
    expect(v.connectedPeers()).toEqual([hex(ka.publicKey)]);
  });
});
