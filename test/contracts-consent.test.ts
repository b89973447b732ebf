import { beforeEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/codec/index.ts';
import {
  createdId,
  listAccessRequests,
  listEmergencyWindows,
  listPolicies,
  MAX_OPEN_WINDOWS,
  MAX_POLICIES_PER_GRANTEE,
  Policy,
  PolicyBucket,
  queryAudit,
  stateKey,
  type TxBody,
  WindowList,
} from '../src/contracts/index.ts';
import { LIMITS } from '../src/ledger/types.ts';
import { attr, Chain, expectCode, HOSPITAL, INSURER, LAB, type Party } from './fixtures/contracts.ts';

let chain: Chain;
let hospital: Party;
let registrar: Party;
let doctor: Party;
let nurse: Party;
let patient: Party;
let record: string;

const DAY_MS = 86_400_000;

beforeEach(() => {
  chain = new Chain();
  hospital = chain.network.orgs[HOSPITAL];
  registrar = chain.practitioner(hospital, ['registrar']);
  doctor = chain.practitioner(hospital, ['doctor']);
  nurse = chain.practitioner(hospital, ['nurse']);
  patient = chain.patient(registrar);
  const setup = attr(chain.ok(patient, 'consent.grant', grantBody({ actions: ['append'] })), 'grant')!;
  const tx = chain.tx(doctor, 'record.add', chain.recordBody(patient));
  expectCode(chain.block([tx]).receipts[0]!, 'OK');
  record = createdId('record', tx);
  chain.ok(patient, 'consent.revoke', { policy: setup });
});

function grantBody(overrides: Partial<TxBody<'consent.grant'>> = {}): TxBody<'consent.grant'> {
  return {
    subject: { kind: 'organisation', id: HOSPITAL },
    scope: { kind: 'all' },
    actions: ['read'],
    purpose: 'any',
    expires_ms: chain.time_ms + DAY_MS,
    ...overrides,
  };
}

const read = (party: Party, purpose: TxBody<'record.read'>['purpose'] = 'treatment') =>
  chain.send(party, 'record.read', { record, purpose });
const ruleOf = (party: Party) => attr(read(party), 'rule');

describe('consent.grant', () => {
  it('grants to a practitioner, an organisation, or a role within one', () => {
    const labTech = chain.practitioner(chain.network.orgs[LAB], ['lab-technician']);
    expect(ruleOf(labTech)).toBe('none');
    const toPractitioner = attr(
      chain.ok(patient, 'consent.grant', grantBody({ subject: { kind: 'practitioner', id: labTech.id } })),
      'grant',
    );
    expect(ruleOf(labTech)).toBe(`grant:${toPractitioner}`);

    const toRole = attr(
      chain.ok(
        patient,
        'consent.grant',
        grantBody({ subject: { kind: 'role', organisation: HOSPITAL, role: 'nurse' } }),
      ),
      'grant',
    );
    expect(ruleOf(nurse)).toBe(`grant:${toRole}`);
    const otherDoctor = chain.practitioner(hospital, ['doctor']);
    expect(ruleOf(otherDoctor)).toBe('none');

    const toOrg = attr(chain.ok(patient, 'consent.grant', grantBody()), 'grant')!;
    expect(ruleOf(otherDoctor)).toBe(`grant:${toOrg}`);
    // Two grants apply to the nurse: the smaller id is named.
    expect(ruleOf(nurse)).toBe(`grant:${[toRole!, toOrg].sort()[0]}`);
  });

  it('the grant is listed for the patient, with a normalised scope', () => {
    const receipt = chain.ok(
      patient,
      'consent.grant',
      grantBody({
        scope: { kind: 'types', types: ['Observation', 'Condition', 'Observation'] },
        actions: ['append', 'read'],
      }),
    );
    const [entry] = listPolicies(chain.state, patient.id);
    expect(entry).toEqual({
      subject: { kind: 'organisation', id: HOSPITAL },
      policy: {
        id: attr(receipt, 'grant'),
        effect: 'permit',
        scope: { kind: 'types', types: ['Condition', 'Observation'] },
        actions: ['read', 'append'],
        purpose: 'any',
        expires_ms: chain.time_ms + DAY_MS - 1000,
        created_ms: chain.time_ms,
      },
    });
  });

  it('refusals: NOT_PATIENT, UNKNOWN_PRACTITIONER, UNKNOWN_ORGANISATION, GRANT_EXPIRED, BAD_SCOPE, BAD_ACTIONS, BAD_CONTENT_TYPE', () => {
    expectCode(chain.send(doctor, 'consent.grant', grantBody()), 'NOT_PATIENT');
    expectCode(
      chain.send(patient, 'consent.grant', grantBody({ subject: { kind: 'practitioner', id: patient.id } })),
      'UNKNOWN_PRACTITIONER',
    );
    expectCode(
      chain.send(patient, 'consent.grant', grantBody({ subject: { kind: 'organisation', id: 'nowhere' } })),
      'UNKNOWN_ORGANISATION',
    );
    expectCode(
      chain.send(
        patient,
        'consent.grant',
        grantBody({ subject: { kind: 'role', organisation: 'nowhere', role: 'nurse' } }),
      ),
      'UNKNOWN_ORGANISATION',
    );
    expectCode(
      chain.send(patient, 'consent.grant', grantBody({ expires_ms: chain.time_ms + 1000 })),
      'GRANT_EXPIRED',
    );
    expectCode(
      chain.send(patient, 'consent.grant', grantBody({ scope: { kind: 'types', types: [] } })),
      'BAD_SCOPE',
    );
    expectCode(
      chain.send(patient, 'consent.grant', grantBody({ scope: { kind: 'records', records: [] } })),
      'BAD_SCOPE',
    );
    expectCode(
      chain.send(patient, 'consent.grant', grantBody({ scope: { kind: 'types', types: ['not a type'] } })),
      'BAD_CONTENT_TYPE',
    );
    expectCode(chain.send(patient, 'consent.grant', grantBody({ actions: [] })), 'BAD_ACTIONS');
    expectCode(chain.send(patient, 'consent.grant', grantBody({ actions: ['read', 'read'] })), 'BAD_ACTIONS');
  });

  it('TOO_MANY_POLICIES: a bucket is bounded by count and by bytes', () => {
    const policy = (i: number, scope: Policy['scope'] = { kind: 'all' }): Policy => ({
      id: `gr-${String(i).padStart(32, '0')}`,
      effect: 'permit',
      scope,
      actions: ['read'],
      purpose: 'any',
      expires_ms: chain.time_ms + DAY_MS,
      created_ms: chain.time_ms,
    });
    const subject = { kind: 'organisation', id: HOSPITAL } as const;
    const full = Array.from({ length: MAX_POLICIES_PER_GRANTEE }, (_, i) => policy(i));
    chain.state.apply([{ key: stateKey.policies(patient.id, subject), value: encode(PolicyBucket, full) }]);
    expectCode(chain.send(patient, 'consent.grant', grantBody()), 'TOO_MANY_POLICIES');

    const wide = {
      kind: 'records' as const,
      records: Array.from({ length: 64 }, (_, i) => `rec-${String(i).padStart(32, '0')}`),
    };
    // Every such policy encodes to the same size; the list header takes 3 bytes.
    const each = encode(Policy, policy(0, wide)).length;
    const big = Array.from({ length: Math.floor((LIMITS.stateValueBytes - 3) / each) }, (_, i) =>
      policy(i, wide),
    );
    expect(encode(PolicyBucket, big).length).toBeLessThanOrEqual(LIMITS.stateValueBytes);
    expect(encode(PolicyBucket, [...big, policy(big.length, wide)]).length).toBeGreaterThan(
      LIMITS.stateValueBytes,
    );
    // One short of the bound: a grant fits; the next in the same block is measured as it is written,
    // refused, and its write dropped (the state keeps the bucket the first left).
    const key = stateKey.policies(patient.id, subject);
    chain.state.apply([{ key, value: encode(PolicyBucket, big.slice(1)) }]);
    const [fits, over] = chain.block([
      chain.tx(patient, 'consent.grant', grantBody({ scope: wide })),
      chain.tx(patient, 'consent.grant', grantBody({ scope: wide })),
    ]).receipts;
    expectCode(fits!, 'OK');
    expectCode(over!, 'TOO_MANY_POLICIES');
    const kept = decode(PolicyBucket, chain.state.get(key)!);
    expect(kept).toHaveLength(big.length);
    expect(kept.map((p) => p.id)).toContain(attr(fits!, 'grant'));
    expectCode(chain.send(patient, 'consent.grant', grantBody({ scope: wide })), 'TOO_MANY_POLICIES');
    expectCode(
      chain.send(
        patient,
        'consent.grant',
        grantBody({ subject: { kind: 'role', organisation: HOSPITAL, role: 'nurse' } }),
      ),
      'OK',
    );
  });
});

describe('consent.forbid and consent.revoke', () => {
  it('a forbid wins over every permit: grants, authorship, emergency windows', () => {
    const grant = attr(chain.ok(patient, 'consent.grant', grantBody()), 'grant');
    expect(ruleOf(doctor)).toBe('role:author');
    const forbid = attr(
      chain.ok(patient, 'consent.forbid', {
        subject: { kind: 'organisation', id: HOSPITAL },
        scope: { kind: 'records', records: [record] },
        actions: ['read'],
      }),
      'forbid',
    );
    expect(ruleOf(doctor)).toBe(`forbid:${forbid}`);
    expect(ruleOf(nurse)).toBe(`forbid:${forbid}`);
    const emergency = chain.practitioner(hospital, ['emergency-staff']);
    chain.ok(emergency, 'emergency.open', {
      patient: patient.id,
      reason: 'unconscious',
      duration_ms: 60_000,
    });
    expect(ruleOf(emergency)).toBe(`forbid:${forbid}`);
    // The patient still reads their own record.
    expect(ruleOf(patient)).toBe('role:self');
    // Lifting the forbid restores the grant.
    chain.ok(patient, 'consent.revoke', { policy: forbid! });
    expect(ruleOf(nurse)).toBe(`grant:${grant}`);
  });

  it('a forbid for one action leaves the other; a forbid "never to insurer X" narrows an organisation grant', () => {
    const insurer = chain.practitioner(chain.network.orgs[INSURER], ['doctor']);
    chain.ok(
      patient,
      'consent.grant',
      grantBody({ subject: { kind: 'organisation', id: INSURER }, actions: ['read', 'append'] }),
    );
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'practitioner', id: insurer.id },
      scope: { kind: 'all' },
      actions: ['append'],
    });
    expect(ruleOf(insurer)).toMatch(/^grant:/);
    expectCode(chain.send(insurer, 'record.add', chain.recordBody(patient)), 'DENIED');
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'organisation', id: INSURER },
      scope: { kind: 'all' },
      actions: ['read'],
    });
    expect(ruleOf(insurer)).toMatch(/^forbid:/);
  });

  it('a revoked grant stops permitting from the next transaction on', () => {
    const grant = attr(chain.ok(patient, 'consent.grant', grantBody()), 'grant')!;
    const readTx = chain.tx(nurse, 'record.read', { record, purpose: 'treatment' });
    const revokeTx = chain.tx(patient, 'consent.revoke', { policy: grant });
    const again = chain.tx(nurse, 'record.read', { record, purpose: 'treatment' });
    const { receipts } = chain.block([readTx, revokeTx, again]);
    expect(receipts.map((r) => r.code)).toEqual(['OK', 'OK', 'DENIED']);
    expect(listPolicies(chain.state, patient.id)).toEqual([]);
  });

  it('revoke refusals: NOT_PATIENT, UNKNOWN_POLICY', () => {
    const grant = attr(chain.ok(patient, 'consent.grant', grantBody()), 'grant')!;
    expectCode(
      chain.send(chain.patient(registrar, 'other'), 'consent.revoke', { policy: grant }),
      'NOT_PATIENT',
    );
    expectCode(chain.send(doctor, 'consent.revoke', { policy: grant }), 'NOT_PATIENT');
    expectCode(chain.send(patient, 'consent.revoke', { policy: 'gr-missing' }), 'UNKNOWN_POLICY');
    chain.ok(patient, 'consent.revoke', { policy: grant });
    expectCode(chain.send(patient, 'consent.revoke', { policy: grant }), 'UNKNOWN_POLICY');
  });

  it('forbid refusals: NOT_PATIENT, UNKNOWN_PRACTITIONER', () => {
    const body = {
      subject: { kind: 'organisation', id: HOSPITAL },
      scope: { kind: 'all' },
      actions: ['read'],
    } as const;
    expectCode(chain.send(doctor, 'consent.forbid', { ...body, actions: ['read'] }), 'NOT_PATIENT');
    expectCode(
      chain.send(patient, 'consent.forbid', {
        ...body,
        actions: ['read'],
        subject: { kind: 'practitioner', id: 'nobody' },
      }),
      'UNKNOWN_PRACTITIONER',
    );
  });
});

