/**
 * A patient's grants and forbids as FHIR R4 Consents. Pure: the caller passes in the policy, whom it
 * is about, whether it was revoked, and where the transaction that created it sits.
 *
 * One Consent per policy, its id the policy id (gr-…, fb-…), which is what AuditEvents reference
 * (audit-event.ts). Scope `patient-privacy`, category LOINC 59284-0 (patient consent), the patient
 * as subject and performer, `dateTime` when it was created, and policyRule OPTIN for a grant,
 * OPTOUT for a forbid (medledger denies by default: a grant opts in, a forbid opts out, and wins).
 * Status `active`, or `inactive` once revoked or expired; an expired grant shows it in its period,
 * a revocation is an AuditEvent (revoke). The chain-position extension (ids.ts) names the
 * transaction that created the policy.
 *
 * The provision, of type permit (grant) or deny (forbid):
 *   actor    the grantee, as recipient (IRCP) for read and author (AUT) for append: a practitioner,
 *            an Organization, or everyone with a role there (a Group, by identifier ORG:ROLE)
 *   action   read → access, append → collect (adding to the patient's record)
 *   purpose  the grant's purpose as HL7 PurposeOfUse; none for 'any' (and for forbids)
 *   class    for a scope by type: FHIR resource types, or MIME types (urn:ietf:bcp:13)
 *   data     for a scope by record: the records by identifier, meaning `dependents`: naming a
 *            record's first version covers its amendments (contracts/policy.ts), which this says;
 *            for a later version named directly it says more than the rule engine grants
 *   period   from creation until the grant's expiry (a forbid has no end)
 * A scope of all records has neither class nor data: the provision covers everything.
 */
import type { Coding, Consent, ConsentProvisionActor, ConsentProvisionData } from '@medplum/fhirtypes';
import type { Action, Policy, Scope, Subject } from '../contracts/model.ts';
import {
  type ChainPosition,
  chainPositionExtension,
  instant,
  logicalReference,
  PARTICIPATION,
  PURPOSE_OF_USE,
  reference,
  SYSTEM,
  V3_ACT_REASON,
} from './ids.ts';

export interface ConsentInput {
  patient: string;
  /** Whom the policy is about (its bucket in state). */
  subject: Subject;
  policy: Policy;
  /** The patient revoked it: it is no longer in state. */
  revoked: boolean;
  /** The transaction that created it. */
  created: ChainPosition;
  /** The export's clock: a grant expired by then is inactive. */
  now_ms: number;
}

export const CONSENT_CODES = {
  privacy: {
    system: 'http://terminology.hl7.org/CodeSystem/consentscope',
    code: 'patient-privacy',
    display: 'Privacy Consent',
  },
  patientConsent: { system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' },
  optIn: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN', display: 'opt-in' },
  optOut: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT', display: 'opt-out' },
  access: {
    system: 'http://terminology.hl7.org/CodeSystem/consentaction',
    code: 'access',
    display: 'Access',
  },
  collect: {
    system: 'http://terminology.hl7.org/CodeSystem/consentaction',
    code: 'collect',
    display: 'Collect',
  },
  recipient: PARTICIPATION.recipient,
  author: PARTICIPATION.author,
} as const satisfies Record<string, Coding>;

const ACTION: Record<Action, { action: Coding; role: Coding }> = {
  read: { action: CONSENT_CODES.access, role: CONSENT_CODES.recipient },
  append: { action: CONSENT_CODES.collect, role: CONSENT_CODES.author },
};

export function consentResource(input: ConsentInput): Consent {
  const { patient, subject, policy } = input;
  const permit = policy.effect === 'permit';
  const expired = policy.expires_ms !== null && policy.expires_ms <= input.now_ms;
  const grantee = subjectReference(subject);
  const purpose =
    policy.purpose === 'any' ? undefined : [{ system: V3_ACT_REASON, ...PURPOSE_OF_USE[policy.purpose] }];
  return {
    resourceType: 'Consent',
    id: policy.id,
    extension: [chainPositionExtension(input.created)],
    identifier: [{ system: SYSTEM.policy, value: policy.id }],
    status: input.revoked || expired ? 'inactive' : 'active',
    scope: { coding: [CONSENT_CODES.privacy] },
    category: [{ coding: [CONSENT_CODES.patientConsent] }],
    patient: reference('Patient', SYSTEM.identity, patient),
    dateTime: instant(policy.created_ms),
    performer: [reference('Patient', SYSTEM.identity, patient)],
    policyRule: { coding: [permit ? CONSENT_CODES.optIn : CONSENT_CODES.optOut] },
    provision: {
      type: permit ? 'permit' : 'deny',
      period: {
        start: instant(policy.created_ms),
        ...(policy.expires_ms === null ? {} : { end: instant(policy.expires_ms) }),
      },
      actor: policy.actions.map(
        (action): ConsentProvisionActor => ({ role: { coding: [ACTION[action].role] }, reference: grantee }),
      ),
      action: policy.actions.map((action) => ({ coding: [ACTION[action].action] })),
      ...(purpose === undefined ? {} : { purpose }),
      ...scopeProvision(policy.scope),
    },
  };
}

function subjectReference(subject: Subject): ConsentProvisionActor['reference'] {
  switch (subject.kind) {
    case 'practitioner':
      return reference('Practitioner', SYSTEM.identity, subject.id);
    case 'organisation':
      return reference('Organization', SYSTEM.organisation, subject.id, subject.id);
    case 'role':
      return {
        ...logicalReference(SYSTEM.role, `${subject.organisation}:${subject.role}`, 'Group'),
        display: `every ${subject.role} at ${subject.organisation}`,
      };
  }
}

function scopeProvision(scope: Scope): { class?: Coding[]; data?: ConsentProvisionData[] } {
  switch (scope.kind) {
    case 'all':
      return {};
    case 'types':
      // A content type is a FHIR resource type (Observation) or a MIME type (application/pdf).
      return {
        class: scope.types.map((type) =>
          type.includes('/')
            ? { system: 'urn:ietf:bcp:13', code: type }
            : { system: 'http://hl7.org/fhir/resource-types', code: type },
        ),
      };
    case 'records':
      return {
        data: scope.records.map((record) => ({
          meaning: 'dependents',
          reference: logicalReference(SYSTEM.record, record, 'DocumentReference'),
        })),
      };
  }
}
