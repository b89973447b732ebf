/**
 * FHIR exports of the committed state, as NDJSON (`application/fhir+ndjson`, one resource a line):
 *
 *   GET /v1/fhir/AuditEvent?[patient=P | actor=A | org=O][&since=T][&limit=N][&cursor=C]
 *   GET /v1/fhir/Consent?patient=P[&limit=N][&cursor=C]
 *
 * Both page through the audit trail, newest first: `limit` bounds the trail entries read per call
 * (1 to 10,000, default 1,000), and when there are more a `Link: <…&cursor=C>; rel="next"` header
 * names the next call. The events of one entry never straddle two calls. AuditEvents map each entry
 * (src/fhir/audit-event.ts); `org` keeps the entries whose actor is a member of that organisation
 * now (an identity's organisation never changes), read from the whole trail by time. Consents are
 * one per grant or forbid, found where the patient's trail records its creation (grant, forbid,
 * approve): in state while it stands, else (revoked) in the state writes of the block that created
 * it, so revoked policies are exported too, as inactive (src/fhir/consent.ts). A policy created and
 * revoked in one block left no state to read and is not exported.
 *
 * Like /v1/audit and /v1/patients/{id}/policies, which serve the same facts, these take a signed
 * caller and the same scopes (scopes.ts): a patient exports their own trail and consents, anyone
 * their own actions, an overseer their organisation's staff's entries, a network admin everything.
 */
import type { ServerResponse } from 'node:http';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { bytesEqual } from '../bytes.ts';
import {
  type AuditEntry,
  decodeBody,
  getIdentity,
  getOrganisation,
  type Identity,
  MAX_AUDIT_PAGE,
  type Policy,
  PolicyBucket,
  type PolicyEntry,
  PolicyLocator,
  parseSubjectKey,
  queryAudit,
  type StateReader,
  stateKey,
  subjectKey,
} from '../contracts/index.ts';
import { type AuditIndex, patientPrefix } from '../contracts/keys.ts';
import { decodeState } from '../contracts/overlay.ts';
import { auditEvents, type ServedAuditEntry } from '../fhir/audit-event.ts';
import { consentResource } from '../fhir/consent.ts';
import { hex } from '../fhir/ids.ts';
import { type ApiContext, memberOf, type Route } from './context.ts';
import { ApiError, checkId, idParam, intParam } from './http.ts';
import { refuse } from './refusals.ts';
import {
  auditEntryView,
  isNetworkAdmin,
  mayManageConsent,
  mayQueryAudit,
  overseenOrganisation,
} from './scopes.ts';
import { runQuery } from './state-query.ts';

export const DEFAULT_EXPORT_ENTRIES = 1000;
export const MAX_EXPORT_ENTRIES = 10_000;
export const FHIR_NDJSON = 'application/fhir+ndjson';

function badRequest(message: string): ApiError {
  return new ApiError(400, 'API_BAD_REQUEST', message);
}

/** Refuses parameters the route does not know: a misspelt filter must not widen the export. */
function onlyParams(url: URL, known: readonly string[]): void {
  for (const name of url.searchParams.keys()) {
    if (!known.includes(name)) {
      throw badRequest(`unknown query parameter ${name} (known: ${known.join(', ')})`);
    }
  }
}

function limitParam(url: URL): number {
  const limit = intParam(url, 'limit', DEFAULT_EXPORT_ENTRIES, MAX_EXPORT_ENTRIES)!;
  if (limit < 1) throw badRequest(`limit must be from 1 to ${MAX_EXPORT_ENTRIES}`);
  return limit;
}

/** `since`: milliseconds since the epoch, or an ISO 8601 time. */
function sinceParam(url: URL): number | undefined {
  const text = url.searchParams.get('since');
  if (text === null) return undefined;
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw badRequest('since must be milliseconds since the epoch or an ISO 8601 time');
  }
  return ms;
}

interface TrailSlice {
  entries: AuditEntry[];
  /** Where the next call starts; null once the trail is read to its end. */
  cursor: string | null;
}

