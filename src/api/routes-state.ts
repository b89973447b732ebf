/**
 * Read-only routes over the committed state: accounts (nonce and identity by signing key),
 * identities, organisations, records, a patient's records, policies and requests, and the audit
 * trail. Objects are written in the API's JSON form (json.ts).
 */
import type { ServerResponse } from 'node:http';
import {
  type AuditEntry,
  getIdentity,
  getIdentityByKey,
  getOrganisation,
  getRecord,
  lastNonce,
  listAccessRequests,
  listPolicies,
  listRecordIds,
  queryAudit,
  type StateReader,
} from '../contracts/index.ts';
import type { AuditIndex } from '../contracts/keys.ts';
import type { ApiContext, Route } from './context.ts';
import { ApiError, checkId, idParam, intParam, PATH_ID, send } from './http.ts';
import { toJson } from './json.ts';
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

function reply(res: ServerResponse, value: unknown): void {
  send(res, 200, toJson(value));
}

export const stateRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/accounts\/([0-9a-f]{64})$/,
    async handle(ctx, _req, res, [key]) {
      const signingKey = Buffer.from(key!, 'hex');
      const state = stateOf(ctx);
      reply(res, {
        nonce: lastNonce(state, signingKey),
        identity: getIdentityByKey(state, signingKey) ?? null,
      });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/identities/${ID}$`),
    async handle(ctx, _req, res, [param]) {
      const id = checkId(param!, 'the identity id');
      reply(res, found(getIdentity(stateOf(ctx), id), 'API_UNKNOWN_IDENTITY', `identity ${id}`));
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/orgs/${ID}$`),
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
    path: new RegExp(`^/v1/records/${ID}$`),
    async handle(ctx, _req, res, [param]) {
      const id = checkId(param!, 'the record id');
      reply(res, found(getRecord(stateOf(ctx), id), 'API_UNKNOWN_RECORD', `record ${id}`));
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/patients/${ID}/records$`),
    async handle(ctx, _req, res, [param]) {
      const id = patientOf(ctx, param!);
      const ids = await runQuery(ctx.node.store, (state) => listRecordIds(state, id));
      const state = stateOf(ctx);
      reply(res, {
        records: ids.map((recordId) => getRecord(state, recordId)).filter((r) => r !== undefined),
      });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/patients/${ID}/policies$`),
    async handle(ctx, _req, res, [param]) {
      const id = patientOf(ctx, param!);
      reply(res, { policies: await runQuery(ctx.node.store, (state) => listPolicies(state, id)) });
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/patients/${ID}/requests$`),
    async handle(ctx, _req, res, [param]) {
      const id = patientOf(ctx, param!);
      reply(res, { requests: await runQuery(ctx.node.store, (state) => listAccessRequests(state, id)) });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/audit$/,
    async handle(ctx, _req, res, _params, url) {
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
      const page = await runQuery(ctx.node.store, (state) => queryAudit(state, query));
      if (url.searchParams.get('served') === '1') await markServed(ctx, page.entries);
      reply(res, page);
    },
  },
];

/**
 * Marks each permitted read by someone other than the patient with who released a key share for it, asked of the validators now: a
 * permit with fewer than the threshold was decided but not served (a reader cannot have decrypted).
 */
async function markServed(ctx: ApiContext, entries: AuditEntry[]): Promise<void> {
  // The patient's own reads need no share (the key blob holds the key sealed to them): left unmarked.
  const reads = entries.filter(
    (entry) => entry.action === 'read' && entry.decision === 'permit' && entry.actor !== entry.patient,
  );
  if (!ctx.records || reads.length === 0) return;
  const { threshold, releasedBy } = await ctx.records.servedReads(reads.map((entry) => entry.txHash));
  for (const entry of reads) {
    const by = releasedBy.get(Buffer.from(entry.txHash).toString('hex')) ?? [];
    Object.assign(entry, { served: { releasedBy: by, needed: threshold, served: by.length >= threshold } });
  }
}
