/**
 * Runs the rule engine's read-side queries (src/contracts/queries.ts) against the node's committed
 * state in LevelDB. The queries are synchronous: point reads use LevelDB's synchronous get, and
 * range reads are recorded, fetched asynchronously, and the query replayed over what was fetched.
 * Every query in queries.ts asks for its ranges up front, so one replay suffices; a few more rounds
 * are allowed for queries whose later ranges depend on earlier results.
 */
import { hex } from '../bytes.ts';
import type { RangeReader, StateReader } from '../contracts/index.ts';
import type { ChainStore } from '../ledger/index.ts';

const MAX_ROUNDS = 4;

interface RangeCall {
  gte: Uint8Array;
  lt: Uint8Array;
  limit: number;
  reverse: boolean;
}

const callId = (c: RangeCall) => `${hex(c.gte)}:${hex(c.lt)}:${c.limit}:${c.reverse}`;

export async function runQuery<T>(
  store: ChainStore,
  query: (state: StateReader & RangeReader) => T,
): Promise<T> {
  const fetched = new Map<string, Array<[Uint8Array, Uint8Array]>>();
  for (let round = 0; ; round++) {
    const missing: RangeCall[] = [];
    const reader: StateReader & RangeReader = {
      get: store.stateReader.get,
      range(gte, lt, limit, reverse = false) {
        const call = { gte, lt, limit, reverse };
        const rows = fetched.get(callId(call));
        if (rows) return rows;
        missing.push(call);
        return [];
      },
    };
    let result: T;
    try {
      result = query(reader);
    } catch (error) {
      // A query may fail on the empty stand-in ranges; only an error over real data counts.
      if (missing.length === 0 || round === MAX_ROUNDS) throw error;
      result = undefined as T;
    }
    if (missing.length === 0) return result;
    if (round === MAX_ROUNDS) throw new Error('a state query kept asking for new ranges');
    for (const call of missing) {
      fetched.set(callId(call), await store.stateRange(call.gte, call.lt, call.limit, call.reverse));
    }
  }
}
