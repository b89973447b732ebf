/**
 * The node's log of refused API queries: a signed identity asked this node for personal data its
 * scope does not cover (403), e.g. a practitioner without a live permit listing a patient's records.
 * Refused transactions are audited on chain by the rule engine; a query never reaches the chain, so
 * its refusal is kept here, in LevelDB beside the chain, and served at GET /v1/audit/refusals to the
 * same people who may read the audit trail it concerns.
 *
 * Keys (utf8): `t!TIME!SEQ` for all, `p!PATIENT!TIME!SEQ` and `a!ACTOR!TIME!SEQ` as indexes, where
 * TIME is the refusal's time in ms as 13 digits and SEQ a counter that keeps equal times apart.
 * Listings are newest first, paged with an opaque cursor.
 */
import { Level } from 'level';

export interface RefusedQuery {
  time_ms: number;
  /** The identity that asked. */
  actor: string;
  /** The patient whose data was asked for, when the query named one. */
  patient: string | null;
  record: string | null;
  /** `METHOD /path` without the query string (ids in it are the subject, kept above). */
  route: string;
  code: string;
}

export interface RefusalQuery {
  by: 'time' | 'patient' | 'actor';
  id?: string;
  limit: number;
  cursor?: string | null;
}

const digits = (time_ms: number) => String(time_ms).padStart(13, '0');

export class RefusalLog {
  readonly #db: Level<string, string>;
  #seq = 0;

  private constructor(db: Level<string, string>) {
    this.#db = db;
  }

  static async open(dir: string): Promise<RefusalLog> {
    const db = new Level<string, string>(dir);
    await db.open();
    return new RefusalLog(db);
  }

  async add(refusal: RefusedQuery): Promise<void> {
    const suffix = `${digits(refusal.time_ms)}!${String(this.#seq++ % 1e9).padStart(9, '0')}`;
    const value = JSON.stringify(refusal);
    const batch = this.#db.batch().put(`t!${suffix}`, value).put(`a!${refusal.actor}!${suffix}`, value);
    if (refusal.patient !== null) batch.put(`p!${refusal.patient}!${suffix}`, value);
    await batch.write();
  }

  /** One page, newest first; `cursor` continues after the last entry of the previous page. */
  async list(query: RefusalQuery): Promise<{ entries: RefusedQuery[]; cursor: string | null }> {
    const prefix = query.by === 'time' ? 't!' : `${query.by === 'patient' ? 'p' : 'a'}!${query.id}!`;
    const lt = query.cursor ? `${prefix}${query.cursor}` : `${prefix}\xff`;
    const entries: RefusedQuery[] = [];
    let last: string | null = null;
    let more = false;
    for await (const [key, value] of this.#db.iterator({
      gte: prefix,
      lt,
      reverse: true,
      limit: query.limit + 1,
    })) {
      if (entries.length === query.limit) {
        more = true;
        break;
      }
      entries.push(JSON.parse(value) as RefusedQuery);
      last = key.slice(prefix.length);
    }
    return { entries, cursor: more ? last : null };
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}
