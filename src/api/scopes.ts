/**
 * Who may see what through the API, decided from the rule engine's own model (identities, roles,
 * organisations, and the policy evaluator for live permits). The README's API section shows the same
 * table per route; openapi.json names each operation's scope.
 *
 *   scope       who                                              sees
 *   patient     the patient themself                             their records, policies, requests,
 *                                                                audit trail, erasure receipts, refusals
 *   permit      a practitioner for whom the rules permit a read  the metadata (and erasure receipts)
 *               or an append of the record now (grant, care       of those records; the patient's record
 *               team, authorship, emergency window)              list, filtered to them
 *   self        any identity                                     the audit entries and refused queries
 *                                                                where it is the actor
 *   overseer    an organisation's admin identity, or a           its staff, the records in its custody,
 *               practitioner with the org-admin or auditor role  its staff's audit entries and refused
 *                                                                queries
 *   admin       a network admin                                  everything above
 *   member      any active identity                              the directory: identities and
 *                                                                organisations (who registered a patient
 *                                                                only to the patient, network admins and
 *                                                                the registering organisation's people)
 *
 * The functions here only decide; routes refuse with 403 (refusals.ts) and filter lists with them.
 */
import {
  type AuditIndex,
  decideNow,
  getIdentity,
  getRecord,
  type Identity,
  PURPOSES,
  type RecordMeta,
  type StateReader,
} from '../contracts/index.ts';

export function isNetworkAdmin(caller: Identity): boolean {
  return caller.kind === 'network-admin';
}

/**
 * The organisation whose records in custody, staff and audit entries `caller` oversees: an
 * organisation's admin identity, or one of its practitioners holding org-admin or auditor.
 */
export function overseenOrganisation(caller: Identity): string | null {
  if (caller.organisation === null) return null;
  if (caller.kind === 'organisation') return caller.organisation;
  if (caller.kind !== 'practitioner') return null;
  return caller.roles.includes('org-admin') || caller.roles.includes('auditor') ? caller.organisation : null;
}

/** The organisation an identity acts for (a practitioner's or an admin identity's), else null. */
function organisationOf(state: StateReader, id: string): string | null {
  return getIdentity(state, id)?.organisation ?? null;
}

/**
 * True when the rules would let `caller` read or append to `record` now, for some purpose: the
 * practitioner's "live permit" (a grant, a care-team rule, authorship or an open emergency window).
 */
function holdsLivePermit(state: StateReader, caller: Identity, record: RecordMeta, now_ms: number): boolean {
  if (caller.kind !== 'practitioner' || !caller.active) return false;
  const base = { actor: caller, patient: record.patient, record, contentType: record.contentType, now_ms };
  for (const purpose of PURPOSES) {
    if (decideNow(state, { ...base, action: 'read', purpose }).permit) return true;
  }
  // Appending to a record (an amendment) under the care-team rule or an append grant.
  return decideNow(state, { ...base, action: 'append', purpose: 'treatment' }).permit;
}

/** Whether `caller` may see a record's metadata (and its erasure receipts). */
export function mayDescribeRecord(
  state: StateReader,
  caller: Identity,
  record: RecordMeta,
  now_ms: number,
): boolean {
  if (isNetworkAdmin(caller) || caller.id === record.patient) return true;
  const overseen = overseenOrganisation(caller);
  if (overseen !== null && overseen === record.custodian) return true;
  return holdsLivePermit(state, caller, record, now_ms);
}

/**
 * Whether `caller` may list a patient's records at all (each then filtered by mayDescribeRecord):
 * the patient, a network admin, an overseer (who sees those in custody), and a practitioner who may
 * describe one of them or who may add to the patient's file now (the care-team rule).
 */
export function mayListRecords(
  state: StateReader,
  caller: Identity,
  patient: string,
  records: readonly RecordMeta[],
  now_ms: number,
): boolean {
  if (isNetworkAdmin(caller) || caller.id === patient || overseenOrganisation(caller) !== null) return true;
  if (caller.kind !== 'practitioner') return false;
  if (records.some((record) => holdsLivePermit(state, caller, record, now_ms))) return true;
  return decideNow(state, {
    actor: caller,
    action: 'append',
    patient,
    record: null,
    contentType: 'application/octet-stream',
    purpose: 'treatment',
    now_ms,
  }).permit;
}

/** The patient's own consent: their policies and the requests made of them. */
export function mayManageConsent(caller: Identity, patient: string): boolean {
  return isNetworkAdmin(caller) || caller.id === patient;
}

/** What an audit entry (or a refused query) names: who acted, on whose behalf. */
export interface AuditSubject {
  actor: string;
  patient: string | null;
}

