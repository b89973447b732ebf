/**
 * An in-memory network of BlobServices for tests and the simulator. Requests and responses go
 * through the real wire encoding (transportOverFrames / BlobService.serveFrames), so only the
 * socket is missing. Each serving peer can be made to misbehave: down, silent, slow, or lying.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CID } from './cid.ts';
import {
  type BlobService,
  type BlobTransport,
  decodeBlobRequest,
  decodeBlobResponse,
  encodeBlobResponse,
  type FetchRequest,
  type PeerId,
  transportOverFrames,
} from './replication.ts';

export interface MemoryPeerBehaviour {
  /** Refuses every request at once (a peer that is down). */
  down?: boolean;
  /** Never answers: every request hangs until the caller gives up (crashed or partitioned). */
  silent?: boolean;
  /** Delay before each response frame (a slow peer). */
  delayMs?: number;
  /** Rewrites each blob it serves (a lying peer); `position` is the blob's place in the response. */
  tamper?: (bytes: Uint8Array, request: FetchRequest, position: number) => Uint8Array;
}

interface MemoryPeer {
  service: BlobService;
  behaviour: MemoryPeerBehaviour;
}

export class MemoryNetwork {
  readonly #peers = new Map<PeerId, MemoryPeer>();
  /** Requests each peer received, by kind. */
  readonly received = new Map<PeerId, { want: number; have: number; fetch: number }>();

  add(peer: PeerId, service: BlobService, behaviour: MemoryPeerBehaviour = {}): void {
    this.#peers.set(peer, { service, behaviour });
  }

  setBehaviour(peer: PeerId, behaviour: MemoryPeerBehaviour): void {
    const entry = this.#peers.get(peer);
    if (entry === undefined) throw new Error(`unknown peer ${peer}`);
    entry.behaviour = behaviour;
  }

  /** The transport `self` uses to reach the other peers. */
  transport(self: PeerId): BlobTransport {
    return transportOverFrames((peer, request, signal) => this.#exchange(self, peer, request, signal));
  }

  async *#exchange(
    from: PeerId,
    to: PeerId,
    request: Uint8Array,
    signal: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    const peer = this.#peers.get(to);
    if (peer === undefined || peer.behaviour.down) throw new Error(`peer ${to} is unreachable`);
    const message = decodeBlobRequest(request);
    const counts = this.received.get(to) ?? { want: 0, have: 0, fetch: 0 };
    counts[message.kind]++;
    this.received.set(to, counts);
    const { behaviour } = peer;
    if (behaviour.silent) {
      await new Promise((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    const fetch: FetchRequest | undefined =
      message.kind === 'fetch'
        ? {
            cid: CID.decode(message.cid),
            ...(message.count > 0 ? { range: { first: message.first, count: message.count } } : {}),
          }
        : undefined;
    let position = 0;
    for await (const frame of peer.service.serveFrames(from, new Uint8Array(request))) {
      if (behaviour.delayMs) await sleep(behaviour.delayMs, undefined, { signal });
      signal.throwIfAborted();
      let out = frame;
      if (behaviour.tamper && fetch) {
        const response = decodeBlobResponse(frame);
        if (response.kind === 'block') {
          const bytes = behaviour.tamper(new Uint8Array(response.bytes), fetch, position++);
          out = encodeBlobResponse({ kind: 'block', bytes });
        }
      }
      yield out;
    }
  }
}
