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
 *   3. the actor is the record's patient                  permit  role:self            (reads)
 *   4. the actor is not a practitioner                    deny    none
 *   5. the actor's organisation is deactivated            deny    organisation-inactive
 *   6. a forbid covers the request                        deny    forbid:<id>
 *   7. the actor wrote the record                         permit  role:author          (reads)
 *   8. an unexpired grant covers the request and purpose  permit  grant:<id>
 *   8a. the actor is a clinician of the organisation      permit  role:care-team       (appends)
 *       that registered the patient
 *   9. the actor holds an open emergency window on the    permit  emergency:<id>       (reads; flagged)
 *      patient and still has the emergency-staff role
 *  10. otherwise                                          deny    none ("no rule permits")
 *
 * A forbid or grant covers a request when its grantee is the actor (as a practitioner, as a member of
 * their organisation, or through one of their roles there), its actions include the request's, and
 * its scope covers the record. Rule 8a lets the hospital where a patient was registered add to the
 * patient's record without a prior grant (the patient came there for care); reading what others
 * wrote still needs consent, and a forbid still wins. When several rules of one kind apply, the
 * smallest id is named, so the named rule does not depend on storage order. Grants are consulted before emergency windows, so a
 * read that consent allows is never recorded as break-glass.
 */
import type {
  Action,
  EmergencyWindow,
  Identity,
  Organisation,
  Policy,
  Purpose,
  RecordMeta,
  Role,
  Scope,
  Subject,
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
    return isRead && actor.id === query.patient
      ? permit('role:self', 'patients read their own records')
      : deny('none', 'no rule permits this');
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
      } else if (policy.purpose === 'any' || policy.purpose === query.purpose) {
        if (policy.expires_ms !== null && now_ms >= policy.expires_ms) {
          if (expired === undefined || policy.id < expired.id) expired = policy;
        } else if (grant === undefined || policy.id < grant.id) {
          grant = policy;
        }
      }
    }
  }
  if (forbid !== undefined) return deny(`forbid:${forbid.id}`, `the patient forbids this (${forbid.id})`);
  if (isRead && record !== null && record.author === actor.id) {
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
  return deny('none', 'no rule permits this');
}