/** Up to `limit` entries of one audit index, newest first, in pages of the rule engine's maximum. */
async function readTrail(
  ctx: ApiContext,
  query: { by: AuditIndex; id?: string; from_ms?: number },
  limit: number,
  cursor: string | null,
): Promise<TrailSlice> {
  const entries: AuditEntry[] = [];
  let next = cursor;
  do {
    const size = Math.min(MAX_AUDIT_PAGE, limit - entries.length);
    const page = await runQuery(ctx.node.store, (state) =>
      queryAudit(state, { ...query, limit: size, cursor: next }),
    );
    entries.push(...page.entries);
    next = page.cursor;
  } while (next !== null && entries.length < limit);
  return { entries, cursor: next };
}

function sendNdjson(res: ServerResponse, url: URL, resources: Resource[], cursor: string | null): void {
  const body = resources.map((resource) => `${JSON.stringify(resource)}\n`).join('');
  const headers: Record<string, string | number> = {
    'content-type': FHIR_NDJSON,
    'content-length': Buffer.byteLength(body),
  };
  if (cursor !== null) {
    const next = new URL(url);
    next.searchParams.set('cursor', cursor);
    headers.link = `<${next.pathname}${next.search}>; rel="next"`;
  }
  res.writeHead(200, headers);
  res.end(body);
}

function sourceOf(ctx: ApiContext) {
  const genesis = ctx.node.store.genesis;
  const self = genesis.validators[ctx.node.validatorIndex]!;
  return { chainId: genesis.chainId, validatorName: self.name, validatorKey: hex(self.publicKey) };
}

/** When each break-glass window in `entries` ends: its opening transaction gives the duration. */
async function windowEnds(
  ctx: ApiContext,
  entries: readonly ServedAuditEntry[],
): Promise<Map<string, number>> {
  const ends = new Map<string, number>();
  for (const entry of entries) {
    if (entry.action !== 'emergency') continue;
    const found = await ctx.node.store.transaction(entry.txHash);
    if (found?.tx.type !== 'emergency.open') continue;
    ends.set(hex(entry.txHash), entry.timestamp_ms + decodeBody('emergency.open', found.tx.body).duration_ms);
  }
  return ends;
}

/** The policy a creating entry names, from the state writes of its block (it was revoked since). */
async function policyFromBlock(
  ctx: ApiContext,
  patient: string,
  entry: AuditEntry,
  id: string,
): Promise<PolicyEntry | undefined> {
  const prefix = patientPrefix.policies(patient);
  for (const write of (await ctx.node.store.writes(entry.height)) ?? []) {
    if (write.value === null || !bytesEqual(write.key.subarray(0, prefix.length), prefix)) continue;
    const subject = parseSubjectKey(Buffer.from(write.key.subarray(prefix.length)).toString('utf8'));
    const policy = decodeState(PolicyBucket, write.value).find((p) => p.id === id);
    if (subject !== null && policy !== undefined) return { subject, policy };
  }
  return undefined;
}

/**
 * A policy that still stands (its locator is in state, until it is revoked), from its grantee's
 * bucket; buckets are decoded once per call.
 */
function standingPolicies(state: StateReader, patient: string): (id: string) => PolicyEntry | undefined {
  const buckets = new Map<string, Policy[]>();
  return (id) => {
    const where = state.get(stateKey.locator(id));
    if (where === undefined) return undefined;
    const { subject } = decodeState(PolicyLocator, where);
    const key = subjectKey(subject);
    if (!buckets.has(key)) {
      const bucket = state.get(stateKey.policies(patient, subject));
      buckets.set(key, bucket === undefined ? [] : decodeState(PolicyBucket, bucket));
    }
    const policy = buckets.get(key)!.find((p) => p.id === id);
    return policy === undefined ? undefined : { subject, policy };
  };
}

/** The patient's trail entries that create a policy, and the policy's id. */
function createdPolicy(entry: AuditEntry): string | null {
  if (entry.action !== 'grant' && entry.action !== 'forbid' && entry.action !== 'approve') return null;
  const match = /^(?:grant|forbid):(.+)$/.exec(entry.rule);
  return match?.[1] ?? null;
}

