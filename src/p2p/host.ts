/**
 * The libp2p host of a medledger node: TCP, Noise, Yamux, and a permissioned peer set.
 *
 * - Identity: the node's libp2p key IS its validator Ed25519 key, so a peer id names a validator.
 * - Permissioned: the connection gater refuses any peer whose key is not in the configured set (the
 *   validators and explicitly listed observers), right after the Noise handshake proves the key and
 *   before any protocol runs.
 * - Dialing: every known peer with an address is dialed and, when the connection drops, redialed with
 *   exponential backoff. Each address is dialled as ADDRESS/p2p/PEER-ID, so Noise refuses whoever
 *   answers there with another key; that refusal is logged with both keys (a swapped or stale address).
 * - Peers: who is connected, from which address, since when, and when they last sent a message.
 * - Messages: per protocol, length-prefixed frames (framing.ts) with a size limit. `send` uses one
 *   long-lived outbound stream per peer and protocol; `request` opens a stream per request. A peer that
 *   sends an oversized or otherwise bad frame, or that the caller reports (`punish`), is disconnected
 *   and counted; the node carries on.
 * - Penalties (penalties.ts): a punished peer is barred for a while, longer with each offence: the
 *   gater refuses its connections and the host does not redial it until the bar ends.
 * - Slow frames: once a frame's header is in, the rest must arrive within a deadline that grows with
 *   its size (framing.ts `frameDeadline_ms`), or the stream is aborted and the peer punished: a
 *   header announcing a large frame followed by silence holds nothing for long.
 * - Strangers (admission.ts): the peers' IPs are on libp2p's allow list, other IPs may hold a few
 *   inbound connections each, and a handshake must finish within seconds, so idle sockets cannot
 *   keep a validator out.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { hex } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import { type Logger, SILENT_LOGGER } from '../logger.ts';
import {
  HANDSHAKE_TIMEOUT_MS,
  InboundAdmission,
  ipsOf,
  MAX_INBOUND_PER_IP,
  MAX_PENDING_HANDSHAKES,
} from './admission.ts';
import {
  DEFAULT_FRAME_DEADLINE,
  encodeFrame,
  type FrameDeadline,
  FrameDeadlineWatch,
  FrameDecoder,
} from './framing.ts';
import { PeerPenalties, type PenaltyPolicy } from './penalties.ts';

export interface PeerEntry {
  /** Raw Ed25519 public key. */
  publicKey: Uint8Array;
  /** Multiaddrs to dial (empty for peers that only dial us). */
  addresses: string[];
  /** How logs name it (a validator's genesis name). */
  name?: string;
}

/** One allowed peer as the host sees it now. */
export interface PeerState {
  /** Its Ed25519 public key, hex. */
  publicKey: string;
  name: string;
  peerId: string;
  /** Where it is dialled. */
  addresses: string[];
  connected: boolean;
  /** The remote address of the open connection. */
  remoteAddress: string | null;
  /** Milliseconds since the epoch: when the current connection opened. */
  connectedSince: number | null;
  /** Milliseconds since the epoch: the last frame received from it (null: none yet). */
  lastMessageAt: number | null;
}

export interface HostConfig {
  /** The node's Ed25519 secret key (32-byte seed). */
  secretKey: Uint8Array;
  /** Multiaddrs to listen on, e.g. /ip4/127.0.0.1/tcp/7001. */
  listen: string[];
  /** Every peer allowed to connect: validators and observers. */
  peers: PeerEntry[];
  /** Longest wait between redials. */
  maxRedialDelay_ms?: number;
  /** How long a punished peer is barred (default: 1 s doubling to 60 s, a level forgiven a minute). */
  penalties?: Partial<PenaltyPolicy>;
  /** How fast a frame must arrive once its header is in (default: 10 s plus 1 s per MiB). */
  frameDeadline?: FrameDeadline;
  /** How long an inbound connection may take to finish its handshake (default 5 s). */
  handshakeTimeout_ms?: number;
  /** Inbound connections one IP that is not a peer's may hold at once (default 8). */
  maxInboundPerIp?: number;
  /** Peers connecting and lost (info), unreachable or answering with another key (warn). */
  log?: Logger;
}

export interface ProtocolSpec {
  id: string;
  maxFrameBytes: number;
  /** Request protocols: the most response bytes accepted for one request (default 16 frames). */
  maxResponseBytes?: number;
}