describe('access requests', () => {
  const requestBody = (overrides: Partial<TxBody<'access.request'>> = {}): TxBody<'access.request'> => ({
    patient: patient.id,
    scope: { kind: 'all' },
    actions: ['read'],
    purpose: 'treatment',
    reason: 'referral from the GP',
    ...overrides,
  });

  it('a practitioner asks, the patient approves: the requester gets a grant until the chosen expiry', () => {
    const tx = chain.tx(nurse, 'access.request', requestBody());
    const { receipts } = chain.block([tx]);
    expectCode(receipts[0]!, 'OK');
    const request = createdId('request', tx);
    expect(attr(receipts[0]!, 'patient')).toBe(patient.id);
    expect(listAccessRequests(chain.state, patient.id)).toMatchObject([
      { id: request, requester: nurse.id, status: 'pending' },
    ]);
    expect(ruleOf(nurse)).toBe('none');
    const approved = chain.ok(patient, 'access.approve', { request, expires_ms: chain.time_ms + 5000 });
    const grant = attr(approved, 'grant');
    expect(ruleOf(nurse)).toBe(`grant:${grant}`);
    expectCode(read(nurse, 'research'), 'DENIED'); // the grant carries the requested purpose
    expect(listAccessRequests(chain.state, patient.id)).toMatchObject([{ status: 'approved', grant }]);
    chain.time_ms += 5000;
    expect(ruleOf(nurse)).toBe('none');
  });

  it('the patient denies: no grant', () => {
    const tx = chain.tx(nurse, 'access.request', requestBody());
    chain.block([tx]);
    chain.ok(patient, 'access.deny', { request: createdId('request', tx) });
    expect(listAccessRequests(chain.state, patient.id)).toMatchObject([{ status: 'denied', grant: null }]);
    expect(listPolicies(chain.state, patient.id)).toEqual([]);
  });

  it('pharmacists, insurers and researchers may ask too; a refused request (registrar, auditor) is audited', () => {
    for (const [org, role] of [
      [HOSPITAL, 'pharmacist'],
      [INSURER, 'insurer'],
      [LAB, 'researcher'],
    ] as const) {
      const who = chain.practitioner(chain.network.orgs[org], [role]);
      expectCode(chain.send(who, 'access.request', requestBody()), 'OK');
    }
    const auditor = chain.practitioner(hospital, ['auditor']);
    for (const who of [registrar, auditor]) {
      const refused = chain.send(who, 'access.request', requestBody());
      expectCode(refused, 'WRONG_ROLE');
      const [entry] = queryAudit(chain.state, { by: 'actor', id: who.id }).entries;
      expect(entry).toMatchObject({
        action: 'request',
        decision: 'deny',
        rule: 'wrong-role',
        patient: patient.id,
        reason: 'referral from the GP',
      });
    }
    expect(listAccessRequests(chain.state, patient.id)).toHaveLength(3);
  });

  it('refusals: WRONG_ROLE, UNKNOWN_PATIENT, REASON_REQUIRED, UNKNOWN_REQUEST, REQUEST_CLOSED, GRANT_EXPIRED, NOT_PATIENT', () => {
    expectCode(chain.send(registrar, 'access.request', requestBody()), 'WRONG_ROLE');
    expectCode(chain.send(nurse, 'access.request', requestBody({ patient: nurse.id })), 'UNKNOWN_PATIENT');
    expectCode(chain.send(nurse, 'access.request', requestBody({ reason: '  ' })), 'REASON_REQUIRED');
    expectCode(chain.send(nurse, 'access.request', requestBody({ actions: [] })), 'BAD_ACTIONS');
    const tx = chain.tx(nurse, 'access.request', requestBody());
    chain.block([tx]);
    const request = createdId('request', tx);
    const other = chain.patient(registrar, 'other');
    expectCode(
      chain.send(other, 'access.approve', { request, expires_ms: chain.time_ms + DAY_MS }),
      'UNKNOWN_REQUEST',
    );
    expectCode(
      chain.send(nurse, 'access.approve', { request, expires_ms: chain.time_ms + DAY_MS }),
      'NOT_PATIENT',
    );
    expectCode(
      chain.send(patient, 'access.approve', { request, expires_ms: chain.time_ms }),
      'GRANT_EXPIRED',
    );
    expectCode(chain.send(patient, 'access.deny', { request: 'rq-none' }), 'UNKNOWN_REQUEST');
    chain.ok(patient, 'access.deny', { request });
    expectCode(
      chain.send(patient, 'access.approve', { request, expires_ms: chain.time_ms + DAY_MS }),
      'REQUEST_CLOSED',
    );
    expectCode(chain.send(patient, 'access.deny', { request }), 'REQUEST_CLOSED');
  });
});

