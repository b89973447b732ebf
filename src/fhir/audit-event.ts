/**
 * The audit trail as FHIR R4 AuditEvents, shaped after IHE's Basic Audit Log Patterns (BALP). Pure:
 * the caller passes in the entry and what it looked up (the actor's identity, when a break-glass
 * window ends). One entry gives one or two events, in the order they happened:
 *
 *   audit entry                       AuditEvent (type / subtype, action, outcome)
 *   read, permitted                   AuthZ-Consent (DCM 110113 / AuthZ-Consent, E, 0), then
 *                                     PatientRead (rest / read, R, 0)
 *   read, denied                      AuthZ-Consent (E, 4)
 *   append, permitted                 AuthZ-Consent (E, 0), then PatientCreate (rest / create, C, 0)
 *   append, denied                    AuthZ-Consent (E, 4)
 *   grant, forbid, revoke, approve    AuthZ-Consent (E, 0): the patient's consent decision
 *   refuse (a request denied)         AuthZ-Consent (E, 4)
 *   request                           PatientCreate of the access request (rest / create, C, 0)
 *   emergency                         Emergency Override Started (DCM 110113 / 110127, E, 0), and,
 *                                     once the window has ended, Emergency Override Stopped (110138)
 *   erase                             PatientDelete (rest / delete, D, 0)
 *   emergency, erase or request       AuthZ-Consent (E, 4): an attempt refused before it was
 *     denied                          decided (the wrong role, not the patient, deactivated)
 *
 * There is no PatientQuery: the trail holds what the rule engine decided on chain, and listing a
 * patient's records, policies or trail is a read of a node's API that the chain never sees.
 *
 * Every event carries the chain-position extension (ids.ts: chain id, height, transaction hash) and
 * has the id `HEIGHT-TXINDEX-SEQ-KIND`, the entry's position in the chain plus the event's kind, so
 * ids are unique and stable across exports. The agents are the actor (requestor; their
 * organisation after them) and, on authorization decisions, the chain's rule engine as the
 * authorization server; the source is the node that exported the trail. The entities are the patient,
 * the record, and the rule that decided, `name`d exactly as the entry names it: a grant or forbid
 * is a reference to the exported Consent of that id (consent.ts), a break-glass window or access
 * request an identifier, any other rule (role:self, none, …) an identifier in SYSTEM.rule.
 * Break-glass events carry the security label BTG.
 *
 * Shaped after BALP, not conformant to it, so no event claims a BALP profile: BALP requires the
 * client application and its network address as agents, which the chain does not record.
 * Identities' display names (roles, organisation) are as they stand at export time.
 */
import type {
  AuditEvent,
  AuditEventAgent,
  AuditEventEntity,
  CodeableConcept,
  Coding,
} from '@medplum/fhirtypes';
import { objectId } from '../contracts/ids.ts';
import type { AuditEntry, Identity } from '../contracts/model.ts';
import {
  chainPositionExtension,
  hex,
  instant,
  logicalReference,
  PARTICIPATION,
  PURPOSE_OF_USE,
  reference,
  SYSTEM,
  V3_ACT_REASON,
} from './ids.ts';

/**
 * An audit entry as served to one caller: the patient may be withheld (null) from the actor of a
 * refused access to a record they may not describe (api/scopes.ts auditEntryView); its events then
 * name no patient.
 */
export type ServedAuditEntry = Omit<AuditEntry, 'patient'> & { patient: string | null };

/** What an export knows beyond the entries: whose node it is, and lookups done before mapping. */
export interface AuditEventContext {
  /** The node serving the trail: every event's source. */
  source: { chainId: string; validatorName: string; validatorKey: string };
  /** The registered identity of an actor (its kind, organisation and roles), or undefined. */
  identity(id: string): Identity | undefined;
  /** When the break-glass window an `emergency` entry opened ends (its transaction says), if known. */
  windowEnd?(entry: ServedAuditEntry): number | undefined;
  /** The export's clock: a window that has ended by then gets its stop event. */
  now_ms: number;
}

export type AuditEventKind = 'authz' | 'read' | 'create' | 'delete' | 'emergency-start' | 'emergency-stop';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const CODES = {
  securityAlert: { system: DCM, code: '110113', display: 'Security Alert' },
  authzConsent: {
    system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType',
    code: 'AuthZ-Consent',
    display: 'Authorization Decision using Roles and Consent',
  },
  overrideStarted: { system: DCM, code: '110127', display: 'Emergency Override Started' },
  overrideStopped: { system: DCM, code: '110138', display: 'Emergency Override Stopped' },
  rest: {
    system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
    code: 'rest',
    display: 'Restful Operation',
  },
  read: { system: 'http://hl7.org/fhir/restful-interaction', code: 'read', display: 'read' },
  create: { system: 'http://hl7.org/fhir/restful-interaction', code: 'create', display: 'create' },
  delete: { system: 'http://hl7.org/fhir/restful-interaction', code: 'delete', display: 'delete' },
  breakTheGlass: { system: V3_ACT_REASON, code: 'BTG', display: 'break the glass' },
} as const satisfies Record<string, Coding>;