export type MessageHandler = (peer: string, payload: Uint8Array) => void;
/** Answers one request with zero or more response frames. */
export type RequestHandler = (peer: string, payload: Uint8Array) => Promise<Uint8Array[]>;

export interface HostMetrics {
  rejectedConnections: number;
  /** Dials answered by a peer with another key than the one expected at that address. */
  unexpectedKeys: number;
  disconnectedForMisbehaviour: Map<string, number>;
  /** Punishments that barred a peer (those while it was already barred do not count). */
  penalties: number;
  /** Connections and dials refused because the peer was barred. */
  refusedWhilePenalised: number;
  /** Inbound connections refused because their IP already held its share. */
  refusedPerIp: number;
}

/** Value of the peer-store tag on every allowed peer, so libp2p never prunes their connections. */
const PEER_TAG_VALUE = 100;

const MAX_QUEUED_FRAMES = 4096;

/** Where a connection's remote end is, without the `/p2p/PEER-ID` that names whose it is. */
function remoteAddress(connection: Connection | undefined): string | null {
  return connection ? connection.remoteAddr.toString().replace(/\/p2p\/\w+$/, '') : null;
}

/** `address` with `/p2p/PEER-ID`, so the Noise handshake insists on that key. */
function withPeerId(address: string, peerId: string): string {
  return address.includes('/p2p/') ? address : `${address}/p2p/${peerId}`;
}

/**
 * The key (hex) of a peer that answered a dial with a key other than the expected one, from the
 * Noise handshake's error (which names the key it got as a peer id); undefined for any other failure.
 */
function unexpectedKey(error: Error): string | undefined {
  const pending: unknown[] = [error];
  for (let e = pending.pop(); e !== undefined; e = pending.pop()) {
    if (!(e instanceof Error)) continue;
    const id = /identity key (\w+) does not match expected/.exec(e.message)?.[1];
    if (id) {
      try {
        return hex(peerIdFromString(id).publicKey!.raw);
      } catch {
        return 'unknown';
      }
    }
    if (e instanceof AggregateError) pending.push(...e.errors);
    if (e.cause !== undefined) pending.push(e.cause);
  }
  return undefined;
}

export class P2PHost {
  readonly node: Libp2p;
  /** Peer public key (hex) by peer id string, for every allowed peer. */
  readonly #keyOfPeer = new Map<string, string>();
  readonly #peerIdOfKey = new Map<string, PeerId>();
  readonly #addresses = new Map<string, string[]>();
  readonly #outbound = new Map<string, Stream>();
  readonly #opening = new Map<string, Promise<Stream | null>>();
  /** Frames waiting for their channel's stream to open. */
  readonly #queued = new Map<string, Uint8Array[]>();
  /** Frames for an open stream, written together at the end of this turn of the event loop. */
  readonly #coalescing = new Map<string, { stream: Stream; frames: Uint8Array[] }>();
  readonly #names = new Map<string, string>();
  /** By peer key: when its connection opened, and its last frame. */
  readonly #connectedSince = new Map<string, number>();
  readonly #lastMessageAt = new Map<string, number>();
  /** By peer key: the dial failures reported in its current outage (one warning each, not per redial). */
  readonly #reported = new Map<string, Set<string>>();
  readonly #connectListeners: Array<(peerKey: string) => void> = [];
  readonly #lostListeners: Array<(peerKey: string) => void> = [];
  readonly #maxRedialDelay_ms: number;
  readonly #log: Logger;
  readonly #penalties: PeerPenalties;
  readonly #frameDeadline: FrameDeadline;
  readonly #admission: InboundAdmission;
  readonly metrics: HostMetrics = {
    rejectedConnections: 0,
    unexpectedKeys: 0,
    disconnectedForMisbehaviour: new Map(),
    penalties: 0,
    refusedWhilePenalised: 0,
    refusedPerIp: 0,
  };
  #stopped = false;
  #redialTimers = new Map<string, NodeJS.Timeout>();

  private constructor(
    node: Libp2p,
    config: HostConfig,
    peerIds: Map<string, PeerId>,
    parts: { penalties: PeerPenalties; admission: InboundAdmission },
  ) {
    this.node = node;
    this.#maxRedialDelay_ms = config.maxRedialDelay_ms ?? 5000;
    this.#log = config.log ?? SILENT_LOGGER;
    this.#penalties = parts.penalties;
    this.#admission = parts.admission;
    this.#frameDeadline = config.frameDeadline ?? DEFAULT_FRAME_DEADLINE;
    for (const peer of config.peers) {
      const key = hex(peer.publicKey);
      const id = peerIds.get(key)!;
      this.#keyOfPeer.set(id.toString(), key);
      this.#peerIdOfKey.set(key, id);
      this.#addresses.set(key, peer.addresses);
      this.#names.set(key, peer.name ?? key.slice(0, 16));
    }
  }