describe('consent changes in the audit trail', () => {
  it("grant, request, approve, refuse and revoke appear in the patient's trail, newest first", () => {
    const granted = attr(chain.ok(patient, 'consent.grant', grantBody()), 'grant')!;
    const ask = (reason: string) => {
      const tx = chain.tx(nurse, 'access.request', {
        patient: patient.id,
        scope: { kind: 'all' },
        actions: ['read'],
        purpose: 'treatment',
        reason,
      });
      chain.block([tx]);
      return createdId('request', tx);
    };
    const first = ask('referral');
    const approved = attr(
      chain.ok(patient, 'access.approve', { request: first, expires_ms: chain.time_ms + DAY_MS }),
      'grant',
    );
    const second = ask('second opinion');
    chain.ok(patient, 'access.deny', { request: second });
    chain.ok(patient, 'consent.revoke', { policy: granted });
    const trail = queryAudit(chain.state, { by: 'patient', id: patient.id, limit: 10 }).entries;
    const consent = trail.filter((e) => e.action !== 'read' && e.action !== 'append');
    expect(consent.slice(0, 6).map((e) => [e.action, e.actor, e.rule])).toEqual([
      ['revoke', patient.id, `grant:${granted}`],
      ['refuse', patient.id, `request:${second}`],
      ['request', nurse.id, `request:${second}`],
      ['approve', patient.id, `grant:${approved}`],
      ['request', nurse.id, `request:${first}`],
      ['grant', patient.id, `grant:${granted}`],
    ]);
    expect(consent[5]!.reason).toBe(`to organisation ${HOSPITAL}`);
    expect(consent[4]!.reason).toBe('referral');
  });
});

