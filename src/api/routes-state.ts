/**
 * Read-only routes over the committed state: accounts (nonce and identity by signing key),
 * identities, organisations, records, a patient's records, policies and requests, the audit trail
 * and the refused queries. Objects are written in the API's JSON form (json.ts). Every route but
 * accounts takes a signed caller, whose scope (scopes.ts) decides what they see: a query outside it
 * is refused (403 API_NOT_IN_SCOPE) and logged (refusals.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fromHex, hex } from '../bytes.ts';
import {
  DEFAULT_AUDIT_PAGE,
  getIdentity,
  getIdentityByKey,
  getOrganisation,
  getRecord,
  type Identity,
  lastNonce,
  listAccessRequests,
  listIdentities,
  listPolicies,
  listRecordIds,
  queryAudit,
  type StateReader,
} from '../contracts/index.ts';
import type { AuditIndex } from '../contracts/keys.ts';
import type { ServedAuditEntry } from '../fhir/audit-event.ts';
import { type ApiContext, memberOf, type Route } from './context.ts';
import { ApiError, checkId, idParam, intParam, PATH_ID, send } from './http.ts';
import { toJson } from './json.ts';
import { refuse } from './refusals.ts';
import {
  auditEntryView,
  directoryView,
  isNetworkAdmin,
  mayDescribeRecord,
  mayListRecords,
  mayManageConsent,
  mayQueryAudit,
  overseenOrganisation,
  refusalView,
} from './scopes.ts';
import { runQuery } from './state-query.ts';

const ID = PATH_ID; // checked with checkId: 400 API_BAD_ID when it cannot be an id
const AUDIT_INDEXES: readonly AuditIndex[] = ['time', 'patient', 'actor', 'record'];

function stateOf(ctx: ApiContext): StateReader {
  return ctx.node.store.stateReader;
}

function found<T>(value: T | undefined, code: string, what: string): T {
  if (value === undefined) throw new ApiError(404, code, `${what} not found`);
  return value;
}

/** `param` checked as an id and naming a patient. */
function patientOf(ctx: ApiContext, param: string): string {
  const id = checkId(param, 'the patient id');
  const identity = getIdentity(stateOf(ctx), id);
  if (identity?.kind !== 'patient') throw new ApiError(404, 'API_UNKNOWN_PATIENT', `no patient ${id}`);
  return id;
}

/** A patient's policies and requests: the patient's own (and network admins'); else refused. */
async function consentOf(ctx: ApiContext, req: IncomingMessage, caller: Identity, param: string) {
  const id = checkId(param, 'the patient id');
  if (!mayManageConsent(caller, id)) {
    await refuse(ctx, req, caller, "only the patient (or a network admin) sees a patient's consent", {
      patient: id,
    });
  }
  return patientOf(ctx, id);
}

function reply(res: ServerResponse, value: unknown): void {
  send(res, 200, toJson(value));
}

