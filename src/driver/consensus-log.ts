/**
 * The replica's durable records (types.ts DurableRecord) in their own LevelDB, apart from the chain
 * (whose every record verifyChain accounts for). Each `append` is one synced batch: when it resolves,
 * the records are on disk, and only then may the votes they cover be sent.
 *
 * When a checkpoint becomes stable, records it makes obsolete (votes and prepared certificates at or
 * below it, older views and checkpoints) are deleted in the same batch, so the log stays small.
 */
import { bool, bytes, decode, encode, oneOf, struct, u64, union } from '../codec/index.ts';
import { CheckpointProof, type DurableRecord, PreparedBlock } from '../consensus/index.ts';
import { type ChainDb, openChainDb } from '../ledger/index.ts';

const DurableRecordSchema = union('DurableRecord', {
  view: struct('ViewRecord', { view: u64, changing: bool }),
  floor: struct('FloorRecord', { view: u64 }),
  signed: struct('SignedRecord', {
    phase: oneOf(['preprepare', 'prepare', 'commit']),
    view: u64,
    height: u64,
    blockHash: bytes(32),
  }),
  prepared: struct('PreparedRecord', { cert: PreparedBlock }),
  stable: struct('StableRecord', { proof: CheckpointProof }),
});

const MAX_RECORD_BYTES = 64 * 1024 * 1024;

function key(seq: number): Uint8Array {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(seq));
  return out;
}

function heightOf(record: DurableRecord): number | null {
  if (record.kind === 'signed') return record.height;
  if (record.kind === 'prepared') return record.cert.prePrepare.height;
  return null;
}

export class ConsensusLog {
  readonly #db: ChainDb;
  #next = 0;
  /** Sequence numbers and heights of what is on disk, for compaction. */
  #index: Array<{ seq: number; kind: DurableRecord['kind']; height: number | null }> = [];

  private constructor(db: ChainDb) {
    this.#db = db;
  }

  /** Opens the log and returns it with every record, oldest first. */
  static async open(path: string): Promise<{ log: ConsensusLog; records: DurableRecord[] }> {
    return ConsensusLog.openOn(await openChainDb(path));
  }

  /** Opens the log on an open database (a simulated node's in-memory one, reopened after a crash). */
  static async openOn(db: ChainDb): Promise<{ log: ConsensusLog; records: DurableRecord[] }> {
    const log = new ConsensusLog(db);
    const records: DurableRecord[] = [];
    for await (const [k, v] of log.#db.iterator()) {
      const seq = Number(Buffer.from(k).readBigUInt64BE());
      const record = decode(DurableRecordSchema, v, MAX_RECORD_BYTES) as DurableRecord;
      records.push(record);
      log.#index.push({ seq, kind: record.kind, height: heightOf(record) });
      log.#next = seq + 1;
    }
    return { log, records };
  }

  async append(records: DurableRecord[]): Promise<void> {
    const ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }> =
      [];
    for (const record of records) {
      const seq = this.#next++;
      ops.push({ type: 'put', key: key(seq), value: encode(DurableRecordSchema, record) });
      this.#index.push({ seq, kind: record.kind, height: heightOf(record) });
      if (record.kind === 'stable') ops.push(...this.#compact(record.proof.height, seq));
    }
    await this.#db.batch(ops, { sync: true });
  }

  /** Deletions made obsolete by a stable checkpoint at `height` recorded at `stableSeq`. */
  #compact(height: number, stableSeq: number): Array<{ type: 'del'; key: Uint8Array }> {
    const lastView = this.#index.findLast((e) => e.kind === 'view')?.seq;
    const lastFloor = this.#index.findLast((e) => e.kind === 'floor')?.seq;
    const obsolete = this.#index.filter(
      (e) =>
        (e.height !== null && e.height <= height) ||
        (e.kind === 'stable' && e.seq < stableSeq) ||
        (e.kind === 'view' && e.seq !== lastView) ||
        (e.kind === 'floor' && e.seq !== lastFloor),
    );
    const gone = new Set(obsolete.map((e) => e.seq));
    this.#index = this.#index.filter((e) => !gone.has(e.seq));
    return obsolete.map((e) => ({ type: 'del', key: key(e.seq) }));
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}