describe('emergency access', () => {
  let medic: Party;
  beforeEach(() => {
    medic = chain.practitioner(hospital, ['emergency-staff']);
  });
  const open = (duration_ms = 60_000, reason = 'unconscious after a road accident', who = medic) =>
    chain.send(who, 'emergency.open', { patient: patient.id, reason, duration_ms });

  it('opens a flagged, read-only window on the patient, listed for the patient and in the audit trail', () => {
    expect(ruleOf(medic)).toBe('none');
    const tx = chain.tx(medic, 'emergency.open', {
      patient: patient.id,
      reason: 'cardiac arrest',
      duration_ms: 60_000,
    });
    const opened = chain.block([tx]).receipts[0]!;
    expectCode(opened, 'OK');
    const window = createdId('window', tx);
    expect(attr(opened, 'window')).toBe(window);
    expect(attr(opened, 'emergency')).toBe('true');
    expect(listEmergencyWindows(chain.state, patient.id)).toEqual([
      {
        id: window,
        actor: medic.id,
        patient: patient.id,
        opened_ms: chain.time_ms,
        expires_ms: chain.time_ms + 60_000,
        reason: 'cardiac arrest',
      },
    ]);
    const readReceipt = read(medic);
    expect(attr(readReceipt, 'rule')).toBe(`emergency:${window}`);
    expect(attr(readReceipt, 'emergency')).toBe('true');
    expectCode(chain.send(medic, 'record.add', chain.recordBody(patient)), 'DENIED'); // read-only
    const trail = queryAudit(chain.state, { by: 'patient', id: patient.id, limit: 3 }).entries;
    expect(trail.map((e) => [e.action, e.decision, e.emergency])).toEqual([
      ['append', 'deny', false],
      ['read', 'permit', true],
      ['emergency', 'permit', true],
    ]);
    expect(trail[2]).toMatchObject({ reason: 'cardiac arrest', rule: 'role:emergency-staff' });
    // Only the practitioner who broke the glass.
    const colleague = chain.practitioner(hospital, ['emergency-staff']);
    expect(ruleOf(colleague)).toBe('none');
  });

  it('the window closes at its expiry; a grant is preferred and not flagged; losing the role ends it', () => {
    open(10_000);
    chain.time_ms += 8_000;
    expect(ruleOf(medic)).toMatch(/^emergency:/); // 9 s in
    expect(ruleOf(medic)).toBe('none'); // 10 s in: closed
    open(60_000);
    const grant = attr(chain.ok(patient, 'consent.grant', grantBody()), 'grant');
    const viaGrant = read(medic);
    expect(attr(viaGrant, 'rule')).toBe(`grant:${grant}`);
    expect(attr(viaGrant, 'emergency')).toBeUndefined();
    chain.ok(patient, 'consent.revoke', { policy: grant! });
    chain.ok(hospital, 'practitioner.set-roles', { practitioner: medic.id, roles: ['doctor'] });
    expect(ruleOf(medic)).toBe('none');
  });

  it('expired windows are pruned when the next one opens', () => {
    open(1_000);
    open(1_000);
    expect(listEmergencyWindows(chain.state, patient.id)).toHaveLength(1);
  });

  it('a break-glass by someone without the emergency role is refused and leaves a flagged deny entry', () => {
    const tx = chain.tx(nurse, 'emergency.open', {
      patient: patient.id,
      reason: 'patient collapsed',
      duration_ms: 60_000,
    });
    const { receipts, writes } = chain.block([tx]);
    expectCode(receipts[0]!, 'WRONG_ROLE');
    expect(receipts[0]!.message).toMatch(/Only emergency staff may do this\.$/);
    expect(listEmergencyWindows(chain.state, patient.id)).toEqual([]);
    const [entry] = queryAudit(chain.state, { by: 'patient', id: patient.id, limit: 1 }).entries;
    expect(entry).toMatchObject({
      action: 'emergency',
      actor: nurse.id,
      decision: 'deny',
      rule: 'wrong-role',
      purpose: 'emergency',
      emergency: true,
      reason: 'patient collapsed',
    });
    // Nothing but the nonce and that entry under its indexes (time, patient, actor).
    expect(writes).toHaveLength(4);
    expect(ruleOf(nurse)).toBe('none'); // and no window opened
    // A deactivated medic keeps IDENTITY_INACTIVE, audited the same way.
    chain.ok(hospital, 'identity.set-active', { id: medic.id, active: false });
    expectCode(open(), 'IDENTITY_INACTIVE');
    const [inactive] = queryAudit(chain.state, { by: 'actor', id: medic.id }).entries;
    expect(inactive).toMatchObject({
      action: 'emergency',
      decision: 'deny',
      rule: 'actor-inactive',
      emergency: true,
    });
  });

  it('refusals: WRONG_ROLE, UNKNOWN_PATIENT, REASON_REQUIRED, BAD_DURATION, TOO_MANY_WINDOWS', () => {
    expectCode(open(60_000, 'x', doctor), 'WRONG_ROLE');
    expectCode(
      chain.send(medic, 'emergency.open', { patient: doctor.id, reason: 'x', duration_ms: 1000 }),
      'UNKNOWN_PATIENT',
    );
    expectCode(open(60_000, ''), 'REASON_REQUIRED');
    expectCode(open(0), 'BAD_DURATION');
    const max = chain.genesis.params.emergencyAccessMaxMs;
    const tooLong = open(max + 1);
    expectCode(tooLong, 'BAD_DURATION');
    expect(tooLong.message).toMatch(/\(at most 4h\)$/); // the units a person types, not 14400000 ms
    expectCode(open(max), 'OK');
    const many = Array.from({ length: MAX_OPEN_WINDOWS }, (_, i) => ({
      id: `em-${i}`,
      actor: medic.id,
      patient: patient.id,
      opened_ms: chain.time_ms,
      expires_ms: chain.time_ms + DAY_MS,
      reason: 'x',
    }));
    chain.state.apply([{ key: stateKey.windows(patient.id, medic.id), value: encode(WindowList, many) }]);
    expectCode(open(), 'TOO_MANY_WINDOWS');
  });
});