const V3_ROLE_CLASS = 'http://terminology.hl7.org/CodeSystem/v3-RoleClass';
const AGENT = {
  ...PARTICIPATION,
  consenter: {
    system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode',
    code: 'CONSENTER',
    display: 'consenter',
  },
  patient: { system: V3_ROLE_CLASS, code: 'PAT', display: 'patient' },
  provider: { system: V3_ROLE_CLASS, code: 'PROV', display: 'healthcare provider' },
  authServer: {
    system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type',
    code: 'authserver',
    display: 'authorization server',
  },
} as const satisfies Record<string, Coding>;

const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const ENTITY = {
  person: { system: ENTITY_TYPE, code: '1', display: 'Person' },
  systemObject: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
  other: { system: ENTITY_TYPE, code: '4', display: 'Other' },
  consent: { system: 'http://hl7.org/fhir/resource-types', code: 'Consent', display: 'Consent' },
  patientRole: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  domainResource: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
} as const satisfies Record<string, Coding>;

const APPLICATION_SERVER: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  code: '4',
  display: 'Application Server',
};

/** The AuditEvents of one audit entry, in the order they happened. */
export function auditEvents(entry: ServedAuditEntry, ctx: AuditEventContext): AuditEvent[] {
  return eventsOf(entry, ctx).map(inElementOrder);
}

/** AuditEvent's elements in the order the R4 specification lists them, as people read them. */
const ELEMENT_ORDER = [
  'resourceType',
  'id',
  'meta',
  'extension',
  'type',
  'subtype',
  'action',
  'period',
  'recorded',
  'outcome',
  'outcomeDesc',
  'purposeOfEvent',
  'agent',
  'source',
  'entity',
] as const;

function inElementOrder(event: AuditEvent): AuditEvent {
  const ordered: Record<string, unknown> = {};
  for (const name of ELEMENT_ORDER) if (event[name] !== undefined) ordered[name] = event[name];
  return Object.assign(ordered, event) as AuditEvent; // anything unlisted keeps its place after them
}

function eventsOf(entry: ServedAuditEntry, ctx: AuditEventContext): AuditEvent[] {
  switch (entry.action) {
    case 'read':
      return entry.decision === 'permit'
        ? [authz(entry, ctx), access(entry, ctx, 'read')]
        : [authz(entry, ctx)];
    case 'append':
      return entry.decision === 'permit'
        ? [authz(entry, ctx), access(entry, ctx, 'create')]
        : [authz(entry, ctx)];
    case 'grant':
    case 'forbid':
    case 'revoke':
    case 'approve':
    case 'refuse':
      return [authz(entry, ctx)];
    case 'request':
      return entry.decision === 'permit' ? [access(entry, ctx, 'create')] : [authz(entry, ctx)];
    case 'erase':
      return entry.decision === 'permit' ? [access(entry, ctx, 'delete')] : [authz(entry, ctx)];
    case 'emergency':
      return entry.decision === 'permit' ? emergency(entry, ctx) : [authz(entry, ctx)];
  }
}

const CONSENT_ACTIONS: ReadonlySet<ServedAuditEntry['action']> = new Set([
  'grant',
  'forbid',
  'revoke',
  'approve',
  'refuse',
] as const);

/** An authorization decision: an access decided by the rule engine, or the patient's consent change. */
function authz(entry: ServedAuditEntry, ctx: AuditEventContext): AuditEvent {
  // Anything but the patient's consent changes is an access, decided or refused before a decision.
  const access = !CONSENT_ACTIONS.has(entry.action);
  // A refused request is the patient denying access, though the refusal itself went through.
  const denied = entry.decision === 'deny' || entry.action === 'refuse';
  const entity = [...patientEntities(entry.patient)];
  if (entry.record !== null) entity.push(recordEntity(entry.record));
  entity.push(ruleEntity(entry.rule, entry.reason));
  return {
    ...common(entry, ctx, 'authz', entry.timestamp_ms),
    type: CODES.securityAlert,
    subtype: [CODES.authzConsent],
    action: 'E',
    outcome: denied ? '4' : '0',
    outcomeDesc: access ? accessOutcome(entry) : consentOutcome(entry),
    ...purposeOfEvent(entry),
    agent: [
      // Consent changes are the patient's own decisions; an access is asked for by its recipient.
      ...actorAgents(entry, ctx, access ? AGENT.recipient : AGENT.consenter),
      {
        type: { coding: [AGENT.authServer] },
        who: {
          ...logicalReference(SYSTEM.chain, ctx.source.chainId),
          display: 'the rule engine of the chain',
        },
        requestor: false,
      },
    ],
    entity,
  };
}

