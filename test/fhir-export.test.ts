/**
 * The FHIR exports. A trail holding every kind of audit entry, made by the rule engine over the
 * in-memory chain, maps to AuditEvents that Medplum's R4 validator accepts, with BALP's codes, the
 * actor and their organisation as agents, the patient, record and deciding rule as entities, and the
 * block height and transaction of the entry; grants and forbids of every scope and grantee kind map
 * to valid Consents. Then both exports end to end: one in-process validator with its HTTP API, read
 * through the client, the CLI and plain HTTP (paging, filters, revoked consents, break-glass stops),
 * each signed by whom the export is for: the patient their trail and consents, the hospital's admin
 * its staff's actions, a network admin anything; others are refused (403), the unsigned too (401).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Consent } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startApi } from '../src/api/server.ts';
import { fromHex, hex } from '../src/bytes.ts';
import { main } from '../src/cli/main.ts';
import { NodeClient } from '../src/client/http.ts';
import { createdIdOf, submitAndWait } from '../src/client/submit.ts';
import {
  AUDIT_ACTIONS,
  type AuditEntry,
  createdId,
  decodeBody,
  getIdentity,
  identityId,
  listPolicies,
  objectId,
  type PolicyEntry,
  queryAudit,
  signPatientRegistration,
  type TxBody,
} from '../src/contracts/index.ts';
import {
  generateIdentityKeys,
  generateSigningKeyPair,
  type IdentityKeys,
  writeKeystore,
} from '../src/crypto/index.ts';
import { type AuditEventContext, auditEvents, CODES } from '../src/fhir/audit-event.ts';
import { CONSENT_CODES, consentResource } from '../src/fhir/consent.ts';
import { CHAIN_POSITION_URL, chainPositionOf, SYSTEM } from '../src/fhir/ids.ts';
import { fhirProblems } from '../src/fhir/validate.ts';
import { txHash } from '../src/ledger/transaction.ts';
import {
  CHAIN_ID,
  Chain,
  cidOf,
  expectCode,
  HOSPITAL,
  INSURER,
  LAB,
  type Party,
} from './fixtures/contracts.ts';
import { signedGet, signedHeaders, signerOf } from './fixtures/signed.ts';
import { FAST_PARAMS, startValidators, type TestValidators } from './fixtures/validators.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Each FHIR problem as one line, so a failure says which resource and where. */
function problemsOf(resource: AuditEvent | Consent): string[] {
  return fhirProblems(resource).map((p) => `${resource.resourceType}/${resource.id} ${p.path}: ${p.message}`);
}

