/**
 * The policy evaluator: decides one access request (read a record, or append one) against the
 * patient's consent, the role rules and emergency windows. Pure and deterministic: the same state and
 * request give the same decision on every node.
 *
 * Default deny. An explicit forbid wins over every permit (the Cedar/XACML convention). The decision
 * names the rule that decided it, so a denial can be explained:
 *
 *   1. the record's content was erased                    deny    record-erased        (reads)
 *   2. the actor is deactivated                           deny    actor-inactive
 *   3. the actor is the record's patient                  permit  role:self            (reads; appends:
 *                                                                 new records, and amendments of
 *                                                                 records the patient added)
 *   4. the actor is not a practitioner                    deny    none
 *   5. the actor's organisation is deactivated            deny    organisation-inactive
 *   6. a forbid covers the request                        deny    forbid:<id>
 *   7. the actor wrote the record, and holds a role       permit  role:author          (reads)
 *      that reads by role (any but insurer, researcher, auditor)
 *   8. an unexpired grant covers the request and purpose, permit  grant:<id>
 *      and one of the actor's roles may use it (below)
 *   8a. the actor is a doctor, nurse or lab technician    permit  role:care-team       (appends)
 *       of the organisation that registered the patient
 *   9. the actor holds an open emergency window on the    permit  emergency:<id>       (reads; flagged)
 *      patient and still has the emergency-staff role
 *  10. otherwise                                          deny    none ("no rule permits")
 *
 * What each role (model.ts ROLES) may be permitted by; forbids bind every role. Appending is gated
 * before the evaluator too (handlers/records.ts): only a clinician or the patient may send record.add
 * at all, anyone else is refused WRONG_ROLE, and that refusal is audited (rule wrong-role).
 *
 *   role                     reads by                                  appends by
 *   doctor, nurse,           role:author; grant:<id>, any purpose      grant:<id>; role:care-team
 *     lab-technician
 *   emergency-staff          role:author; grant:<id>; emergency:<id>   grant:<id>
 *   pharmacist               role:author; grant:<id>, any purpose      nothing: read-only (WRONG_ROLE)
 *   registrar, org-admin     role:author; grant:<id>, any purpose      nothing (WRONG_ROLE)
 *   insurer                  grant:<id> naming the insurer or its      nothing (WRONG_ROLE)
 *                            organisation (not a role), read for
 *                            payment (so the grant's purpose is
 *                            payment or any)
 *   researcher               grant:<id> whose purpose is research      nothing (WRONG_ROLE)
 *                            (not any), read for research
 *   auditor                  nothing: auditors read their organisation's audit trail through the
 *                            API, never records (any record.add: WRONG_ROLE)
 *   the patient (no role)    role:self                                 role:self
 *
 * A practitioner holding several roles may do what any one of them may. A grant to a role
 * (role:<organisation>:<role>) is used through that role only; a grant to the practitioner or to
 * their organisation through any of their roles. A grant permits an append only through a role
 * that appends (doctor, nurse, lab-technician, emergency-staff).
 *
 * A forbid or grant covers a request when its grantee is the actor (as a practitioner, as a member of
 * their organisation, or through one of their roles there), its actions include the request's, and
 * its scope covers the record. Rule 8a lets the hospital where a patient was registered add to the
 * patient's record without a prior grant (the patient came there for care); reading what others
 * wrote still needs consent, and a forbid still wins. When several rules of one kind apply, the
 * smallest id is named, so the named rule does not depend on storage order. Grants are consulted before emergency windows, so a
 * read that consent allows is never recorded as break-glass.
 */
import {
  type Action,
  CLINICAL_ROLES,
  type EmergencyWindow,
  type Identity,
  type Organisation,
  type Policy,
  type Purpose,
  type RecordMeta,
  type Role,
  type Scope,
  type Subject,
} from './model.ts';

/** What the evaluator reads: the engine serves it from state, a benchmark or test from anything. */
export interface PolicySource {
  organisation(id: string): Organisation | undefined;
  policies(patient: string, subject: Subject): readonly Policy[];
  windows(patient: string, actor: string): readonly EmergencyWindow[];
  /** The organisation whose registrar registered the patient; null for genesis patients. */
  homeOrganisation(patient: string): string | null;
}

export interface AccessQuery {
  actor: Identity;
  action: Action;
  patient: string;
  /** For a read, the record; for an amendment, the version it amends; null for a new record. */
  record: RecordMeta | null;
  /** The content type of the record read or written. */
  contentType: string;
  purpose: Purpose;
  now_ms: number;
}

export interface Decision {
  permit: boolean;
  /** record-erased, actor-inactive, organisation-inactive, role:self, role:author, role:care-team, forbid:<id>, grant:<id>, emergency:<id> or none. */
  rule: string;
  /** Permitted by a break-glass window. */
  emergency: boolean;
  /** A sentence for the user. */
  detail: string;
}

/** Who may add to the record of a patient registered at their organisation (rule 8a). */
const CARE_TEAM_ROLES: readonly Role[] = ['doctor', 'nurse', 'lab-technician'];
/** Roles that read only under a grant of their own kind, never by a role rule (7, 8a, 9). */
const GRANT_ONLY_ROLES: readonly Role[] = ['insurer', 'researcher', 'auditor'];

/**
 * Whether `role` may use `policy` (a grant whose grantee is `via`) for the request: the role column
 * of the table above. Reads: auditors never; insurers through a grant naming them or their
 * organisation, reading for payment; researchers under a research grant; others always. Appends:
 * only the roles that author records.
 */