export const fhirRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/fhir\/AuditEvent$/,
    access: 'member',
    async handle(ctx, req, res, _params, url, caller) {
      const who = memberOf(caller);
      onlyParams(url, ['patient', 'actor', 'org', 'since', 'limit', 'cursor']);
      const filters = (['patient', 'actor', 'org'] as const).filter((name) => url.searchParams.has(name));
      if (filters.length > 1) throw badRequest('give at most one of patient, actor and org');
      const filter = filters[0];
      const id = filter === undefined ? undefined : idParam(url, filter)!;
      const inScope =
        filter === 'org'
          ? isNetworkAdmin(who) || overseenOrganisation(who) === id
          : mayQueryAudit(who, filter ?? 'time', id);
      if (!inScope) {
        return refuse(
          ctx,
          req,
          who,
          `the audit trail${filter ? ` by ${filter} ${id}` : ''} is not in your scope`,
          {
            patient: filter === 'patient' ? id : null,
          },
        );
      }
      const state = ctx.node.store.stateReader;
      if (filter === 'org' && getOrganisation(state, id!) === undefined) {
        throw new ApiError(404, 'API_UNKNOWN_ORGANISATION', `no organisation ${id}`);
      }
      if ((filter === 'patient' || filter === 'actor') && getIdentity(state, id!) === undefined) {
        throw new ApiError(404, 'API_UNKNOWN_IDENTITY', `no identity ${id}`);
      }
      if (filter === 'patient' && getIdentity(state, id!)?.kind !== 'patient') {
        throw new ApiError(404, 'API_UNKNOWN_PATIENT', `no patient ${id}`);
      }
      // There is no index by organisation: its members' entries are picked from the whole trail.
      const by: AuditIndex = filter === undefined || filter === 'org' ? 'time' : filter;
      const slice = await readTrail(
        ctx,
        { by, ...(by === 'time' ? {} : { id }), from_ms: sinceParam(url) },
        limitParam(url),
        url.searchParams.get('cursor'),
      );
      const identities = new Map<string, Identity | undefined>();
      const identity = (who: string) => {
        if (!identities.has(who)) identities.set(who, getIdentity(state, who));
        return identities.get(who);
      };
      const view = auditEntryView(state, who, Date.now());
      const entries = slice.entries
        .filter((e) => filter !== 'org' || identity(e.actor)?.organisation === id)
        .flatMap((e) => view(e) ?? []);
      const ends = await windowEnds(ctx, entries);
      const context = {
        source: sourceOf(ctx),
        identity,
        windowEnd: (entry: ServedAuditEntry) => ends.get(hex(entry.txHash)),
        now_ms: Date.now(),
      };
      const events: AuditEvent[] = entries.flatMap((entry) => auditEvents(entry, context));
      sendNdjson(res, url, events, slice.cursor);
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/fhir\/Consent$/,
    access: 'member',
    async handle(ctx, req, res, _params, url, caller) {
      onlyParams(url, ['patient', 'limit', 'cursor']);
      const given = url.searchParams.get('patient');
      if (given === null || given === '') throw badRequest('patient is required');
      const patient = checkId(given, 'query parameter patient');
      if (!mayManageConsent(memberOf(caller), patient)) {
        return refuse(
          ctx,
          req,
          memberOf(caller),
          "only the patient (or a network admin) sees a patient's consent",
          {
            patient,
          },
        );
      }
      if (getIdentity(ctx.node.store.stateReader, patient)?.kind !== 'patient') {
        throw new ApiError(404, 'API_UNKNOWN_PATIENT', `no patient ${patient}`);
      }
      const slice = await readTrail(
        ctx,
        { by: 'patient', id: patient },
        limitParam(url),
        url.searchParams.get('cursor'),
      );
      const chainId = ctx.node.store.genesis.chainId;
      const now_ms = Date.now();
      const standing = standingPolicies(ctx.node.store.stateReader, patient);
      const consents = [];
      for (const entry of slice.entries) {
        const id = createdPolicy(entry);
        if (id === null || entry.patient !== patient) continue;
        const current = standing(id);
        const found = current ?? (await policyFromBlock(ctx, patient, entry, id));
        if (found === undefined) continue;
        consents.push(
          consentResource({
            patient,
            ...found,
            revoked: current === undefined,
            created: { chainId, height: entry.height, tx: hex(entry.txHash) },
            now_ms,
          }),
        );
      }
      sendNdjson(res, url, consents, slice.cursor);
    },
  },
];