describe('the audit trail as AuditEvents', () => {
  let chain: Chain;
  let patient: Party;
  let doctor: Party;
  let nurse: Party;
  let labTech: Party;
  let insurerClerk: Party;
  let erNurse: Party;
  let record: string;
  let entries: AuditEntry[];
  let events: Map<AuditEntry, AuditEvent[]>;
  const reason = 'unconscious on arrival';

  beforeAll(() => {
    chain = new Chain(undefined, { sign: false });
    const hospital = chain.network.orgs[HOSPITAL];
    const registrar = chain.practitioner(hospital, ['registrar']);
    doctor = chain.practitioner(hospital, ['doctor'], 'doctor');
    nurse = chain.practitioner(hospital, ['nurse'], 'nurse');
    erNurse = chain.practitioner(hospital, ['emergency-staff'], 'er nurse');
    labTech = chain.practitioner(chain.network.orgs[LAB], ['lab-technician'], 'lab');
    insurerClerk = chain.practitioner(chain.network.orgs[INSURER], ['registrar'], 'insurer');
    patient = chain.patient(registrar);

    const add = chain.tx(doctor, 'record.add', chain.recordBody(patient)); // append, permitted (care team)
    expectCode(chain.block([add]).receipts[0]!, 'OK');
    record = createdId('record', add);
    expectCode(chain.send(labTech, 'record.add', chain.recordBody(patient)), 'DENIED'); // append, denied
    const read = (who: Party) => chain.send(who, 'record.read', { record, purpose: 'treatment' });
    expectCode(read(labTech), 'DENIED'); // read, denied (no rule)
    const grant = chain.tx(patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: labTech.id },
      scope: { kind: 'records', records: [record] },
      actions: ['read'],
      purpose: 'treatment',
      expires_ms: chain.time_ms + DAY_MS,
    });
    expectCode(chain.block([grant]).receipts[0]!, 'OK');
    expectCode(read(labTech), 'OK'); // read, permitted by the grant
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'organisation', id: INSURER },
      scope: { kind: 'all' },
      actions: ['read'],
    });
    expectCode(read(insurerClerk), 'DENIED'); // read, denied by the forbid
    chain.ok(nurse, 'access.request', {
      patient: patient.id,
      scope: { kind: 'types', types: ['Observation'] },
      actions: ['read'],
      purpose: 'treatment',
      reason: 'follow-up visit',
    });
    const [request] = queryAudit(chain.state, { by: 'actor', id: nurse.id }).entries;
    chain.ok(patient, 'access.approve', {
      request: request!.rule.slice('request:'.length),
      expires_ms: chain.time_ms + DAY_MS,
    });
    chain.ok(labTech, 'access.request', {
      patient: patient.id,
      scope: { kind: 'all' },
      actions: ['read', 'append'],
      purpose: 'research',
      reason: 'a study',
    });
    const [second] = queryAudit(chain.state, { by: 'actor', id: labTech.id, limit: 1 }).entries;
    chain.ok(patient, 'access.deny', { request: second!.rule.slice('request:'.length) }); // refuse
    chain.ok(patient, 'consent.revoke', { policy: createdId('grant', grant) });
    // Attempts refused before a decision, audited as denials: break-glass, a request, an erasure.
    const attempt = { patient: patient.id, reason: 'no emergency role', duration_ms: HOUR_MS };
    expectCode(chain.send(nurse, 'emergency.open', attempt), 'WRONG_ROLE');
    expectCode(
      chain.send(registrar, 'access.request', {
        patient: patient.id,
        scope: { kind: 'all' },
        actions: ['read'],
        purpose: 'operations',
        reason: 'filing',
      }),
      'WRONG_ROLE',
    );
    expectCode(chain.send(doctor, 'record.erase', { record }), 'NOT_PATIENT');
    chain.ok(erNurse, 'emergency.open', { patient: patient.id, reason, duration_ms: HOUR_MS });
    expectCode(chain.send(erNurse, 'record.read', { record, purpose: 'emergency' }), 'OK'); // break-glass read
    chain.ok(patient, 'record.read', { record, purpose: 'treatment' }, 2 * HOUR_MS); // the patient's own
    chain.ok(patient, 'record.erase', { record });
    expectCode(read(doctor), 'RECORD_ERASED'); // denied, after erasure

    entries = queryAudit(chain.state, { by: 'patient', id: patient.id, limit: 1000 }).entries;
    const context: AuditEventContext = {
      source: { chainId: CHAIN_ID, validatorName: 'validator', validatorKey: 'ab'.repeat(32) },
      identity: (id) => getIdentity(chain.state, id),
      windowEnd: (entry) => {
        const tx = txAt(entry);
        return entry.timestamp_ms + decodeBody('emergency.open', tx.body).duration_ms;
      },
      now_ms: chain.time_ms,
    };
    events = new Map(entries.map((entry) => [entry, auditEvents(entry, context)]));
  });

  /** The transaction an entry names, found in the block at the entry's height. */
  function txAt(entry: Pick<AuditEntry, 'height' | 'txHash'>) {
    const block = chain.blocks.find((b) => b.height === entry.height)!;
    const tx = block.txs.find((t) => hex(txHash(t)) === hex(entry.txHash));
    if (tx === undefined) throw new Error(`no tx ${hex(entry.txHash)} at height ${entry.height}`);
    return tx;
  }

  const only = (action: string, decision?: string) =>
    [...events].filter(([e]) => e.action === action && (decision === undefined || e.decision === decision));
  const codeOf = (event: AuditEvent) => ({
    type: event.type.code,
    subtype: event.subtype?.map((c) => c.code),
    action: event.action,
    outcome: event.outcome,
  });
  const AUTHZ = { type: '110113', subtype: ['AuthZ-Consent'], action: 'E' };

  it('has every kind of audit entry, and every event passes the R4 validator', () => {
    expect(new Set(entries.map((e) => e.action))).toEqual(new Set(AUDIT_ACTIONS));
    const all = [...events.values()].flat();
    expect(all.length).toBeGreaterThan(entries.length);
    expect(all.flatMap(problemsOf)).toEqual([]);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
  });

  it('maps each entry to its BALP event types, subtypes, actions and outcomes', () => {
    for (const [, [authz, read]] of only('read', 'permit')) {
      expect(codeOf(authz!)).toEqual({ ...AUTHZ, outcome: '0' });
      expect(codeOf(read!)).toEqual({ type: 'rest', subtype: ['read'], action: 'R', outcome: '0' });
    }
    for (const [, list] of only('read', 'deny'))
      expect(list.map(codeOf)).toEqual([{ ...AUTHZ, outcome: '4' }]);
    for (const [, [authz, create]] of only('append', 'permit')) {
      expect(codeOf(authz!)).toEqual({ ...AUTHZ, outcome: '0' });
      expect(codeOf(create!)).toEqual({ type: 'rest', subtype: ['create'], action: 'C', outcome: '0' });
    }
    for (const [, list] of only('append', 'deny'))
      expect(list.map(codeOf)).toEqual([{ ...AUTHZ, outcome: '4' }]);
    for (const action of ['grant', 'forbid', 'revoke', 'approve']) {
      for (const [, list] of only(action)) expect(list.map(codeOf)).toEqual([{ ...AUTHZ, outcome: '0' }]);
    }
    for (const [, list] of only('refuse')) expect(list.map(codeOf)).toEqual([{ ...AUTHZ, outcome: '4' }]);
    for (const [, list] of only('request', 'permit')) {
      expect(list.map(codeOf)).toEqual([{ type: 'rest', subtype: ['create'], action: 'C', outcome: '0' }]);
    }
    for (const [, list] of only('erase', 'permit')) {
      expect(list.map(codeOf)).toEqual([{ type: 'rest', subtype: ['delete'], action: 'D', outcome: '0' }]);
    }
    // Attempts refused before a decision: one denied authorization each, naming why.
    for (const action of ['emergency', 'request', 'erase']) {
      const denied = only(action, 'deny');
      expect(denied.length, action).toBe(1);
      const [[entry, list]] = denied as [[AuditEntry, AuditEvent[]]];
      expect(list.map(codeOf)).toEqual([{ ...AUTHZ, outcome: '4' }]);
      expect(list[0]!.outcomeDesc).toMatch(new RegExp(`^${action} denied: .* \\(rule ${entry.rule}\\)$`));
    }
    // Every entry of those kinds was there to check.
    for (const action of AUDIT_ACTIONS) expect(only(action).length, action).toBeGreaterThan(0);
  });

  it('names the actor (requestor) and their organisation as agents, and the node as source', () => {
    for (const [entry, list] of events) {
      for (const event of list) {
        const requestor = event.agent.filter((a) => a.requestor);
        expect(requestor).toHaveLength(1);
        const identity = getIdentity(chain.state, entry.actor)!;
        const kind = identity.kind === 'patient' ? 'Patient' : 'Practitioner';
        expect(requestor[0]!.who?.reference).toBe(`${kind}/${entry.actor}`);
        const org = event.agent.find((a) => a.type?.coding?.[0]?.code === 'PROV');
        expect(org?.who?.reference).toBe(
          identity.organisation ? `Organization/${identity.organisation}` : undefined,
        );
        const authServer = event.agent.find((a) => a.type?.coding?.[0]?.code === 'authserver');
        expect(authServer !== undefined).toBe(event.subtype?.[0]?.code === 'AuthZ-Consent');
        expect(event.source.observer.identifier).toEqual({
          system: SYSTEM.validator,
          value: 'ab'.repeat(32),
        });
      }
    }
    const [[, [, labRead]]] = only('read', 'permit').filter(([e]) => e.actor === labTech.id) as [
      [AuditEntry, AuditEvent[]],
    ];
    expect(labRead!.agent[0]!.purposeOfUse?.[0]?.coding?.[0]).toMatchObject({ code: 'TREAT' });
    expect(labRead!.agent[0]!.who?.display).toBe(`lab-technician at ${LAB}`);
  });

  it('names the patient, the record and the deciding rule (a Consent for grants and forbids)', () => {
    for (const [entry, list] of events) {
      for (const event of list) {
        const entities = event.entity ?? [];
        expect(entities[0]).toMatchObject({
          what: { reference: `Patient/${entry.patient}` },
          role: { code: '1' },
        });
        const recordEntity = entities.find((e) => e.what?.identifier?.system === SYSTEM.record);
        expect(recordEntity?.what?.identifier?.value).toBe(entry.record ?? undefined);
        if (entry.action === 'emergency') continue;
        const rule = entities.find((e) => e.name === entry.rule);
        expect(rule, `${event.id} names ${entry.rule}`).toBeDefined();
        const policy = /^(?:grant|forbid):(.+)$/.exec(entry.rule)?.[1];
        if (policy !== undefined) expect(rule!.what?.reference).toBe(`Consent/${policy}`);
      }
    }
    const [[forbidDenial, [authz]]] = only('read', 'deny').filter(([e]) => e.rule.startsWith('forbid:')) as [
      [AuditEntry, AuditEvent[]],
    ];
    expect(authz!.outcomeDesc).toBe(
      `read denied: the patient's forbid ${forbidDenial.rule.slice(7)} (rule ${forbidDenial.rule})`,
    );
  });

  it('carries the block height and transaction, which the chain confirms', () => {
    for (const [entry, list] of events) {
      for (const event of list) {
        expect(chainPositionOf(event)).toEqual({
          chainId: CHAIN_ID,
          height: entry.height,
          tx: hex(entry.txHash),
        });
        expect(event.id).toMatch(new RegExp(`^${entry.height}-${entry.txIndex}-${entry.seq}-`));
        const position = chainPositionOf(event)!;
        expect(hex(txHash(txAt({ ...entry, height: position.height, txHash: fromHex(position.tx) })))).toBe(
          position.tx,
        );
      }
    }
    expect(events.values().next().value![0]!.extension![0]!.url).toBe(CHAIN_POSITION_URL);
  });

  it('maps break-glass to Emergency Override Started and Stopped, flagged, for emergency treatment', () => {
    const [[open, [start, stop]]] = only('emergency', 'permit') as [[AuditEntry, AuditEvent[]]];
    const window = objectId('window', open.txHash);
    expect(codeOf(start!)).toEqual({ type: '110113', subtype: ['110127'], action: 'E', outcome: '0' });
    expect(codeOf(stop!)).toEqual({ type: '110113', subtype: ['110138'], action: 'E', outcome: '0' });
    expect(stop!.recorded).toBe(new Date(open.timestamp_ms + HOUR_MS).toISOString());
    for (const event of [start!, stop!]) {
      expect(event.purposeOfEvent).toEqual([
        {
          coding: [{ system: CODES.breakTheGlass.system, code: 'ETREAT', display: 'Emergency Treatment' }],
          text: reason,
        },
      ]);
      expect(event.meta?.security).toEqual([CODES.breakTheGlass]);
      expect(event.entity?.[1]).toMatchObject({
        name: `emergency:${window}`,
        what: { identifier: { system: SYSTEM.window, value: window } },
      });
      expect(event.period).toEqual({ start: new Date(open.timestamp_ms).toISOString(), end: stop!.recorded });
    }
    const [[, [, read]]] = only('read', 'permit').filter(([e]) => e.emergency) as [
      [AuditEntry, AuditEvent[]],
    ];
    expect(read!.meta?.security).toEqual([CODES.breakTheGlass]);
    expect(read!.entity?.find((e) => e.name === `emergency:${window}`)).toBeDefined();
    // A window still open has no stop event.
    const still = auditEvents(open, {
      source: { chainId: CHAIN_ID, validatorName: 'v', validatorKey: 'ab'.repeat(32) },
      identity: () => undefined,
      windowEnd: () => open.timestamp_ms + HOUR_MS,
      now_ms: open.timestamp_ms + 1,
    });
    expect(still.map((e) => e.subtype?.[0]?.code)).toEqual(['110127']);
  });
});

