/** One-line descriptions of consensus messages, for the simulator's optional event log. */
import { hex } from '../bytes.ts';
import type { ConsensusMessage } from '../consensus/messages.ts';
import { blockHash } from '../ledger/index.ts';

const short = (bytes: Uint8Array) => hex(bytes).slice(0, 8);

export function describeMessage(m: ConsensusMessage): string {
  switch (m.kind) {
    case 'preprepare':
      return `PRE-PREPARE from=${m.from} v=${m.view} h=${m.height} block=${short(blockHash(m.block.header))} txs=${m.block.txs.length}`;
    case 'prepare':
      return `PREPARE from=${m.from} v=${m.view} h=${m.height} block=${short(m.blockHash)}`;
    case 'commit':
      return `COMMIT from=${m.from} v=${m.view} h=${m.height} block=${short(m.blockHash)}`;
    case 'checkpoint':
      return `CHECKPOINT from=${m.from} h=${m.height} block=${short(m.blockHash)}`;
    case 'viewchange':
      return `VIEW-CHANGE from=${m.from} to v=${m.newView} checkpoint=${m.checkpoint.height} prepared=[${m.prepared.map((c) => `${c.prePrepare.height}:${short(blockHash(c.prePrepare.header))}`).join(' ')}]`;
    case 'newview':
      return `NEW-VIEW from=${m.from} v=${m.view} vcs=[${m.viewChanges.map((vc) => vc.from).join(',')}] reproposals=[${m.prePrepares.map((pp) => `${pp.height}:${short(blockHash(pp.header))}`).join(' ')}]`;
    case 'status':
      return `STATUS v=${m.view} h=${m.height}`;
    case 'txs':
      return `TXS n=${m.txs.length}`;
    case 'getbodies':
      return `GET-BODIES ${m.hashes.map(short).join(' ')}`;
    case 'bodies':
      return `BODIES ${m.blocks.map((b) => `${b.header.height}:${short(blockHash(b.header))}`).join(' ')}`;
    case 'proposal':
      return `PROPOSAL from=${m.from} v=${m.view} h=${m.height} block=${short(blockHash(m.header))} txs=${m.txHashes.length} (by hash)`;
    case 'gettxs':
      return `GET-TXS block=${short(m.blockHash)} n=${m.indexes.length}`;
    case 'blocktxs':
      return `BLOCK-TXS block=${short(m.blockHash)} n=${m.txs.length}`;
  }
}
