/**
 * Block sync: a replica that is behind asks peers for committed blocks with their commit
 * certificates. The server answers a height range with one frame per block, at most
 * MAX_BLOCKS_PER_REQUEST; the client decodes strictly and hands the blocks to the consensus core,
 * which verifies every certificate before using any of them.
 */
import { decode, encode, struct, u64 } from '../codec/index.ts';
import { Block, type ChainStore, CommitCertificate, LIMITS } from '../ledger/index.ts';
import type { P2PHost, ProtocolSpec } from '../p2p/host.ts';

/** A server stops adding blocks to a response once it holds this many bytes (the client asks again). */
const RESPONSE_BUDGET_BYTES = 64 * 1024 * 1024;

export const SYNC_PROTOCOL: ProtocolSpec = {
  id: '/medledger/sync/1.0.0',
  maxFrameBytes: LIMITS.blockBytes + 64 * 1024,
  maxResponseBytes: RESPONSE_BUDGET_BYTES + LIMITS.blockBytes + 64 * 1024 + 1024 * 1024,
};
export const MAX_BLOCKS_PER_REQUEST = 256;

const SyncRequest = struct('SyncRequest', { fromHeight: u64, toHeight: u64 });
const SyncEntry = struct('SyncEntry', { block: Block, certificate: CommitCertificate });
export type SyncEntry = { block: Block; certificate: CommitCertificate };

export async function serveBlockSync(host: P2PHost, store: ChainStore): Promise<void> {
  await host.onRequest(SYNC_PROTOCOL, async (peer, payload) => {
    let request: { fromHeight: number; toHeight: number };
    try {
      request = decode(SyncRequest, payload, 64);
    } catch {
      host.punish(peer, 'malformed-sync-request');
      return [];
    }
    const to = Math.min(request.toHeight, store.head.height, request.fromHeight + MAX_BLOCKS_PER_REQUEST - 1);
    const frames: Uint8Array[] = [];
    let bytes = 0;
    for (
      let height = Math.max(1, request.fromHeight);
      height <= to && bytes < RESPONSE_BUDGET_BYTES;
      height++
    ) {
      const [block, certificate] = await Promise.all([store.block(height), store.certificate(height)]);
      if (!block || !certificate) break;
      const frame = encode(SyncEntry, { block, certificate });
      bytes += frame.length;
      frames.push(frame);
    }
    return frames;
  });
}

/** Fetches [fromHeight, toHeight] from the first peer that answers; [] if none does. */
export async function fetchBlocks(
  host: P2PHost,
  peers: readonly string[],
  fromHeight: number,
  toHeight: number,
  timeout_ms = 5000,
): Promise<SyncEntry[]> {
  for (const peer of peers) {
    let frames: Uint8Array[];
    try {
      frames = await host.request(
        SYNC_PROTOCOL,
        peer,
        encode(SyncRequest, { fromHeight, toHeight }),
        timeout_ms,
      );
    } catch {
      continue;
    }
    const entries: SyncEntry[] = [];
    try {
      for (const frame of frames) entries.push(decode(SyncEntry, frame, SYNC_PROTOCOL.maxFrameBytes));
    } catch {
      host.punish(peer, 'malformed-sync-response');
      continue;
    }
    if (entries.length > 0) return entries;
  }
  return [];
}