describe('grants and forbids as Consents', () => {
  let chain: Chain;
  let patient: Party;
  let policies: PolicyEntry[];
  let record: string;

  beforeAll(() => {
    chain = new Chain(undefined, { sign: false });
    const hospital = chain.network.orgs[HOSPITAL];
    const registrar = chain.practitioner(hospital, ['registrar']);
    const doctor = chain.practitioner(hospital, ['doctor']);
    patient = chain.patient(registrar);
    const add = chain.tx(doctor, 'record.add', chain.recordBody(patient));
    expectCode(chain.block([add]).receipts[0]!, 'OK');
    record = createdId('record', add);
    const expires_ms = chain.time_ms + DAY_MS;
    const grant = (body: Partial<TxBody<'consent.grant'>>) =>
      chain.ok(patient, 'consent.grant', {
        subject: { kind: 'organisation', id: LAB },
        scope: { kind: 'all' },
        actions: ['read'],
        purpose: 'any',
        expires_ms,
        ...body,
      });
    grant({});
    grant({
      subject: { kind: 'practitioner', id: doctor.id },
      scope: { kind: 'records', records: [record] },
      purpose: 'treatment',
    });
    grant({
      subject: { kind: 'role', organisation: HOSPITAL, role: 'nurse' },
      scope: { kind: 'types', types: ['Observation', 'application/pdf'] },
      actions: ['read', 'append'],
    });
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'organisation', id: INSURER },
      scope: { kind: 'all' },
      actions: ['read'],
    });
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'practitioner', id: doctor.id },
      scope: { kind: 'types', types: ['application/pdf'] },
      actions: ['append'],
    });
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'role', organisation: LAB, role: 'lab-technician' },
      scope: { kind: 'records', records: [record] },
      actions: ['read'],
    });
    policies = listPolicies(chain.state, patient.id);
  });

  const created = { chainId: CHAIN_ID, height: 7, tx: 'cd'.repeat(32) };
  const consentOf = (entry: PolicyEntry, revoked = false, now_ms = chain.time_ms) =>
    consentResource({ patient: patient.id, ...entry, revoked, created, now_ms });
  const find = (effect: string, scope: string) =>
    policies.find((p) => p.policy.effect === effect && p.policy.scope.kind === scope)!;

  it('maps each scope and grantee kind to a valid Consent', () => {
    expect(policies).toHaveLength(6);
    const consents = policies.map((entry) => consentOf(entry));
    expect(consents.flatMap(problemsOf)).toEqual([]);
    for (const [i, consent] of consents.entries()) {
      const { policy } = policies[i]!;
      expect(consent).toMatchObject({
        id: policy.id,
        status: 'active',
        scope: { coding: [CONSENT_CODES.privacy] },
        patient: { reference: `Patient/${patient.id}` },
        dateTime: new Date(policy.created_ms).toISOString(),
        policyRule: { coding: [policy.effect === 'permit' ? CONSENT_CODES.optIn : CONSENT_CODES.optOut] },
        provision: { type: policy.effect === 'permit' ? 'permit' : 'deny' },
      });
      expect(chainPositionOf(consent)).toEqual(created);
      expect(consent.provision!.period!.end).toBe(
        policy.expires_ms === null ? undefined : new Date(policy.expires_ms).toISOString(),
      );
    }
  });

  it('gives the grantee, actions, purpose and data scope of each provision', () => {
    const all = consentOf(find('permit', 'all')).provision!;
    expect(all.actor).toEqual([
      {
        role: { coding: [CONSENT_CODES.recipient] },
        reference: { reference: `Organization/${LAB}`, display: LAB },
      },
    ]);
    expect(all.action).toEqual([{ coding: [CONSENT_CODES.access] }]);
    expect(all.purpose).toBeUndefined();
    expect(all.class).toBeUndefined();
    expect(all.data).toBeUndefined();

    const records = consentOf(find('permit', 'records')).provision!;
    expect(records.actor?.[0]?.reference.reference).toMatch(/^Practitioner\/[0-9a-f]{32}$/);
    expect(records.purpose).toEqual([
      { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT', display: 'treatment' },
    ]);
    expect(records.data).toEqual([
      {
        meaning: 'dependents',
        reference: { type: 'DocumentReference', identifier: { system: SYSTEM.record, value: record } },
      },
    ]);

    const types = consentOf(find('permit', 'types')).provision!;
    expect(types.actor?.map((a) => [a.role.coding?.[0]?.code, a.reference])).toEqual([
      [
        'IRCP',
        {
          type: 'Group',
          identifier: { system: SYSTEM.role, value: `${HOSPITAL}:nurse` },
          display: `every nurse at ${HOSPITAL}`,
        },
      ],
      [
        'AUT',
        {
          type: 'Group',
          identifier: { system: SYSTEM.role, value: `${HOSPITAL}:nurse` },
          display: `every nurse at ${HOSPITAL}`,
        },
      ],
    ]);
    expect(types.action).toEqual([{ coding: [CONSENT_CODES.access] }, { coding: [CONSENT_CODES.collect] }]);
    expect(types.class).toEqual([
      { system: 'http://hl7.org/fhir/resource-types', code: 'Observation' },
      { system: 'urn:ietf:bcp:13', code: 'application/pdf' },
    ]);

    const forbid = consentOf(find('forbid', 'types')).provision!;
    expect(forbid.type).toBe('deny');
    expect(forbid.actor?.[0]?.role.coding?.[0]?.code).toBe('AUT');
    expect(forbid.period).toEqual({ start: expect.any(String) });
    expect(consentOf(find('forbid', 'records')).provision!.actor?.[0]?.reference.identifier?.value).toBe(
      `${LAB}:lab-technician`,
    );
  });

  it('is inactive once revoked or expired', () => {
    const grant = find('permit', 'all');
    expect(consentOf(grant, true).status).toBe('inactive');
    expect(consentOf(grant, false, grant.policy.expires_ms!).status).toBe('inactive');
    expect(consentOf(find('forbid', 'all'), false, Date.UTC(2100, 0, 1)).status).toBe('active');
  });
});