  static async start(config: HostConfig): Promise<P2PHost> {
    const privateKey = await generateKeyPairFromSeed('Ed25519', config.secretKey);
    const selfId = peerIdFromPublicKey(privateKey.publicKey).toString();
    const peerIds = new Map<string, PeerId>();
    for (const peer of config.peers)
      peerIds.set(hex(peer.publicKey), peerIdFromPublicKey(publicKeyFromRaw(peer.publicKey)));
    const allowed = new Map([...peerIds].map(([key, id]) => [id.toString(), key]));
    const penalties = new PeerPenalties(config.penalties);
    const peerIps = await ipsOf(config.peers.flatMap((p) => p.addresses));
    let host: P2PHost | undefined;
    const admission = new InboundAdmission(peerIps, config.maxInboundPerIp ?? MAX_INBOUND_PER_IP, () => {
      if (host) host.metrics.refusedPerIp++;
    });
    const deny = (peerId: PeerId) => {
      const key = allowed.get(peerId.toString());
      const refused = key === undefined || peerId.toString() === selfId;
      if (refused && host) host.metrics.rejectedConnections++;
      if (refused || penalties.remaining_ms(key, Date.now()) === 0) return refused;
      if (host) host.metrics.refusedWhilePenalised++;
      return true;
    };
    const node = await createLibp2p({
      privateKey,
      addresses: { listen: config.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        allow: peerIps.map((ip) => `/${ip.includes(':') ? 'ip6' : 'ip4'}/${ip}`),
        maxIncomingPendingConnections: MAX_PENDING_HANDSHAKES,
        inboundUpgradeTimeout: config.handshakeTimeout_ms ?? HANDSHAKE_TIMEOUT_MS,
      },
      connectionGater: {
        denyInboundConnection: (connection) => admission.deny(connection),
        denyDialPeer: deny,
        denyInboundEncryptedConnection: deny,
        denyOutboundEncryptedConnection: deny,
        // Loopback and private addresses are where hospitals' nodes live: allow dialing them.
        denyDialMultiaddr: () => false,
      },
      start: false,
    });
    host = new P2PHost(node, config, peerIds, { penalties, admission });
    node.addEventListener('peer:connect', (event) => host.#connected(event.detail.toString()));
    node.addEventListener('peer:disconnect', (event) => {
      host.#lost(event.detail.toString());
      host.#scheduleRedial(event.detail.toString(), 200);
    });
    await node.start();
    // Tagged peers are the last libp2p would prune. No KEEP_ALIVE tag: libp2p's reconnect queue
    // would redial a barred peer; the host's own redials (`#scheduleRedial`) honour penalties.
    for (const id of peerIds.values())
      await node.peerStore.merge(id, { tags: { 'medledger-peer': { value: PEER_TAG_VALUE } } });
    for (const key of host.#addresses.keys()) host.#scheduleRedial(host.#peerIdOfKey.get(key)!.toString(), 0);
    return host;
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** The addresses this host listens on, with its peer id. */
  get addresses(): string[] {
    return this.node.getMultiaddrs().map((a) => a.toString());
  }

  /**
   * Sets (or replaces) where an allowed peer can be dialed, and dials it. Its IPs are exempted from
   * the per-IP bound at once; libp2p's allow list keeps the addresses known at start.
   */
  setPeerAddresses(publicKey: Uint8Array, addresses: string[]): void {
    const key = hex(publicKey);
    const peerId = this.#peerIdOfKey.get(key);
    if (!peerId) throw new MedledgerError('P2P_UNKNOWN_PEER', 'not an allowed peer');
    this.#addresses.set(key, addresses);
    void ipsOf(addresses).then((ips) => this.#admission.allow(ips));
    this.#scheduleRedial(peerId.toString(), 0);
  }

  /** Calls `listener` with a peer's key (hex) each time a connection to it opens. */
  onPeerConnected(listener: (peerKey: string) => void): void {
    this.#connectListeners.push(listener);
  }

  /** Calls `listener` with a peer's key (hex) each time its last connection closes. */
  onPeerLost(listener: (peerKey: string) => void): void {
    this.#lostListeners.push(listener);
  }

  #connected(peerId: string): void {
    const key = this.#keyOfPeer.get(peerId);
    if (!key) return;
    for (const listener of this.#connectListeners) listener(key);
    this.#connectedSince.set(key, Date.now());
    this.#reported.delete(key);
    const address = remoteAddress(this.node.getConnections(this.#peerIdOfKey.get(key))[0]);
    this.#log.info({ peer: this.#names.get(key), publicKey: key, address }, 'validator peer connected');
  }

  #lost(peerId: string): void {
    const key = this.#keyOfPeer.get(peerId);
    if (!key || !this.#connectedSince.has(key)) return;
    const since = this.#connectedSince.get(key)!;
    this.#connectedSince.delete(key);
    if (this.#stopped) return;
    for (const listener of this.#lostListeners) listener(key);
    this.#log.info(
      { peer: this.#names.get(key), publicKey: key, connected_ms: Date.now() - since },
      'validator peer lost',
    );
  }

  /** Every allowed peer: connected or not, where, since when, last heard from. */
  peers(): PeerState[] {
    return [...this.#peerIdOfKey].map(([key, peerId]) => {
      const connection = this.node.getConnections(peerId)[0];
      return {
        publicKey: key,
        name: this.#names.get(key)!,
        peerId: peerId.toString(),
        addresses: this.#addresses.get(key) ?? [],
        connected: connection !== undefined,
        remoteAddress: remoteAddress(connection),
        connectedSince: connection ? (this.#connectedSince.get(key) ?? null) : null,
        lastMessageAt: this.#lastMessageAt.get(key) ?? null,
      };
    });
  }

  /** Public keys (hex) of the allowed peers currently connected. */
  connectedPeers(): string[] {
    const out = new Set<string>();
    for (const connection of this.node.getConnections()) {
      const key = this.#keyOfPeer.get(connection.remotePeer.toString());
      if (key) out.add(key);
    }
    return [...out];
  }

  /** Dials a peer after `delay_ms` (or when its penalty ends, if later), and again until it answers. */
  #scheduleRedial(peerId: string, delay_ms: number, attempt = 0): void {
    const key = this.#keyOfPeer.get(peerId);
    if (!key || this.#stopped || this.#redialTimers.has(peerId)) return;
    const addresses = this.#addresses.get(key) ?? [];
    if (addresses.length === 0) return;
    const timer = setTimeout(async () => {
      this.#redialTimers.delete(peerId);
      if (this.#stopped || this.node.getConnections(this.#peerIdOfKey.get(key)).length > 0) return;
      const barred_ms = this.#penalties.remaining_ms(key, Date.now());
      if (barred_ms > 0) return this.#scheduleRedial(peerId, barred_ms, attempt);
      try {
        await this.node.dial(
          addresses.map((a) => multiaddr(withPeerId(a, peerId))),
          { signal: AbortSignal.timeout(5000) },
        );
      } catch (error) {
        if (this.#stopped) return;
        this.#dialFailed(key, addresses, error as Error);
        const next = Math.min(this.#maxRedialDelay_ms, 250 * 2 ** attempt);
        this.#scheduleRedial(peerId, next, attempt + 1);
      }
    }, delay_ms);
    timer.unref();
    this.#redialTimers.set(peerId, timer);
  }

  /** Warns once per outage and kind of failure (unreachable, or a node with another key there). */
  #dialFailed(key: string, addresses: string[], error: Error): void {
    const fields = { peer: this.#names.get(key), publicKey: key, addresses };
    const found = unexpectedKey(error);
    if (found !== undefined) this.metrics.unexpectedKeys++;
    const kind = found === undefined ? 'unreachable' : `key ${found}`;
    const reported = this.#reported.get(key) ?? new Set<string>();
    this.#reported.set(key, reported);
    const reason = String(error.message).split('\n')[0];
    if (reported.has(kind)) return void this.#log.debug({ ...fields, reason }, 'dial failed');
    reported.add(kind);
    if (found === undefined) {
      this.#log.warn({ ...fields, reason }, 'cannot reach validator peer; retrying with backoff');
    } else {
      this.#log.warn(
        { ...fields, expectedKey: key, foundKey: found },
        'refused a peer: the node at this address has another key than the genesis says',
      );
    }
  }

  #peerKey(connection: Connection): string | null {
    return this.#keyOfPeer.get(connection.remotePeer.toString()) ?? null;
  }

  /**
   * Disconnects a peer that misbehaved and bars it for a while (longer with each offence: see
   * penalties.ts); it may reconnect once the bar ends, and is disconnected again if it persists.
   */
  punish(peerKey: string, reason: string): void {
    const count = this.metrics.disconnectedForMisbehaviour;
    count.set(reason, (count.get(reason) ?? 0) + 1);
    const peerId = this.#peerIdOfKey.get(peerKey);
    if (!peerId) return;
    const offence = this.#penalties.offend(peerKey, Date.now());
    if (offence.escalated) {
      this.metrics.penalties++;
      this.#log.warn(
        {
          peer: this.#names.get(peerKey),
          publicKey: peerKey,
          reason,
          penalty_ms: offence.penalty_ms,
          level: offence.level,
        },
        'disconnected a misbehaving peer; refusing it for a while',
      );
    }
    void this.node.hangUp(peerId).catch(() => {});
  }

  /** Public keys (hex) of the peers barred now for misbehaving. */
  penalisedPeers(): string[] {
    return this.#penalties.barred(Date.now());
  }

  /** Receives framed messages on `protocol`; the handler must not throw for bad input (punish instead). */
  async onMessage(protocol: ProtocolSpec, handler: MessageHandler): Promise<void> {
    await this.node.handle(
      protocol.id,
      (stream, connection) => {
        const peer = this.#peerKey(connection);
        if (!peer) return void stream.abort(new Error('unknown peer'));
        this.#readFrames(stream, peer, protocol, (payload) => handler(peer, payload));
      },
      { maxInboundStreams: 4 },
    );
  }

  #readFrames(
    stream: Stream,
    peer: string,
    protocol: ProtocolSpec,
    onFrame: (payload: Uint8Array) => void,
  ): void {
    const decoder = new FrameDecoder(protocol.maxFrameBytes);
    const deadline = new FrameDeadlineWatch(decoder, this.#frameDeadline, () => {
      stream.abort(new Error('frame too slow'));
      this.punish(peer, 'slow-frame');
    });
    stream.addEventListener('close', () => deadline.stop(), { once: true });
    stream.addEventListener('message', (event) => {
      this.#lastMessageAt.set(peer, Date.now());
      let frames: Uint8Array[];
      try {
        frames = decoder.push(event.data);
      } catch {
        stream.abort(new Error('bad frame'));
        this.punish(peer, 'oversized-frame');
        return;
      }
      deadline.check();
      for (const frame of frames) onFrame(frame);
    });
  }

  /**
   * Sends one framed message to a peer over a long-lived stream. While the stream is being opened,
   * messages wait in a bounded queue; false means the message was dropped (peer unreachable or
   * queue full): consensus tolerates loss and recovers by its own timers.
   */
  send(protocol: ProtocolSpec, peerKey: string, payload: Uint8Array): boolean {
    if (payload.length > protocol.maxFrameBytes) {
      throw new MedledgerError('P2P_FRAME_TOO_LARGE', 'outgoing frame over the limit');
    }
    const channel = `${protocol.id} ${peerKey}`;
    const stream = this.#outbound.get(channel);
    if (stream && stream.status === 'open' && stream.writeStatus === 'writable') {
      this.#coalesce(channel, stream, payload);
      return true;
    }
    let queue = this.#queued.get(channel);
    if (!queue) {
      queue = [];
      this.#queued.set(channel, queue);
    }
    if (queue.length >= MAX_QUEUED_FRAMES) return false;
    queue.push(payload);
    void this.#openChannel(protocol, peerKey, channel).then((opened) => {
      const waiting = this.#queued.get(channel) ?? [];
      this.#queued.delete(channel);
      if (!opened) return;
      try {
        for (const frame of waiting) opened.send(encodeFrame(frame));
      } catch {}
    });
    return true;
  }

  /**
   * Frames sent to an open stream in one turn of the event loop go out as one write: each write is
   * a Yamux frame, a Noise message and a socket write, and a consensus step sends several messages
   * to each peer at once. The receiver's frame decoder takes frames from any chunking.
   */
  #coalesce(channel: string, stream: Stream, payload: Uint8Array): void {
    const pending = this.#coalescing.get(channel);
    if (pending) {
      pending.frames.push(encodeFrame(payload));
      return;
    }
    this.#coalescing.set(channel, { stream, frames: [encodeFrame(payload)] });
    queueMicrotask(() => {
      const { frames } = this.#coalescing.get(channel)!;
      this.#coalescing.delete(channel);
      try {
        stream.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
      } catch {
        // The stream failed: the next send opens another (what was in this write is lost, as with
        // any message to a peer whose connection drops).
        if (this.#outbound.get(channel) === stream) this.#outbound.delete(channel);
      }
    });
  }

  #openChannel(protocol: ProtocolSpec, peerKey: string, channel: string): Promise<Stream | null> {
    const pending = this.#opening.get(channel);
    if (pending) return pending;
    const peerId = this.#peerIdOfKey.get(peerKey);
    if (!peerId || this.node.getConnections(peerId).length === 0) return Promise.resolve(null);
    const opening = this.node
      .dialProtocol(peerId, protocol.id, { signal: AbortSignal.timeout(5000) })
      .then((stream) => {
        stream.maxWriteBufferLength = 64 * 1024 * 1024;
        this.#outbound.set(channel, stream);
        stream.addEventListener('close', () => {
          if (this.#outbound.get(channel) === stream) this.#outbound.delete(channel);
        });
        return stream;
      })
      .catch(() => null)
      .finally(() => this.#opening.delete(channel));
    this.#opening.set(channel, opening);
    return opening;
  }

  /** Stops answering `protocol` (a component that stops before the host). */
  async offRequest(protocol: ProtocolSpec): Promise<void> {
    await this.node.unhandle(protocol.id);
  }

  /** Serves requests on `protocol`: one request frame in, the handler's frames out, then close. */
  async onRequest(protocol: ProtocolSpec, handler: RequestHandler): Promise<void> {
    await this.node.handle(
      protocol.id,
      (stream, connection) => {
        const peer = this.#peerKey(connection);
        if (!peer) return void stream.abort(new Error('unknown peer'));
        let answered = false;
        this.#readFrames(stream, peer, protocol, (payload) => {
          if (answered) return;
          answered = true;
          handler(peer, payload)
            .then(async (frames) => {
              for (const frame of frames) {
                if (!stream.send(encodeFrame(frame)))
                  await new Promise((r) => stream.addEventListener('drain', r, { once: true }));
              }
              await stream.close();
            })
            .catch(() => stream.abort(new Error('request failed')));
        });
      },
      { maxInboundStreams: 16 },
    );
  }

  /**
   * Sends one request and collects the response frames until the peer closes the stream, then
   * closes this side too: a stream left half-open counts against the peer's maxInboundStreams for
   * the protocol until it is aborted, so without the close, 16 requests within `timeout_ms` filled
   * the peer's limit and later ones failed until the first timed out.
   */
  async request(
    protocol: ProtocolSpec,
    peerKey: string,
    payload: Uint8Array,
    timeout_ms: number,
  ): Promise<Uint8Array[]> {
    const peerId = this.#peerIdOfKey.get(peerKey);
    if (!peerId) throw new MedledgerError('P2P_UNKNOWN_PEER', 'not an allowed peer');
    const signal = AbortSignal.timeout(timeout_ms);
    const stream = await this.node.dialProtocol(peerId, protocol.id, { signal });
    const frames: Uint8Array[] = [];
    const decoder = new FrameDecoder(protocol.maxFrameBytes);
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const timedOut = () => fail(new MedledgerError('P2P_TIMEOUT', 'request timed out'));
      const fail = (error: Error) => {
        signal.removeEventListener('abort', timedOut);
        stream.abort(error);
        reject(error);
      };
      const done = () => {
        signal.removeEventListener('abort', timedOut);
        resolve(frames);
        if (stream.status === 'open') stream.close().catch(() => stream.abort(new Error('close failed')));
      };
      signal.addEventListener('abort', timedOut, { once: true });
      const maxResponseBytes = protocol.maxResponseBytes ?? 16 * protocol.maxFrameBytes;
      let responseBytes = 0;
      stream.addEventListener('message', (event) => {
        responseBytes += event.data.byteLength;
        if (responseBytes > maxResponseBytes) {
          this.punish(peerKey, 'oversized-response');
          return fail(
            new MedledgerError('P2P_RESPONSE_TOO_LARGE', `response over ${maxResponseBytes} bytes`),
          );
        }
        try {
          frames.push(...decoder.push(event.data));
        } catch (error) {
          this.punish(peerKey, 'oversized-frame');
          fail(error as Error);
        }
      });
      stream.addEventListener('remoteCloseWrite', done);
      stream.addEventListener('close', done);
      stream.send(encodeFrame(payload));
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#redialTimers.values()) clearTimeout(timer);
    this.#redialTimers.clear();
    await this.node.stop();
  }
}
