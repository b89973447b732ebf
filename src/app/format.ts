/** Words for what the node returns: times, grantees, scopes, rules, identities and record types. */
import type { AsJson, IdentityJson } from '../client/api-types.ts';
import type { Scope, Subject } from '../contracts/model.ts';

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export const dateTime = (ms: number): string => DATE_TIME.format(new Date(ms));
export const date = (ms: number): string => DATE.format(new Date(ms));

/** The first characters of a long id, enough to tell ids apart on a screen. */
export const shortId = (id: string): string => (id.length > 14 ? `${id.slice(0, 12)}…` : id);

export function subjectText(subject: AsJson<Subject>): string {
  switch (subject.kind) {
    case 'practitioner':
      return `practitioner ${shortId(subject.id)}`;
    case 'organisation':
      return `everyone at ${subject.id}`;
    case 'role':
      return `every ${subject.role} at ${subject.organisation}`;
  }
}

export function scopeText(scope: AsJson<Scope>): string {
  switch (scope.kind) {
    case 'all':
      return 'all my records';
    case 'types':
      return `records of type ${scope.types.join(', ')}`;
    case 'records':
      return scope.records.length === 1
        ? `record ${shortId(scope.records[0]!)}`
        : `${scope.records.length} records`;
  }
}

/** The rule that decided an access, as the audit trail names it (contracts/policy.ts). */
export function ruleText(rule: string): string {
  const [kind, id] = [rule.slice(0, rule.indexOf(':')), rule.slice(rule.indexOf(':') + 1)];
  if (kind === 'grant') return `your grant ${shortId(id)}`;
  if (kind === 'forbid') return `your forbid ${shortId(id)}`;
  if (kind === 'emergency') return `emergency access ${shortId(id)}`;
  if (kind === 'request') return `request ${shortId(id)}`;
  const named: Record<string, string> = {
    'role:self': 'your own access',
    'role:author': 'the author of the record',
    'role:care-team': 'the care team of the record’s organisation',
    'role:emergency-staff': 'an emergency staff member',
    none: 'no grant or rule allowed it',
    'record-erased': 'the record was erased',
    'actor-inactive': 'the person is deactivated',
    'organisation-inactive': 'the organisation is deactivated',
    'wrong-role': 'the person’s role does not allow it',
    'not-patient': 'only you may do this',
  };
  return named[rule] ?? rule;
}

/** Who an identity is, in a few words: their roles and organisation. */
export function identityText(identity: IdentityJson, me: string): string {
  if (identity.id === me) return 'you';
  switch (identity.kind) {
    case 'practitioner':
      return `${identity.roles.join(', ') || 'practitioner'} at ${identity.organisation}`;
    case 'organisation':
      return `administrator of ${identity.organisation}`;
    case 'network-admin':
      return 'network administrator';
    case 'patient':
      return 'a patient';
  }
}

/** FHIR resource types are single words; anything with a slash is a MIME type. */
export const isFhirType = (contentType: string): boolean => /^[A-Z][A-Za-z]+$/.test(contentType);

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