describe('the FHIR exports over the API, the client and the CLI', () => {
  let cluster: TestValidators;
  let api: Server;
  let url = '';
  /** Signs the node-operator routes only (the transactions the events name). */
  let client: NodeClient;
  /** The patient, the hospital's admin identity, a network admin. */
  let asPatient: NodeClient;
  let asHospital: NodeClient;
  let asNetworkAdmin: NodeClient;
  let dir = '';
  const operator = generateSigningKeyPair();
  const admin = generateIdentityKeys();
  const orgAdmin = generateIdentityKeys();
  const registrar = generateIdentityKeys();
  const doctor = generateIdentityKeys();
  const erNurse = generateIdentityKeys();
  const patient = generateIdentityKeys();
  const patientId = identityId(patient.signing.publicKey);
  const doctorId = identityId(doctor.signing.publicKey);
  let grantId = '';

  const send = (keys: IdentityKeys, ...rest: [Parameters<typeof submitAndWait>[2], unknown]) =>
    submitAndWait(client, keys, rest[0], rest[1] as never);

  beforeAll(async () => {
    cluster = await startValidators(1, FAST_PARAMS, 1);
    api = await startApi({ node: cluster.nodes[0]!, version: 'test' }, '127.0.0.1', 0, {
      operatorKey: operator.publicKey,
    });
    url = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
    client = new NodeClient(url, { operator: { id: 'operator', secretKey: operator.secretKey } });
    asPatient = client.as(signerOf(patient));
    asHospital = client.as(signerOf(orgAdmin));
    asNetworkAdmin = client.as(signerOf(cluster.admins[0]!));
    dir = await mkdtemp(join(tmpdir(), 'medledger-fhir-'));
    const networkAdmin = { signing: cluster.admins[0]!, encryption: admin.encryption };
    await send(networkAdmin, 'org.register', {
      id: 'st-mary',
      kind: 'hospital',
      adminKey: orgAdmin.signing.publicKey,
      encryptionKey: orgAdmin.encryption.publicKey,
    });
    for (const [keys, roles] of [
      [registrar, ['registrar']],
      [doctor, ['doctor']],
      [erNurse, ['emergency-staff']],
    ] as const) {
      await send(orgAdmin, 'practitioner.register', {
        signingKey: keys.signing.publicKey,
        encryptionKey: keys.encryption.publicKey,
        roles: [...roles],
      });
    }
    const keys = { signingKey: patient.signing.publicKey, encryptionKey: patient.encryption.publicKey };
    const coSignature = signPatientRegistration(
      cluster.genesis.chainId,
      identityId(registrar.signing.publicKey),
      keys,
      patient.signing.secretKey,
    );
    await send(registrar, 'patient.register', { ...keys, coSignature });
    const added = await send(doctor, 'record.add', {
      patient: patientId,
      contentType: 'Observation',
      cid: cidOf('fhir-export'),
      size_bytes: 10,
      keyCid: cidOf('fhir-export/key'),
      previous: null,
      purpose: 'treatment',
    });
    const record = createdIdOf('record', added);
    const granted = await send(patient, 'consent.grant', {
      subject: { kind: 'organisation', id: 'st-mary' },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + DAY_MS,
    });
    grantId = createdIdOf('grant', granted);
    await send(erNurse, 'emergency.open', { patient: patientId, reason: 'collapsed', duration_ms: 1 });
    await send(doctor, 'record.read', { record, purpose: 'treatment' });
    await send(patient, 'consent.revoke', { policy: grantId });
    await send(patient, 'consent.forbid', {
      subject: { kind: 'practitioner', id: doctorId },
      scope: { kind: 'all' },
      actions: ['append'],
    });
  }, 60_000);

  afterAll(async () => {
    api?.closeAllConnections();
    await new Promise((resolve) => api?.close(resolve));
    await cluster?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const parse = <T>(ndjson: string): T[] =>
    ndjson
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);

  it('serves the patient trail as valid AuditEvents whose transactions the chain confirms', async () => {
    const trail = `${url}/v1/fhir/AuditEvent?patient=${patientId}`;
    // Not to the unsigned, nor to the doctor (neither the patient nor an overseer).
    expect((await signedGet(trail, null)).body.error.code).toBe('API_UNSIGNED');
    const doctorAsks = await signedGet(trail, signerOf(doctor));
    expect([doctorAsks.status, doctorAsks.body.error.code]).toEqual([403, 'API_NOT_IN_SCOPE']);
    const headers = await signedHeaders(trail, signerOf(patient));
    const response = await fetch(trail, { headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/fhir+ndjson');
    expect(response.headers.get('link')).toBeNull();
    const events = parse<AuditEvent>(await response.text());
    expect(events.flatMap(problemsOf)).toEqual([]);
    const kinds = events.map((e) => e.id!.replace(/^\d+-\d+-\d+-/, ''));
    // Newest first: forbid, revoke, the read (decision, then read), the window (start, stop), grant, append.
    expect(kinds).toEqual([
      'authz',
      'authz',
      'authz',
      'read',
      'emergency-start',
      'emergency-stop',
      'authz',
      'authz',
      'create',
    ]);
    for (const event of events) {
      const position = chainPositionOf(event)!;
      const tx = await client.tx(position.tx);
      expect(tx?.height).toBe(position.height);
      expect(position.chainId).toBe(cluster.genesis.chainId);
      expect(event.source.observer.display).toBe('validator-0');
    }
  });

  it('pages with limit and a Link to the next call, and filters by organisation and time', async () => {
    const whole = (await asPatient.fhirAuditEvents({ patient: patientId })).ndjson;
    let ndjson = '';
    let cursor: string | null = null;
    let calls = 0;
    do {
      const page: Awaited<ReturnType<NodeClient['fhirAuditEvents']>> = await asPatient.fhirAuditEvents({
        patient: patientId,
        limit: 2,
        cursor,
      });
      ndjson += page.ndjson;
      cursor = page.cursor;
      calls++;
    } while (cursor !== null);
    expect(ndjson).toBe(whole);
    expect(calls).toBe(3); // six entries, two per call

    // The hospital's staff's actions, to its admin identity (and a network admin), not to the patient.
    const staff = parse<AuditEvent>((await asHospital.fhirAuditEvents({ org: 'st-mary' })).ndjson);
    expect((await asNetworkAdmin.fhirAuditEvents({ org: 'st-mary' })).ndjson).toBe(
      staff.map((e) => `${JSON.stringify(e)}\n`).join(''),
    );
    await expect(asPatient.fhirAuditEvents({ org: 'st-mary' })).rejects.toMatchObject({
      code: 'API_NOT_IN_SCOPE',
    });
    const actors = new Set(staff.map((e) => e.agent.find((a) => a.requestor)!.who!.reference));
    expect(actors.has(`Practitioner/${doctorId}`)).toBe(true);
    expect([...actors].every((a) => a?.startsWith('Practitioner/'))).toBe(true);
    expect(staff.length).toBeGreaterThan(0);

    const future = await asPatient.fhirAuditEvents({ patient: patientId, since_ms: Date.now() + DAY_MS });
    expect(future).toEqual({ ndjson: '', cursor: null });
    const refused = await signedGet(`${url}/v1/fhir/AuditEvent?pateint=${patientId}`, signerOf(patient));
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('API_BAD_REQUEST');
    await expect(asNetworkAdmin.fhirAuditEvents({ org: 'nowhere' })).rejects.toMatchObject({
      code: 'API_UNKNOWN_ORGANISATION',
    });
    // Another organisation is outside the hospital admin's scope, known or not.
    await expect(asHospital.fhirAuditEvents({ org: 'nowhere' })).rejects.toMatchObject({
      code: 'API_NOT_IN_SCOPE',
    });
  });

  it('serves Consents, the revoked grant among them as inactive', async () => {
    const consents = parse<Consent>((await asPatient.fhirConsents(patientId)).ndjson);
    expect(consents.flatMap(problemsOf)).toEqual([]);
    expect(consents.map((c) => [c.provision?.type, c.status])).toEqual([
      ['deny', 'active'],
      ['permit', 'inactive'],
    ]);
    expect(consents[1]!.id).toBe(grantId);
    expect(consents[1]!.provision?.actor?.[0]?.reference.reference).toBe('Organization/st-mary');
    const created = chainPositionOf(consents[1]!)!;
    expect((await client.tx(created.tx))?.height).toBe(created.height);
    await expect(asNetworkAdmin.fhirConsents(doctorId)).rejects.toMatchObject({
      code: 'API_UNKNOWN_PATIENT',
    });
    expect((await asNetworkAdmin.fhirConsents(patientId)).ndjson).toBe(
      consents.map((c) => `${JSON.stringify(c)}\n`).join(''),
    );
    // A patient's consent is the patient's (and a network admin's): not the hospital's, not the doctor's.
    for (const who of [asHospital, client.as(signerOf(doctor))]) {
      await expect(who.fhirConsents(patientId)).rejects.toMatchObject({ code: 'API_NOT_IN_SCOPE' });
    }
  });

  it('exports through the CLI to stdout and to a file, signed with the patient keystore', async () => {
    const keystore = join(dir, 'patient.key');
    await writeKeystore(keystore, patient, 'fhir export', { scrypt: { N: 2 ** 12, r: 8, p: 1 } });
    const run = async (...args: string[]) => {
      let stdout = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => {
        stdout += String(chunk);
        return true;
      });
      vi.stubEnv('MEDLEDGER_PASSPHRASE', 'fhir export');
      try {
        const code = await main(['node', 'medledger', ...args, '--node', url, '--keystore', keystore]);
        return { code, stdout };
      } finally {
        vi.unstubAllEnvs();
        spy.mockRestore();
        process.exitCode = 0;
      }
    };
    const out = join(dir, 'audit.ndjson');
    const toFile = await run('audit', 'export', '--fhir', '--patient', patientId, '--out', out, '--json');
    expect(toFile.code).toBe(0);
    expect(JSON.parse(toFile.stdout)).toMatchObject({ out, resourceType: 'AuditEvent', resources: 9 });
    expect(await readFile(out, 'utf8')).toBe(
      (await asPatient.fhirAuditEvents({ patient: patientId })).ndjson,
    );
    const again = await run('audit', 'export', '--fhir', '--patient', patientId, '--out', out, '--json');
    expect(JSON.parse(again.stdout).error.code).toBe('FILE_EXISTS');

    const consents = await run('consent', 'export', '--fhir', '--patient', patientId);
    expect(consents.code).toBe(0);
    expect(parse<Consent>(consents.stdout).map((c) => c.resourceType)).toEqual(['Consent', 'Consent']);
    // `audit` itself still takes its options, beside its `export` subcommand.
    const trail = await run('audit', '--patient', patientId, '--limit', '2', '--json');
    expect(JSON.parse(trail.stdout).entries).toHaveLength(2);
  });

  it('are described in the OpenAPI document', async () => {
    const doc = JSON.parse(await readFile(new URL('../src/api/openapi.json', import.meta.url), 'utf8'));
    for (const path of ['/v1/fhir/AuditEvent', '/v1/fhir/Consent']) {
      const ok = doc.paths[path].get.responses['200'];
      expect(Object.keys(ok.content)).toEqual(['application/fhir+ndjson']);
      expect(ok.headers.Link).toBeDefined();
    }
  });
});
