/**
 * Block sync: a replica that is behind asks peers for committed blocks with their commit
 * certificates. The server answers a height range with one frame per block, at most
 * MAX_BLOCKS_PER_REQUEST; the client decodes strictly and hands the blocks to the consensus core,
 * which verifies every certificate before using any of them.
 *
 * A server never serves a block its store finds corrupt (ChainStore.block checks each read) or a
 * certificate that does not verify: its answer stops before that height, and the client asks the
 * next peer for the rest. The same request fetches a good copy for node/scrubber.ts's repairs.
 */
import { decode, encode, struct, u64 } from '../codec/index.ts';
import {
  Block,
  blockHash,
  type ChainStore,
  CommitCertificate,
  checkCertificate,
  LIMITS,
  validatorSet,
} from '../ledger/index.ts';
import type { P2PHost, ProtocolSpec } from '../p2p/host.ts';

/** A server stops adding blocks to a response once it holds this many bytes (the client asks again). */
const RESPONSE_BUDGET_BYTES = 64 * 1024 * 1024;

export const SYNC_PROTOCOL: ProtocolSpec = {
  id: '/medledger/sync/1.0.0',
  maxFrameBytes: LIMITS.blockBytes + 64 * 1024,
  maxResponseBytes: RESPONSE_BUDGET_BYTES + LIMITS.blockBytes + 64 * 1024 + 1024 * 1024,
};
export const MAX_BLOCKS_PER_REQUEST = 256;

export const SyncRequest = struct('SyncRequest', { fromHeight: u64, toHeight: u64 });
const SyncEntry = struct('SyncEntry', { block: Block, certificate: CommitCertificate });
export type SyncEntry = { block: Block; certificate: CommitCertificate };

export async function serveBlockSync(host: P2PHost, store: ChainStore): Promise<void> {
  const validators = validatorSet(store.genesis);
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
      const entry = await servable(store, validators, height);
      if (!entry) break;
      const { block, certificate } = entry;
      const frame = encode(SyncEntry, { block, certificate });
      bytes += frame.length;
      frames.push(frame);
    }
    return frames;
  });
}

/**
 * The block at `height` with its certificate, if the block reads sound and the certificate is a
 * quorum of valid signatures over it (a few signature checks per block served); else null (a corrupt
 * block has been counted and announced by the store, for repair).
 */
async function servable(
  store: ChainStore,
  validators: ReadonlySet<string>,
  height: number,
): Promise<SyncEntry | null> {
  try {
    const [block, certificate] = await Promise.all([store.block(height), store.certificate(height)]);
    if (!block || !certificate) return null;
    const why = checkCertificate(certificate, {
      chainId: store.genesis.chainId,
      validators,
      height,
      blockHash: blockHash(block.header),
      proposedInView: block.header.view,
    });
    return why === null ? { block, certificate } : null;
  } catch {
    return null; // CHAIN_BLOCK_CORRUPT, or a certificate that does not decode: serve nothing from here
  }
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