export function roleMayUseGrant(role: Role, via: Subject, policy: Policy, query: AccessQuery): boolean {
  if (query.action === 'append') return CLINICAL_ROLES.includes(role);
  switch (role) {
    case 'auditor':
      return false;
    case 'insurer':
      return via.kind !== 'role' && query.purpose === 'payment';
    case 'researcher':
      return policy.purpose === 'research';
    default:
      return true;
  }
}

/** Whether the actor may use a grant held by `via`: through the role it names, else any of theirs. */
function mayUseGrant(actor: Identity, via: Subject, policy: Policy, query: AccessQuery): boolean {
  const roles = via.kind === 'role' ? [via.role] : actor.roles;
  return roles.some((role) => roleMayUseGrant(role, via, policy, query));
}

const deny = (rule: string, detail: string): Decision => ({ permit: false, rule, emergency: false, detail });
const permit = (rule: string, detail: string, emergency = false): Decision => ({
  permit: true,
  rule,
  emergency,
  detail,
});

/** The grantees an actor acts as: themselves, their organisation, and each of their roles there. */
export function subjectsOf(actor: Identity): Subject[] {
  const subjects: Subject[] = [{ kind: 'practitioner', id: actor.id }];
  const organisation = actor.organisation;
  if (organisation !== null) {
    subjects.push({ kind: 'organisation', id: organisation });
    for (const role of actor.roles) subjects.push({ kind: 'role', organisation, role });
  }
  return subjects;
}

/** Whether `scope` covers the record read or written. */
export function scopeCovers(scope: Scope, record: RecordMeta | null, contentType: string): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'types':
      return scope.types.includes(contentType);
    case 'records':
      // Naming version 1 (the root) covers every version; naming a later version covers that one.
      return record !== null && (scope.records.includes(record.id) || scope.records.includes(record.root));
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

export function decide(source: PolicySource, query: AccessQuery): Decision {
  const { actor, action, record, now_ms } = query;
  const isRead = action === 'read';

  if (isRead && record !== null && record.erased_ms !== null) {
    return deny('record-erased', `record ${record.id} was erased at ${iso(record.erased_ms)}`);
  }
  if (!actor.active) return deny('actor-inactive', `identity ${actor.id} is deactivated`);
  if (actor.kind === 'patient') {
    if (actor.id !== query.patient) return deny('none', 'no rule permits this');
    if (isRead) return permit('role:self', 'patients read their own records');
    // A new record, or an amendment of one the patient added: never a practitioner's record.
    return record === null || record.author === actor.id
      ? permit('role:self', 'patients add records to their own file')
      : deny('none', 'no rule permits this: patients amend only the records they added');
  }
  if (actor.kind !== 'practitioner' || actor.organisation === null) {
    return deny('none', 'no rule permits this: only practitioners and the patient access records');
  }
  if (source.organisation(actor.organisation)?.active !== true) {
    return deny('organisation-inactive', `organisation ${actor.organisation} is deactivated`);
  }

  let forbid: Policy | undefined;
  let grant: Policy | undefined;
  let expired: Policy | undefined;
  for (const subject of subjectsOf(actor)) {
    for (const policy of source.policies(query.patient, subject)) {
      if (!policy.actions.includes(action) || !scopeCovers(policy.scope, record, query.contentType)) continue;
      if (policy.effect === 'forbid') {
        if (forbid === undefined || policy.id < forbid.id) forbid = policy;
      } else if (
        (policy.purpose === 'any' || policy.purpose === query.purpose) &&
        mayUseGrant(actor, subject, policy, query)
      ) {
        if (policy.expires_ms !== null && now_ms >= policy.expires_ms) {
          if (expired === undefined || policy.id < expired.id) expired = policy;
        } else if (grant === undefined || policy.id < grant.id) {
          grant = policy;
        }
      }
    }
  }
  if (forbid !== undefined) return deny(`forbid:${forbid.id}`, `the patient forbids this (${forbid.id})`);
  const byRole = actor.roles.some((role) => !GRANT_ONLY_ROLES.includes(role));
  if (isRead && record !== null && record.author === actor.id && byRole) {
    return permit('role:author', 'authors read the records they wrote');
  }
  if (grant !== undefined) return permit(`grant:${grant.id}`, `permitted by the patient's grant ${grant.id}`);
  if (
    !isRead &&
    actor.roles.some((role) => CARE_TEAM_ROLES.includes(role)) &&
    source.homeOrganisation(query.patient) === actor.organisation
  ) {
    return permit(
      'role:care-team',
      `clinicians of ${actor.organisation}, where the patient registered, add records`,
    );
  }

  if (isRead && actor.roles.includes('emergency-staff')) {
    let open: EmergencyWindow | undefined;
    for (const window of source.windows(query.patient, actor.id)) {
      if (
        window.opened_ms <= now_ms &&
        now_ms < window.expires_ms &&
        (open === undefined || window.id < open.id)
      ) {
        open = window;
      }
    }
    if (open !== undefined) {
      return permit(`emergency:${open.id}`, `emergency access (${open.id}), flagged to the patient`, true);
    }
  }
  if (expired !== undefined && expired.expires_ms !== null) {
    return deny('none', `no rule permits this: grant ${expired.id} expired at ${iso(expired.expires_ms)}`);
  }
  if (!byRole) return deny('none', `no rule permits this: ${grantOnlyDetail(actor.roles)}`);
  return deny('none', 'no rule permits this');
}

/** Why a practitioner holding only grant-only roles was denied, in their roles' terms. */
function grantOnlyDetail(roles: readonly Role[]): string {
  const what: string[] = [];
  if (roles.includes('insurer'))
    what.push('insurers read for payment under a grant naming them or their organisation');
  if (roles.includes('researcher')) what.push('researchers read for research under a research grant');
  if (what.length === 0) return 'auditors read the audit trail, not records';
  return what.join('; ');
}