/** A read, a new record (or access request), or an erasure that went ahead. */
function access(
  entry: ServedAuditEntry,
  ctx: AuditEventContext,
  interaction: 'read' | 'create' | 'delete',
): AuditEvent {
  const entity = [...patientEntities(entry.patient)];
  if (entry.action === 'request') {
    entity.push({
      ...ruleEntity(entry.rule, entry.reason),
      type: ENTITY.systemObject,
      role: ENTITY.domainResource,
    });
  } else {
    if (entry.record !== null) entity.push(recordEntity(entry.record));
    entity.push(ruleEntity(entry.rule, ''));
  }
  const agentType =
    interaction === 'read' ? AGENT.recipient : interaction === 'create' ? AGENT.author : AGENT.patient;
  return {
    ...common(entry, ctx, interaction, entry.timestamp_ms),
    type: CODES.rest,
    subtype: [CODES[interaction]],
    action: interaction === 'read' ? 'R' : interaction === 'create' ? 'C' : 'D',
    outcome: '0',
    ...purposeOfEvent(entry),
    agent: actorAgents(entry, ctx, agentType),
    entity,
  };
}

/** Break-glass: the window's start, and its end once it has passed (no transaction closes a window). */
function emergency(entry: ServedAuditEntry, ctx: AuditEventContext): AuditEvent[] {
  const windowId = objectId('window', entry.txHash);
  const end_ms = ctx.windowEnd?.(entry);
  const shared = {
    type: CODES.securityAlert,
    action: 'E' as const,
    outcome: '0' as const,
    period: { start: instant(entry.timestamp_ms), ...(end_ms === undefined ? {} : { end: instant(end_ms) }) },
    purposeOfEvent: [{ coding: [purposeCoding('emergency')], text: entry.reason }],
    agent: actorAgents(entry, ctx, AGENT.recipient),
    entity: [...patientEntities(entry.patient), ruleEntity(`emergency:${windowId}`, entry.reason)],
  };
  const until = end_ms === undefined ? '' : ` until ${instant(end_ms)}`;
  const events: AuditEvent[] = [
    {
      ...common(entry, ctx, 'emergency-start', entry.timestamp_ms),
      ...shared,
      subtype: [CODES.overrideStarted],
      outcomeDesc: `break-glass window ${windowId} opened${until}: ${entry.reason}`,
    },
  ];
  if (end_ms !== undefined && end_ms <= ctx.now_ms) {
    events.push({
      ...common(entry, ctx, 'emergency-stop', end_ms),
      ...shared,
      subtype: [CODES.overrideStopped],
      outcomeDesc: `break-glass window ${windowId} ended`,
    });
  }
  return events;
}

/** What every event has: id, security label, chain position, time and source. */
function common(entry: ServedAuditEntry, ctx: AuditEventContext, kind: AuditEventKind, recorded_ms: number) {
  return {
    resourceType: 'AuditEvent' as const,
    id: `${entry.height}-${entry.txIndex}-${entry.seq}-${kind}`,
    ...(entry.emergency ? { meta: { security: [CODES.breakTheGlass] } } : {}),
    extension: [
      chainPositionExtension({ chainId: ctx.source.chainId, height: entry.height, tx: hex(entry.txHash) }),
    ],
    recorded: instant(recorded_ms),
    source: {
      site: ctx.source.chainId,
      observer: {
        ...logicalReference(SYSTEM.validator, ctx.source.validatorKey),
        display: ctx.source.validatorName,
      },
      type: [APPLICATION_SERVER],
    },
  };
}

function actorIsPatient(entry: ServedAuditEntry): boolean {
  return entry.actor === entry.patient;
}

/** The actor (the requestor) and, for a practitioner, their organisation. */
function actorAgents(entry: ServedAuditEntry, ctx: AuditEventContext, type: Coding): AuditEventAgent[] {
  const identity = ctx.identity(entry.actor);
  const purpose = purposeOfEvent(entry).purposeOfEvent;
  const actor: AuditEventAgent = {
    type: { coding: [type] },
    who: actorReference(entry, identity),
    requestor: true,
    ...(purpose === undefined ? {} : { purposeOfUse: purpose }),
  };
  const organisation = identity?.organisation ?? null;
  if (organisation === null) return [actor];
  return [
    actor,
    {
      type: { coding: [AGENT.provider] },
      who: reference('Organization', SYSTEM.organisation, organisation, organisation),
      requestor: false,
    },
  ];
}

