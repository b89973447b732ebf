/**
 * How medledger's ids appear in the FHIR it exports (audit-event.ts, consent.ts): one identifier
 * system per kind of id, literal references (`Patient/<id>`) for the things FHIR has a resource
 * for, and the chain-position extension that ties each exported resource to the block and
 * transaction that recorded it, so anyone holding the export can check it against the chain
 * (`GET /v1/txs/{tx}` answers with the transaction's height).
 *
 * The systems are URNs because medledger ids are not issued under any domain; a network that wants
 * its own namespace can rewrite them without losing anything, as every value is the id verbatim.
 */
import type { Extension, Identifier, Reference, ResourceType } from '@medplum/fhirtypes';
import { hex } from '../bytes.ts';

export { hex };

export const SYSTEM = {
  /** Identity ids: patients and practitioners (32 hex digits, derived from their first key). */
  identity: 'urn:medledger:identity',
  organisation: 'urn:medledger:organisation',
  /** Everyone holding a role at an organisation, as `ORGANISATION:ROLE` (a grant to role:st-mary:nurse). */
  role: 'urn:medledger:role',
  record: 'urn:medledger:record',
  /** Grant and forbid ids (gr-…, fb-…): the ids of the exported Consents. */
  policy: 'urn:medledger:policy',
  request: 'urn:medledger:request',
  window: 'urn:medledger:emergency-window',
  /** The rule that decided, exactly as the audit entry names it (role:self, none, …). */
  rule: 'urn:medledger:rule',
  /** A validator's Ed25519 public key, as hex. */
  validator: 'urn:medledger:validator',
  chain: 'urn:medledger:chain',
} as const;

/**
 * The chain-position extension: `chain` (the chain id), `height` (the block) and `tx` (the
 * transaction hash, 64 hex digits). On an AuditEvent it is the transaction whose audit entry the
 * event maps; on a Consent, the transaction that created the grant or forbid.
 */
export const CHAIN_POSITION_URL = 'urn:medledger:fhir:chain-position';

export interface ChainPosition {
  chainId: string;
  height: number;
  /** The transaction hash as lowercase hex. */
  tx: string;
}

export function chainPositionExtension(position: ChainPosition): Extension {
  return {
    url: CHAIN_POSITION_URL,
    extension: [
      { url: 'chain', valueString: position.chainId },
      { url: 'height', valueUnsignedInt: position.height },
      { url: 'tx', valueString: position.tx },
    ],
  };
}

/** The chain position a resource carries, or undefined when it has none (or a malformed one). */
export function chainPositionOf(resource: { extension?: Extension[] }): ChainPosition | undefined {
  const parts = resource.extension?.find((e) => e.url === CHAIN_POSITION_URL)?.extension ?? [];
  const part = (url: string) => parts.find((e) => e.url === url);
  const chainId = part('chain')?.valueString;
  const height = part('height')?.valueUnsignedInt;
  const tx = part('tx')?.valueString;
  if (chainId === undefined || height === undefined || tx === undefined || !/^[0-9a-f]{64}$/.test(tx)) {
    return undefined;
  }
  return { chainId, height, tx };
}

/** An ISO 8601 instant, as FHIR's `instant` and `dateTime` take it. */
export const instant = (ms: number) => new Date(ms).toISOString();

/** A reference without the resource it points to, so it fits any reference field. */
export type BareReference = Reference<never>;

/** What a FHIR resource id may be; medledger's ids all are, but a reference never assumes it. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * A reference to the resource of `type` whose id is the medledger id (`Patient/3f1c…`): literal
 * when the id is a valid FHIR id, else logical (type and identifier). The exports serve Consents;
 * Patient, Practitioner and Organization references name resources a FHIR server fed from the
 * chain would hold under the same ids.
 */
export function reference(type: ResourceType, system: string, id: string, display?: string): BareReference {
  const ref: BareReference = FHIR_ID.test(id)
    ? { reference: `${type}/${id}` }
    : { type, identifier: identifier(system, id) };
  if (display !== undefined) ref.display = display;
  return ref;
}

/** A reference by identifier only, for what has no resource of its own (a record, a rule). */
export function logicalReference(system: string, value: string, type?: ResourceType): BareReference {
  return type === undefined
    ? { identifier: identifier(system, value) }
    : { type, identifier: identifier(system, value) };
}

function identifier(system: string, value: string): Identifier {
  return { system, value };
}

/** The FHIR purpose of use (HL7 v3 ActReason) of each medledger purpose. */
export const PURPOSE_OF_USE = {
  treatment: { code: 'TREAT', display: 'treatment' },
  emergency: { code: 'ETREAT', display: 'Emergency Treatment' },
  payment: { code: 'HPAYMT', display: 'healthcare payment' },
  operations: { code: 'HOPERAT', display: 'healthcare operations' },
  research: { code: 'HRESCH', display: 'healthcare research' },
  'public-health': { code: 'PUBHLTH', display: 'public health' },
} as const;

export const V3_ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

const V3_PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
/** How a person takes part (HL7 v3 ParticipationType): an AuditEvent's agent, a Consent's actor. */
export const PARTICIPATION = {
  recipient: { system: V3_PARTICIPATION, code: 'IRCP', display: 'information recipient' },
  author: { system: V3_PARTICIPATION, code: 'AUT', display: 'author (originator)' },
} as const;