export const stateRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/accounts\/([0-9a-f]{64})$/,
    // Open: a client needs its nonce (and its identity id) before it can sign anything. It names the
    // identity that holds a key only to whoever already knows the key.
    access: 'open',
    async handle(ctx, _req, res, [key]) {
      const signingKey = fromHex(key!);
      const state = stateOf(ctx);
      const identity = getIdentityByKey(state, signingKey);
      reply(res, {
        nonce: lastNonce(state, signingKey),
        identity: identity ? directoryView(state, null, identity) : null,
      });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/identities/${ID}$`),
    access: 'member',
    async handle(ctx, _req, res, [param], _url, caller) {
      const id = checkId(param!, 'the identity id');
      const state = stateOf(ctx);
      const identity = found(getIdentity(state, id), 'API_UNKNOWN_IDENTITY', `identity ${id}`);
      reply(res, directoryView(state, memberOf(caller), identity));
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/orgs/${ID}$`),
    access: 'member',
    async handle(ctx, _req, res, [param]) {
      const id = checkId(param!, 'the organisation id');
      const state = stateOf(ctx);
      const org = found(getOrganisation(state, id), 'API_UNKNOWN_ORGANISATION', `organisation ${id}`);
      // The organisation's X25519 key (its admin identity holds it): writers seal the custodian envelope to it.
      reply(res, { ...org, encryptionKey: getIdentity(state, org.admin)?.encryptionKey ?? null });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/orgs/${ID}/members$`),
    access: 'member',
    async handle(ctx, req, res, [param], url, caller) {
      const who = memberOf(caller);
      const id = checkId(param!, 'the organisation id');
      if (!isNetworkAdmin(who) && overseenOrganisation(who) !== id) {
        return refuse(ctx, req, who, `the staff of organisation ${id} is for its overseers`);
      }
      found(getOrganisation(stateOf(ctx), id), 'API_UNKNOWN_ORGANISATION', `organisation ${id}`);
      const after = url.searchParams.get('cursor');
      if (after !== null) checkId(after, 'the cursor');
      // Identities are kept by id, not by organisation: its staff is read out of the directory.
      const limit = intParam(url, 'limit', 100, 1000)!;
      const members: Identity[] = [];
      let cursor: string | null = after;
      for (let reads = 0; reads < MAX_PAGE_READS && members.length < limit; reads++) {
        const from = cursor;
        const read = await runQuery(ctx.node.store, (state) => listIdentities(state, from, MEMBERS_SCAN));
        for (const identity of read) {
          cursor = identity.id;
          if (identity.organisation === id) members.push(identity);
          if (members.length === limit) break;
        }
        if (read.length < MEMBERS_SCAN && members.length < limit) cursor = null; // the directory's end
        if (cursor === null) break;
      }
      reply(res, { members, cursor });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/records/${ID}$`),
    access: 'member',
    async handle(ctx, req, res, [param], _url, caller) {
      const id = checkId(param!, 'the record id');
      const state = stateOf(ctx);
      const record = getRecord(state, id);
      if (record === undefined && isNetworkAdmin(memberOf(caller))) {
        throw new ApiError(404, 'API_UNKNOWN_RECORD', `record ${id} not found`);
      }
      if (record === undefined || !mayDescribeRecord(state, memberOf(caller), record, Date.now())) {
        // The same answer whether or not the record exists: an id outside one's scope says nothing.
        return refuse(ctx, req, memberOf(caller), `record ${id} is not in your scope`, {
          patient: record?.patient ?? null,
          record: id,
        });
      }
      reply(res, record);
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/patients/${ID}/records$`),
    access: 'member',
    async handle(ctx, req, res, [param], _url, caller) {
      const who = memberOf(caller);
      const id = checkId(param!, 'the patient id');
      const ids = await runQuery(ctx.node.store, (state) => listRecordIds(state, id));
      const state = stateOf(ctx);
      const records = ids.map((recordId) => getRecord(state, recordId)).filter((r) => r !== undefined);
      const now_ms = Date.now();
      if (!mayListRecords(state, who, id, records, now_ms)) {
        return refuse(ctx, req, who, `the records of patient ${id} are not in your scope`, { patient: id });
      }
      patientOf(ctx, id);
      reply(res, { records: records.filter((record) => mayDescribeRecord(state, who, record, now_ms)) });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/patients/${ID}/policies$`),
    access: 'member',
    async handle(ctx, req, res, [param], _url, caller) {
      const id = await consentOf(ctx, req, memberOf(caller), param!);
      reply(res, { policies: await runQuery(ctx.node.store, (state) => listPolicies(state, id)) });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/patients/${ID}/requests$`),
    access: 'member',
    async handle(ctx, req, res, [param], _url, caller) {
      const id = await consentOf(ctx, req, memberOf(caller), param!);
      reply(res, { requests: await runQuery(ctx.node.store, (state) => listAccessRequests(state, id)) });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/audit$/,
    access: 'member',
    async handle(ctx, req, res, _params, url, caller) {
      const who = memberOf(caller);
      const by = url.searchParams.get('by') ?? 'time';
      if (!(AUDIT_INDEXES as readonly string[]).includes(by)) {
        throw new ApiError(400, 'BAD_AUDIT_QUERY', `by must be one of ${AUDIT_INDEXES.join(', ')}`);
      }
      const query = {
        by: by as AuditIndex,
        id: url.searchParams.get('id') ? idParam(url, 'id') : undefined, // empty: none (BAD_AUDIT_QUERY)
        from_ms: intParam(url, 'from_ms', undefined, Number.MAX_SAFE_INTEGER),
        to_ms: intParam(url, 'to_ms', undefined, Number.MAX_SAFE_INTEGER),
        limit: intParam(url, 'limit', undefined, 1_000_000),
        cursor: url.searchParams.get('cursor'),
      };
      if (query.by !== 'time' && query.id === undefined) {
        throw new ApiError(400, 'BAD_AUDIT_QUERY', `An audit query by ${query.by} needs an id.`);
      }
      await checkAuditQuery(ctx, req, who, query.by, query.id);
      const view = auditEntryView(stateOf(ctx), who, Date.now());
      const page = await fullPage(query.limit ?? DEFAULT_AUDIT_PAGE, query.cursor, async (limit, cursor) => {
        const read = await runQuery(ctx.node.store, (state) =>
          queryAudit(state, { ...query, limit, cursor }),
        );
        return { entries: read.entries.flatMap((entry) => view(entry) ?? []), cursor: read.cursor };
      });
      if (url.searchParams.get('served') === '1') await markServed(ctx, page.entries);
      reply(res, page);
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/audit\/refusals$/,
    access: 'member',
    async handle(ctx, req, res, _params, url, caller) {
      const who = memberOf(caller);
      const by = url.searchParams.get('by') ?? 'time';
      if (by !== 'time' && by !== 'patient' && by !== 'actor') {
        throw new ApiError(400, 'BAD_AUDIT_QUERY', 'by must be one of time, patient, actor');
      }
      const id = by === 'time' ? undefined : idParam(url, 'id');
      if (by !== 'time' && id === undefined)
        throw new ApiError(400, 'BAD_AUDIT_QUERY', `by=${by} needs an id`);
      await checkAuditQuery(ctx, req, who, by, id);
      const cursor = url.searchParams.get('cursor');
      if (cursor !== null && !/^\d{13}!\d{9}$/.test(cursor)) {
        throw new ApiError(400, 'BAD_AUDIT_QUERY', 'The cursor does not belong to this query.');
      }
      const limit = intParam(url, 'limit', 50, 1000)!;
      const page = ctx.refusals
        ? await ctx.refusals.list({ by, id, limit, cursor })
        : { entries: [], cursor: null };
      const view = refusalView(stateOf(ctx), who);
      reply(res, { entries: page.entries.flatMap((entry) => view(entry) ?? []), cursor: page.cursor });
    },
  },
];

/** Identities read per step of a staff listing. */
const MEMBERS_SCAN = 1000;

/** Filtered pages read until one holds `limit` entries or the data ends (at most this many reads). */
const MAX_PAGE_READS = 32;

/**
 * A page of what the caller may see: `read` gives at most `limit` entries after `cursor`, already
 * filtered to the caller's scope, and the cursor after the last entry it read; reading goes on
 * while the page is short and there is more, so a filter does not leave a page empty.
 */
async function fullPage<T>(
  limit: number,
  cursor: string | null,
  read: (limit: number, cursor: string | null) => Promise<{ entries: T[]; cursor: string | null }>,
): Promise<{ entries: T[]; cursor: string | null }> {
  const entries: T[] = [];
  let next = cursor;
  for (let reads = 0; reads < MAX_PAGE_READS; reads++) {
    const page = await read(limit - entries.length, next);
    entries.push(...page.entries);
    next = page.cursor;
    if (entries.length >= limit || next === null) break;
  }
  return { entries, cursor: next };
}

/**
 * Refuses an audit query outside the caller's scope (scopes.ts mayQueryAudit); a record's patient
 * may also ask by that record.
 */
async function checkAuditQuery(
  ctx: ApiContext,
  req: IncomingMessage,
  caller: Identity,
  by: AuditIndex,
  id: string | undefined,
): Promise<void> {
  if (mayQueryAudit(caller, by, id)) return;
  const record = by === 'record' && id !== undefined ? getRecord(stateOf(ctx), id) : undefined;
  if (record !== undefined && record.patient === caller.id) return;
  const patient = by === 'patient' ? (id ?? null) : (record?.patient ?? null);
  await refuse(ctx, req, caller, `the audit trail by ${by}${id ? ` ${id}` : ''} is not in your scope`, {
    patient,
    record: by === 'record' ? (id ?? null) : null,
  });
}

/**
 * Marks each permitted read by someone other than the patient with who released a key share for it, asked of the validators now: a
 * permit with fewer than the threshold was decided but not served (a reader cannot have decrypted).
 */
async function markServed(ctx: ApiContext, entries: ServedAuditEntry[]): Promise<void> {
  // The patient's own reads need no share (the key blob holds the key sealed to them): left unmarked.
  const reads = entries.filter(
    (entry) => entry.action === 'read' && entry.decision === 'permit' && entry.actor !== entry.patient,
  );
  if (!ctx.records || reads.length === 0) return;
  const { threshold, releasedBy } = await ctx.records.servedReads(reads.map((entry) => entry.txHash));
  for (const entry of reads) {
    const by = releasedBy.get(hex(entry.txHash)) ?? [];
    Object.assign(entry, { served: { releasedBy: by, needed: threshold, served: by.length >= threshold } });
  }
}