/**
 * Why `caller` may see an audit entry or a refused query: `whole` as a network admin, as its patient,
 * or as an overseer of the organisation its actor (someone else) belongs to; `actor` as the one who
 * acted (or asked); null not at all.
 */
export function auditStanding(
  state: StateReader,
  caller: Identity,
): (entry: AuditSubject) => 'whole' | 'actor' | null {
  if (isNetworkAdmin(caller)) return () => 'whole';
  const overseen = overseenOrganisation(caller);
  const organisations = new Map<string, string | null>();
  const organisation = (id: string) => {
    if (!organisations.has(id)) organisations.set(id, organisationOf(state, id));
    return organisations.get(id);
  };
  return (entry) => {
    if (entry.patient === caller.id) return 'whole';
    // One's own actions first: an overseer refused something is told no more than anyone refused it.
    if (entry.actor === caller.id) return 'actor';
    return overseen !== null && organisation(entry.actor) === overseen ? 'whole' : null;
  };
}

/**
 * An audit entry as `caller` may see it, or null (auditStanding). To its actor, the patient of a
 * refusal the rule engine found from a record id is withheld as patientWithheld says.
 */
export function auditEntryView(
  state: StateReader,
  caller: Identity,
  now_ms: number,
): <E extends AuditSubject & RefusedAccess>(entry: E) => E | (Omit<E, 'patient'> & { patient: null }) | null {
  const standing = auditStanding(state, caller);
  return (entry) => {
    const seen = standing(entry);
    if (seen !== 'actor') return seen && entry;
    return patientWithheld(state, caller, entry, now_ms) ? { ...entry, patient: null } : entry;
  };
}

/** What decides whether an access's patient is withheld: an audit entry, or a receipt's access.decided event. */
export interface RefusedAccess {
  action: string;
  decision: string;
  record: string | null;
}

/**
 * The accesses whose transaction names a record and not its patient (a read, an erasure): the rule
 * engine found the patient from the record. The others named the patient themselves.
 */
const FROM_RECORD: ReadonlySet<string> = new Set(['read', 'erase']);

/**
 * Whether the patient of `access` is withheld from `caller` (null: a caller not known, who may have
 * the transaction's bytes and asks for its receipt): for a refused read or erasure, unless they wrote
 * the record or may describe it now, since the refusal is what kept it from them.
 */
export function patientWithheld(
  state: StateReader,
  caller: Identity | null,
  access: RefusedAccess,
  now_ms: number,
): boolean {
  if (access.decision !== 'deny' || !FROM_RECORD.has(access.action) || access.record === null) return false;
  const record = getRecord(state, access.record);
  if (!caller || !record) return true;
  return record.author !== caller.id && !mayDescribeRecord(state, caller, record, now_ms);
}

/**
 * A refused query as `caller` may see it, or null. One who sees it only as the one who asked gets
 * the patient and record it concerns only where the route they asked names them: the node found the
 * rest (a record's patient, the record of someone else's read), which is what it refused to tell.
 */
export function refusalView(
  state: StateReader,
  caller: Identity,
): <E extends AuditSubject & { record: string | null; route: string }>(entry: E) => E | null {
  const standing = auditStanding(state, caller);
  return (entry) => {
    const seen = standing(entry);
    if (seen !== 'actor') return seen === 'whole' ? entry : null;
    const named = (id: string | null) => (id !== null && entry.route.split('/').includes(id) ? id : null);
    return { ...entry, patient: named(entry.patient), record: named(entry.record) };
  };
}

/**
 * Whether `caller` may ask for the audit trail by `by` (and `id`): a network admin anything; an
 * overseer anything (what they see is filtered to their staff); a patient their own trail; anyone
 * their own actions.
 */
export function mayQueryAudit(caller: Identity, by: AuditIndex | 'org', id: string | undefined): boolean {
  if (isNetworkAdmin(caller) || overseenOrganisation(caller) !== null) return true;
  if (by === 'patient') return id === caller.id && caller.kind === 'patient';
  if (by === 'actor') return id === caller.id;
  return false;
}

/**
 * The directory view of an identity: who registered a patient (and so where they are treated) is
 * shown only to the patient, network admins and the registering organisation's overseers and staff.
 */
export function directoryView(state: StateReader, caller: Identity | null, identity: Identity): Identity {
  if (identity.kind !== 'patient' || identity.registeredBy === null) return identity;
  if (caller !== null) {
    if (isNetworkAdmin(caller) || caller.id === identity.id) return identity;
    const registrarOrg = organisationOf(state, identity.registeredBy);
    if (registrarOrg !== null && caller.organisation === registrarOrg) return identity;
  }
  return { ...identity, registeredBy: null };
}