describe('roles: who reads by which rule', () => {
  const grantTo = (
    subject: TxBody<'consent.grant'>['subject'],
    purpose: TxBody<'consent.grant'>['purpose'],
  ) => attr(chain.ok(patient, 'consent.grant', grantBody({ subject, purpose })), 'grant')!;

  it('a pharmacist reads under a grant like a nurse, for any purpose, but never appends', () => {
    const pharmacist = chain.practitioner(hospital, ['pharmacist']);
    expect(ruleOf(pharmacist)).toBe('none');
    const toRole = grantTo({ kind: 'role', organisation: HOSPITAL, role: 'pharmacist' }, 'any');
    expect(ruleOf(pharmacist)).toBe(`grant:${toRole}`);
    chain.ok(patient, 'consent.grant', grantBody({ actions: ['append'] }));
    expectCode(chain.send(pharmacist, 'record.add', chain.recordBody(patient)), 'WRONG_ROLE');
  });

  it('an insurer reads for payment only, under a grant naming them or their organisation', () => {
    const insurer = chain.practitioner(chain.network.orgs[INSURER], ['insurer']);
    const toRole = grantTo({ kind: 'role', organisation: INSURER, role: 'insurer' }, 'payment');
    expect(attr(read(insurer, 'payment'), 'rule')).toBe('none'); // a role is not named explicitly
    chain.ok(patient, 'consent.revoke', { policy: toRole });
    const toInsurer = grantTo({ kind: 'practitioner', id: insurer.id }, 'payment');
    expect(attr(read(insurer, 'payment'), 'rule')).toBe(`grant:${toInsurer}`);
    chain.ok(patient, 'consent.revoke', { policy: toInsurer });
    const toOrg = grantTo({ kind: 'organisation', id: INSURER }, 'any');
    expect(attr(read(insurer, 'payment'), 'rule')).toBe(`grant:${toOrg}`);
    const treatment = read(insurer, 'treatment');
    expectCode(treatment, 'DENIED');
    expect(treatment.message).toMatch(/insurers read for payment under a grant naming them/);
  });

  it('a researcher reads only for research under a research grant: not any, not care-team, not authorship', () => {
    const researcher = chain.practitioner(hospital, ['researcher']);
    const any = grantTo({ kind: 'practitioner', id: researcher.id }, 'any');
    expect(attr(read(researcher, 'research'), 'rule')).toBe('none');
    chain.ok(patient, 'consent.revoke', { policy: any });
    const research = grantTo({ kind: 'role', organisation: HOSPITAL, role: 'researcher' }, 'research');
    expect(attr(read(researcher, 'research'), 'rule')).toBe(`grant:${research}`);
    expectCode(read(researcher, 'treatment'), 'DENIED');
    // The author of the record, now a researcher only, no longer reads it by authorship.
    chain.ok(hospital, 'practitioner.set-roles', { practitioner: doctor.id, roles: ['researcher'] });
    expect(attr(read(doctor, 'treatment'), 'rule')).toBe('none');
    expect(attr(read(doctor, 'research'), 'rule')).toBe(`grant:${research}`);
  });

  it('an auditor never reads a record, even under a grant to their organisation; another role of theirs may', () => {
    const auditor = chain.practitioner(hospital, ['auditor']);
    grantTo({ kind: 'organisation', id: HOSPITAL }, 'any');
    const denied = read(auditor);
    expectCode(denied, 'DENIED');
    expect(denied.message).toMatch(/auditors read the audit trail, not records/);
    expect(ruleOf(nurse)).toMatch(/^grant:/);
    chain.ok(hospital, 'practitioner.set-roles', { practitioner: auditor.id, roles: ['nurse', 'auditor'] });
    expect(ruleOf(auditor)).toMatch(/^grant:/);
  });
});