function actorReference(entry: ServedAuditEntry, identity: Identity | undefined) {
  if (identity?.kind === 'patient' || (identity === undefined && actorIsPatient(entry))) {
    return reference(
      'Patient',
      SYSTEM.identity,
      entry.actor,
      actorIsPatient(entry) ? 'the patient' : 'patient',
    );
  }
  if (identity?.kind === 'practitioner') {
    const roles = identity.roles.length > 0 ? identity.roles.join(', ') : 'practitioner';
    const where = identity.organisation === null ? '' : ` at ${identity.organisation}`;
    return reference('Practitioner', SYSTEM.identity, entry.actor, `${roles}${where}`);
  }
  return logicalReference(SYSTEM.identity, entry.actor);
}

/** The patient entity, none when the patient is withheld from this reader. */
function patientEntities(patient: string | null): AuditEventEntity[] {
  if (patient === null) return [];
  return [
    { what: reference('Patient', SYSTEM.identity, patient), type: ENTITY.person, role: ENTITY.patientRole },
  ];
}

function recordEntity(record: string): AuditEventEntity {
  return {
    what: logicalReference(SYSTEM.record, record, 'DocumentReference'),
    type: ENTITY.systemObject,
    role: ENTITY.domainResource,
  };
}

/** The rule that decided, `name`d as the audit entry names it. */
function ruleEntity(rule: string, description: string): AuditEventEntity {
  const [kind, id] = splitRule(rule);
  const described = description === '' ? {} : { description };
  if ((kind === 'grant' || kind === 'forbid') && id !== '') {
    return { what: reference('Consent', SYSTEM.policy, id), type: ENTITY.consent, name: rule, ...described };
  }
  const system = kind === 'emergency' ? SYSTEM.window : kind === 'request' ? SYSTEM.request : SYSTEM.rule;
  const value = system === SYSTEM.rule ? rule : id;
  return {
    what: logicalReference(system, value),
    type: ENTITY.other,
    name: rule,
    description: description === '' ? describeRule(rule) : description,
  };
}

function splitRule(rule: string): [string, string] {
  const colon = rule.indexOf(':');
  return colon < 0 ? [rule, ''] : [rule.slice(0, colon), rule.slice(colon + 1)];
}

/** The policy evaluator's fixed rules (contracts/policy.ts), in words. */
const RULES: Record<string, string> = {
  'role:self': 'patients read, add to and erase their own records',
  'role:author': 'authors read the records they wrote',
  'role:care-team': 'clinicians where the patient registered add to their record',
  'role:emergency-staff': 'emergency staff may break the glass',
  'record-erased': 'the record was erased',
  'actor-inactive': 'the actor is deactivated',
  'organisation-inactive': "the actor's organisation is deactivated",
  none: 'no rule permits this',
  'wrong-role': "the actor's roles do not allow this",
  'not-patient': 'only the patient concerned may do this',
};

function describeRule(rule: string): string {
  const [kind, id] = splitRule(rule);
  if (kind === 'grant') return `the patient's grant ${id}`;
  if (kind === 'forbid') return `the patient's forbid ${id}`;
  if (kind === 'emergency') return `break-glass window ${id}`;
  if (kind === 'request') return `access request ${id}`;
  return RULES[rule] ?? rule;
}

function accessOutcome(entry: ServedAuditEntry): string {
  const verdict = entry.decision === 'permit' ? 'permitted by' : 'denied:';
  return `${entry.action} ${verdict} ${describeRule(entry.rule)} (rule ${entry.rule})`;
}

function consentOutcome(entry: ServedAuditEntry): string {
  const id = splitRule(entry.rule)[1];
  switch (entry.action) {
    case 'grant':
      return `granted ${id} ${entry.reason}`;
    case 'forbid':
      return `forbade ${id} ${entry.reason}`;
    case 'revoke':
      return `revoked ${id} ${entry.reason}`;
    case 'approve':
      return `approved ${entry.reason}, granting ${id}`;
    default:
      return `refused ${id} (${entry.reason})`;
  }
}

function purposeCoding(purpose: keyof typeof PURPOSE_OF_USE): Coding {
  return { system: V3_ACT_REASON, ...PURPOSE_OF_USE[purpose] };
}

/** The purpose the actor gave; a break-glass read is emergency treatment whatever it said. */
function purposeOfEvent(entry: ServedAuditEntry): { purposeOfEvent?: CodeableConcept[] } {
  const codings: Coding[] = [];
  if (entry.purpose !== null) codings.push(purposeCoding(entry.purpose));
  if (entry.emergency && entry.purpose !== 'emergency') codings.push(purposeCoding('emergency'));
  if (codings.length === 0) return {};
  const text = entry.action === 'request' ? { text: entry.reason } : {};
  return { purposeOfEvent: codings.map((coding) => ({ coding: [coding], ...text })) };
}
