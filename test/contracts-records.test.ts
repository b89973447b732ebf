import { beforeEach, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { encodeBody } from '../src/contracts/bodies.ts';
import {
  type AuditEntry,
  CONTRACT_ERRORS,
  committedTxProblem,
  createdId,
  getRecord,
  listRecordIds,
  queryAudit,
  stateKey,
  type TxBody,
} from '../src/contracts/index.ts';
import { txHash } from '../src/ledger/transaction.ts';
import { attr, Chain, cidOf, expectCode, HOSPITAL, LAB, type Party } from './fixtures/contracts.ts';

let chain: Chain;
let hospital: Party;
let registrar: Party;
let doctor: Party;
let patient: Party;

beforeEach(() => {
  chain = new Chain();
  hospital = chain.network.orgs[HOSPITAL];
  registrar = chain.practitioner(hospital, ['registrar']);
  doctor = chain.practitioner(hospital, ['doctor']);
  patient = chain.patient(registrar);
});

/** A patient registered at the lab: the hospital's doctor is not on their care team. */
function registeredAtTheLab(): Party {
  return chain.patient(chain.practitioner(chain.network.orgs[LAB], ['registrar']));
}

function grantHospital(actions: ('read' | 'append')[] = ['read', 'append'], p: Party = patient): string {
  const receipt = chain.ok(p, 'consent.grant', {
    subject: { kind: 'organisation', id: HOSPITAL },
    scope: { kind: 'all' },
    actions,
    purpose: 'any',
    expires_ms: chain.time_ms + 86_400_000,
  });
  return attr(receipt, 'grant')!;
}

function add(author: Party, body: TxBody<'record.add'>): string {
  const tx = chain.tx(author, 'record.add', body);
  const receipt = chain.block([tx]).receipts[0]!;
  expectCode(receipt, 'OK');
  expect(attr(receipt, 'record')).toBe(createdId('record', tx));
  return createdId('record', tx);
}

describe('record.add', () => {
  it('stores metadata, naming the ciphertext and the key blob by CID, under an id derived from the transaction', () => {
    grantHospital();
    const body = chain.recordBody(patient, { contentType: 'DiagnosticReport' });
    const id = add(doctor, body);
    expect(getRecord(chain.state, id)).toEqual({
      id,
      patient: patient.id,
      author: doctor.id,
      custodian: HOSPITAL,
      contentType: 'DiagnosticReport',
      cid: body.cid,
      size_bytes: body.size_bytes,
      keyCid: body.keyCid,
      version: 1,
      previous: null,
      root: id,
      supersededBy: null,
      created_ms: chain.time_ms,
      erased_ms: null,
      patientProvided: false,
    });
    expect(listRecordIds(chain.state, patient.id)).toEqual([id]);
    const receipt = chain.blocks.at(-1)!.result.receipts[0]!;
    expect(attr(receipt, 'cid', 'record.added')).toBe(body.cid);
    expect(attr(receipt, 'custodian', 'record.added')).toBe(HOSPITAL);
    expect(attr(receipt, 'keyCid', 'record.added')).toBe(body.keyCid);
    // No key material on chain: the transaction carries two CIDs, and state holds nothing else.
    expect(Object.keys(body).sort()).toEqual(
      ['cid', 'contentType', 'keyCid', 'patient', 'previous', 'purpose', 'size_bytes'].sort(),
    );
    expect(attr(receipt, 'rule', 'access.decided')).toMatch(/^grant:gr-/);
  });

  it('accepts MIME types and FHIR resource types, refuses anything else', () => {
    grantHospital();
    add(doctor, chain.recordBody(patient, { contentType: 'application/pdf' }));
    add(doctor, chain.recordBody(patient, { contentType: 'image/dicom+json' }));
    for (const bad of ['', 'observation', 'Observation;', 'application/', 'text/plain; charset=utf-8']) {
      expectCode(
        chain.send(doctor, 'record.add', chain.recordBody(patient, { contentType: bad })),
        'BAD_CONTENT_TYPE',
      );
    }
  });

  it('refusals: WRONG_ROLE, UNKNOWN_PATIENT, BAD_CID, BAD_SIZE, MALFORMED_BODY, CID_IN_USE', () => {
    grantHospital();
    expectCode(chain.send(registrar, 'record.add', chain.recordBody(patient)), 'WRONG_ROLE');
    expectCode(chain.send(hospital, 'record.add', chain.recordBody(patient)), 'WRONG_ROLE');
    expectCode(
      chain.send(doctor, 'record.add', { ...chain.recordBody(patient), patient: doctor.id }),
      'UNKNOWN_PATIENT',
    );
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(patient, { cid: 'QmNotACidV1' })),
      'BAD_CID',
    );
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(patient, { cid: cidOf('x').toUpperCase() })),
      'BAD_CID',
    );
    expectCode(chain.send(doctor, 'record.add', chain.recordBody(patient, { size_bytes: 0 })), 'BAD_SIZE');
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(patient, { keyCid: 'not-a-cid' })),
      'BAD_CID',
    );
    const same = chain.recordBody(patient);
    expectCode(chain.send(doctor, 'record.add', { ...same, keyCid: same.cid }), 'MALFORMED_BODY');
    // Another record's ciphertext or key blob: its key shares would be released under this record's permits.
    const first = chain.recordBody(patient);
    chain.ok(doctor, 'record.add', first);
    for (const reuse of [{ cid: first.cid }, { keyCid: first.keyCid }, { cid: first.keyCid }]) {
      expectCode(chain.send(doctor, 'record.add', chain.recordBody(patient, reuse)), 'CID_IN_USE');
    }
  });

  it("clinicians of the patient's registering organisation add records without a grant (role:care-team)", () => {
    const tx = chain.tx(doctor, 'record.add', chain.recordBody(patient));
    const { receipts } = chain.block([tx]);
    expectCode(receipts[0]!, 'OK');
    const { entries } = queryAudit(chain.state, { by: 'patient', id: patient.id });
    expect(entries[0]).toMatchObject({ action: 'append', decision: 'permit', rule: 'role:care-team' });
    // Only clinical roles: the registrar administers, and a forbid still wins.
    expectCode(chain.send(registrar, 'record.add', chain.recordBody(patient)), 'WRONG_ROLE');
    chain.ok(patient, 'consent.forbid', {
      subject: { kind: 'practitioner', id: doctor.id },
      scope: { kind: 'all' },
      actions: ['append'],
    });
    expectCode(chain.send(doctor, 'record.add', chain.recordBody(patient)), 'DENIED');
  });

  it('without an append permit it is denied, audited, and stores no record', () => {
    const elsewhere = registeredAtTheLab();
    const tx = chain.tx(doctor, 'record.add', chain.recordBody(elsewhere));
    const { receipts } = chain.block([tx]);
    expectCode(receipts[0]!, 'DENIED');
    expect(receipts[0]!.message).toMatch(/no rule permits/);
    expect(getRecord(chain.state, createdId('record', tx))).toBeUndefined();
    const { entries } = queryAudit(chain.state, { by: 'patient', id: elsewhere.id });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'append',
      decision: 'deny',
      rule: 'none',
      actor: doctor.id,
      record: null,
    });
  });

  it('a read-only grant does not permit appending; a type-scoped grant permits only its types', () => {
    const elsewhere = registeredAtTheLab();
    grantHospital(['read'], elsewhere);
    expectCode(chain.send(doctor, 'record.add', chain.recordBody(elsewhere)), 'DENIED');
    chain.ok(elsewhere, 'consent.grant', {
      subject: { kind: 'practitioner', id: doctor.id },
      scope: { kind: 'types', types: ['Observation'] },
      actions: ['append'],
      purpose: 'treatment',
      expires_ms: chain.time_ms + 100_000,
    });
    add(doctor, chain.recordBody(elsewhere, { contentType: 'Observation' }));
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(elsewhere, { contentType: 'Condition' })),
      'DENIED',
    );
    expectCode(
      chain.send(
        doctor,
        'record.add',
        chain.recordBody(elsewhere, { contentType: 'Observation', purpose: 'research' }),
      ),
      'DENIED',
    );
  });

  it('amendments are new versions linked to the previous one; history is linear', () => {
    grantHospital();
    const v1 = add(doctor, chain.recordBody(patient));
    const v2 = add(doctor, chain.recordBody(patient, { previous: v1 }));
    expect(getRecord(chain.state, v2)).toMatchObject({
      version: 2,
      previous: v1,
      root: v1,
      supersededBy: null,
    });
    expect(getRecord(chain.state, v1)).toMatchObject({
      version: 1,
      supersededBy: v2,
      cid: getRecord(chain.state, v1)!.cid,
    });
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(patient, { previous: v1 })),
      'RECORD_SUPERSEDED',
    );
    const v3 = add(doctor, chain.recordBody(patient, { previous: v2 }));
    expect(getRecord(chain.state, v3)).toMatchObject({ version: 3, root: v1 });
  });

  it('amendment refusals: UNKNOWN_RECORD, WRONG_PATIENT, RECORD_ERASED', () => {
    grantHospital();
    const other = chain.patient(registrar, 'other');
    grantHospital(['read', 'append'], other);
    const v1 = add(doctor, chain.recordBody(patient));
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(patient, { previous: 'rec-none' })),
      'UNKNOWN_RECORD',
    );
    expectCode(chain.send(doctor, 'record.add', chain.recordBody(other, { previous: v1 })), 'WRONG_PATIENT');
    chain.ok(patient, 'record.erase', { record: v1 });
    expectCode(
      chain.send(doctor, 'record.add', chain.recordBody(patient, { previous: v1 })),
      'RECORD_ERASED',
    );
  });

  it('a grant naming a record covers its amendments when it names the first version', () => {
    grantHospital(['append']);
    const v1 = add(doctor, chain.recordBody(patient));
    const v2 = add(doctor, chain.recordBody(patient, { previous: v1 }));
    const reader = chain.practitioner(chain.network.orgs[LAB], ['lab-technician']);
    chain.ok(patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: reader.id },
      scope: { kind: 'records', records: [v1] },
      actions: ['read'],
      purpose: 'any',
      expires_ms: chain.time_ms + 100_000,
    });
    expectCode(chain.send(reader, 'record.read', { record: v1, purpose: 'treatment' }), 'OK');
    expectCode(chain.send(reader, 'record.read', { record: v2, purpose: 'treatment' }), 'OK');
    const narrow = chain.practitioner(chain.network.orgs[LAB], ['lab-technician']);
    chain.ok(patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: narrow.id },
      scope: { kind: 'records', records: [v2] },
      actions: ['read'],
      purpose: 'any',
      expires_ms: chain.time_ms + 100_000,
    });
    expectCode(chain.send(narrow, 'record.read', { record: v2, purpose: 'treatment' }), 'OK');
    expectCode(chain.send(narrow, 'record.read', { record: v1, purpose: 'treatment' }), 'DENIED');
  });
});

/** The audit entries of one transaction, and whether its block wrote only its nonce and those. */
function auditedOnly(actor: Party): { entries: AuditEntry[]; onlyAudit: boolean } {
  const block = chain.blocks.at(-1)!;
  const hash = hex(txHash(block.txs[0]!));
  const entries = queryAudit(chain.state, { by: 'actor', id: actor.id }).entries.filter(
    (e) => hex(e.txHash) === hash,
  );
  const nonce = hex(stateKey.nonce(actor.signing.publicKey));
  const keys = block.result.writes.map((w) => w.key);
  // The nonce, and the entry under its time, patient, actor (and record) indexes: A, P, U, D.
  const onlyAudit = keys.every((k) => hex(k) === nonce || 'APUD'.includes(String.fromCharCode(k[0]!)));
  return { entries, onlyAudit };
}

describe('refused attempts are audited', () => {
  it('record.add by a role that does not author: WRONG_ROLE, a deny entry (wrong-role), no record', () => {
    grantHospital();
    for (const roles of [['registrar'], ['pharmacist'], ['insurer'], ['researcher'], ['auditor']] as const) {
      const who = chain.practitioner(hospital, [...roles]);
      const tx = chain.tx(who, 'record.add', chain.recordBody(patient));
      const receipt = chain.block([tx]).receipts[0]!;
      expectCode(receipt, 'WRONG_ROLE');
      expect(receipt.message).toBe(
        `${CONTRACT_ERRORS.WRONG_ROLE} Only a doctor, nurse, lab technician or emergency staff member, or the patient themself, may do this.`,
      );
      expect(getRecord(chain.state, createdId('record', tx))).toBeUndefined();
      const { entries, onlyAudit } = auditedOnly(who);
      expect(onlyAudit).toBe(true);
      expect(entries).toEqual([
        expect.objectContaining({
          action: 'append',
          decision: 'deny',
          rule: 'wrong-role',
          patient: patient.id,
          record: null,
          purpose: 'treatment',
          emergency: false,
        }),
      ]);
      expect(attr(receipt, 'rule', 'access.decided')).toBe('wrong-role');
    }
    // An organisation's admin identity and a network admin too.
    expectCode(chain.send(chain.network.admin, 'record.add', chain.recordBody(patient)), 'WRONG_ROLE');
    expect(auditedOnly(chain.network.admin).entries).toHaveLength(1);
  });

  it('a deactivated clinician, or one of a deactivated organisation: the code stays, the attempt is audited', () => {
    chain.ok(hospital, 'identity.set-active', { id: doctor.id, active: false });
    expectCode(chain.send(doctor, 'record.add', chain.recordBody(patient)), 'IDENTITY_INACTIVE');
    expect(auditedOnly(doctor).entries.map((e) => [e.action, e.decision, e.rule])).toEqual([
      ['append', 'deny', 'actor-inactive'],
    ]);
    chain.ok(hospital, 'identity.set-active', { id: doctor.id, active: true });
    chain.ok(chain.network.admin, 'org.set-active', { id: HOSPITAL, active: false });
    expectCode(chain.send(doctor, 'record.add', chain.recordBody(patient)), 'ORGANISATION_INACTIVE');
    expect(auditedOnly(doctor).entries.map((e) => e.rule)).toEqual(['organisation-inactive']);
  });

  it('about no registered patient there is no trail to write to: refused as before, nothing written', () => {
    const body = { ...chain.recordBody(patient), patient: 'f'.repeat(32) };
    const { receipts, writes } = chain.block([chain.tx(registrar, 'record.add', body)]);
    expectCode(receipts[0]!, 'WRONG_ROLE');
    expect(writes.map((w) => Buffer.from(w.key))).toEqual([
      Buffer.from(stateKey.nonce(registrar.signing.publicKey)),
    ]);
  });

  it('record.erase by anyone but the patient: NOT_PATIENT, a deny entry (not-patient) on the record', () => {
    grantHospital();
    const record = add(doctor, chain.recordBody(patient));
    expectCode(chain.send(doctor, 'record.erase', { record }), 'NOT_PATIENT');
    const { entries, onlyAudit } = auditedOnly(doctor);
    expect(onlyAudit).toBe(true);
    expect(entries).toEqual([
      expect.objectContaining({ action: 'erase', decision: 'deny', rule: 'not-patient', record }),
    ]);
    expect(getRecord(chain.state, record)!.erased_ms).toBeNull();
  });
});

describe('records the patient adds', () => {
  it('are permitted by role:self, marked patientProvided, authored by the patient, kept by their registering organisation', () => {
    const tx = chain.tx(patient, 'record.add', chain.recordBody(patient, { contentType: 'Observation' }));
    const receipt = chain.block([tx]).receipts[0]!;
    expectCode(receipt, 'OK');
    const id = createdId('record', tx);
    expect(getRecord(chain.state, id)).toMatchObject({
      author: patient.id,
      patient: patient.id,
      custodian: HOSPITAL,
      patientProvided: true,
      version: 1,
    });
    expect(attr(receipt, 'rule', 'access.decided')).toBe('role:self');
    expect(attr(receipt, 'patientProvided', 'record.added')).toBe('true');
    expect(attr(receipt, 'custodian', 'record.added')).toBe(HOSPITAL);
    // A patient registered at the lab: the lab keeps what they add.
    const other = registeredAtTheLab();
    const theirs = chain.tx(other, 'record.add', chain.recordBody(other));
    expectCode(chain.block([theirs]).receipts[0]!, 'OK');
    expect(getRecord(chain.state, createdId('record', theirs))!.custodian).toBe(LAB);
    // The patient reads it back; a clinician needs consent like for any other record.
    expect(attr(chain.send(patient, 'record.read', { record: id, purpose: 'treatment' }), 'rule')).toBe(
      'role:self',
    );
    expectCode(chain.send(doctor, 'record.read', { record: id, purpose: 'treatment' }), 'DENIED');
  });

  it("amend only their own records; never a practitioner's record or another patient's file", () => {
    const mine = add(patient, chain.recordBody(patient));
    const v2 = add(patient, chain.recordBody(patient, { previous: mine }));
    expect(getRecord(chain.state, v2)).toMatchObject({ version: 2, root: mine, patientProvided: true });
    const clinical = add(doctor, chain.recordBody(patient)); // role:care-team
    const amend = chain.send(patient, 'record.add', chain.recordBody(patient, { previous: clinical }));
    expectCode(amend, 'DENIED');
    expect(amend.message).toMatch(/patients amend only the records they added/);
    const other = chain.patient(registrar, 'other');
    expectCode(chain.send(patient, 'record.add', chain.recordBody(other)), 'DENIED');
    const trail = queryAudit(chain.state, { by: 'actor', id: patient.id }).entries;
    expect(trail.slice(0, 2).map((e) => [e.action, e.decision, e.rule, e.patient])).toEqual([
      ['append', 'deny', 'none', other.id],
      ['append', 'deny', 'none', patient.id],
    ]);
    // A clinician with an append permit may still amend what the patient added.
    const v3 = add(doctor, chain.recordBody(patient, { previous: v2 }));
    expect(getRecord(chain.state, v3)).toMatchObject({
      version: 3,
      author: doctor.id,
      patientProvided: false,
    });
  });
});

describe('record.read', () => {
  let record: string;
  beforeEach(() => {
    const grant = grantHospital(['append']);
    record = add(doctor, chain.recordBody(patient));
    chain.ok(patient, 'consent.revoke', { policy: grant });
  });
  const read = (party: Party, purpose: TxBody<'record.read'>['purpose'] = 'treatment', advance_ms = 1000) =>
    chain.send(party, 'record.read', { record, purpose }, advance_ms);

  it('the patient reads their own records; the author reads what they wrote', () => {
    const own = read(patient);
    expectCode(own, 'OK');
    expect(attr(own, 'rule')).toBe('role:self');
    expect(attr(own, 'cid')).toBe(getRecord(chain.state, record)!.cid);
    expect(attr(own, 'keyCid')).toBe(getRecord(chain.state, record)!.keyCid);
    expect(attr(read(doctor), 'rule')).toBe('role:author');
  });

  it('anyone else is denied by default, and the denial is audited and indexed', () => {
    const nurse = chain.practitioner(hospital, ['nurse']);
    const receipt = read(nurse);
    expectCode(receipt, 'DENIED');
    expect(receipt.message).toBe('Access denied: no rule permits this (rule none).');
    expect(attr(receipt, 'patient')).toBe(patient.id);
    expect(attr(receipt, 'record')).toBe(record);
    expect(attr(receipt, 'actor')).toBe(nurse.id);
    expect(attr(receipt, 'cid')).toBeUndefined();
    const writes = chain.blocks.at(-1)!.result.writes;
    expect(writes.length).toBeGreaterThan(1); // the nonce and the audit entry under its four indexes
    const [entry] = queryAudit(chain.state, { by: 'actor', id: nurse.id }).entries;
    expect(entry).toMatchObject({
      action: 'read',
      decision: 'deny',
      rule: 'none',
      record,
      purpose: 'treatment',
    });
    // Other identities: a network admin, an organisation's admin identity, another patient.
    expectCode(read(chain.network.admin), 'DENIED');
    expectCode(read(hospital), 'DENIED');
    expectCode(read(chain.patient(registrar, 'other')), 'DENIED');
  });

  it('a grant permits only for its purpose (or any), until it expires', () => {
    const nurse = chain.practitioner(hospital, ['nurse']);
    const expires_ms = chain.time_ms + 10_000;
    const grant = attr(
      chain.ok(patient, 'consent.grant', {
        subject: { kind: 'role', organisation: HOSPITAL, role: 'nurse' },
        scope: { kind: 'types', types: ['Observation'] },
        actions: ['read'],
        purpose: 'treatment',
        expires_ms,
      }),
      'grant',
    );
    expect(attr(read(nurse), 'rule')).toBe(`grant:${grant}`);
    expectCode(read(nurse, 'research'), 'DENIED');
    chain.time_ms = expires_ms - 2;
    expectCode(read(nurse, 'treatment', 1), 'OK'); // block time expires_ms - 1
    const late = read(nurse, 'treatment', 1); // block time expires_ms: expired
    expectCode(late, 'DENIED');
    expect(late.message).toMatch(new RegExp(`grant ${grant} expired at`));
  });

  it('a deactivated reader, or one whose organisation is deactivated, is denied and audited', () => {
    chain.ok(hospital, 'identity.set-active', { id: doctor.id, active: false });
    const inactive = read(doctor);
    expectCode(inactive, 'DENIED');
    expect(attr(inactive, 'rule')).toBe('actor-inactive');
    chain.ok(hospital, 'identity.set-active', { id: doctor.id, active: true });
    chain.ok(chain.network.admin, 'org.set-active', { id: HOSPITAL, active: false });
    expect(attr(read(doctor), 'rule')).toBe('organisation-inactive');
    const trail = queryAudit(chain.state, { by: 'record', id: record }).entries.map((e) => e.rule);
    expect(trail.slice(0, 2)).toEqual(['organisation-inactive', 'actor-inactive']);
  });

  it('refuses an unknown record without an audit entry', () => {
    const receipt = chain.send(doctor, 'record.read', { record: 'rec-missing', purpose: 'treatment' });
    expectCode(receipt, 'UNKNOWN_RECORD');
    expect(queryAudit(chain.state, { by: 'actor', id: doctor.id }).entries.map((e) => e.action)).toEqual([
      'append',
    ]);
  });
});

describe('record.erase', () => {
  it('the patient crypto-shreds a record: metadata stays as a tombstone, stores are told to delete ciphertext and key blob', () => {
    grantHospital();
    const record = add(doctor, chain.recordBody(patient));
    const cid = getRecord(chain.state, record)!.cid;
    const receipt = chain.ok(patient, 'record.erase', { record });
    expect(attr(receipt, 'cid', 'record.erased')).toBe(cid);
    expect(attr(receipt, 'keyCid', 'record.erased')).toBe(getRecord(chain.state, record)!.keyCid);
    expect(getRecord(chain.state, record)).toMatchObject({ id: record, cid, erased_ms: chain.time_ms });
    const readReceipt = chain.send(doctor, 'record.read', { record, purpose: 'treatment' });
    expectCode(readReceipt, 'RECORD_ERASED');
    expectCode(chain.send(patient, 'record.read', { record, purpose: 'treatment' }), 'RECORD_ERASED');
    const trail = queryAudit(chain.state, { by: 'record', id: record }).entries;
    expect(trail.map((e) => [e.action, e.decision, e.rule])).toEqual([
      ['read', 'deny', 'record-erased'],
      ['read', 'deny', 'record-erased'],
      ['erase', 'permit', 'role:self'],
      ['append', 'permit', trail[3]!.rule],
    ]);
  });

  it('refusals: NOT_PATIENT, RECORD_ERASED, UNKNOWN_RECORD', () => {
    grantHospital();
    const record = add(doctor, chain.recordBody(patient));
    expectCode(chain.send(doctor, 'record.erase', { record }), 'NOT_PATIENT');
    expectCode(chain.send(chain.patient(registrar, 'other'), 'record.erase', { record }), 'NOT_PATIENT');
    expectCode(chain.send(patient, 'record.erase', { record: 'rec-none' }), 'UNKNOWN_RECORD');
    chain.ok(patient, 'record.erase', { record });
    expectCode(chain.send(patient, 'record.erase', { record }), 'RECORD_ERASED');
  });
});

describe('failures that need a broken world', () => {
  it('ID_COLLISION: a derived id that is already taken is never overwritten', () => {
    grantHospital();
    const existing = add(doctor, chain.recordBody(patient));
    const tx = chain.tx(doctor, 'record.add', chain.recordBody(patient));
    // Plant the record the transaction would create, as a hash collision would.
    const planted = chain.state.get(stateKey.record(existing))!;
    chain.state.apply([{ key: stateKey.record(createdId('record', tx)), value: planted }]);
    expectCode(chain.block([tx]).receipts[0]!, 'ID_COLLISION');
  });

  it('INTERNAL_ERROR: a handler that fails unexpectedly refuses its transaction with a fixed message', () => {
    grantHospital();
    const record = add(doctor, chain.recordBody(patient));
    chain.state.apply([{ key: stateKey.record(record), value: Uint8Array.of(0xc1) }]);
    const tx = chain.tx(doctor, 'record.read', { record, purpose: 'treatment' });
    const { receipts, writes } = chain.block([tx]);
    expectCode(receipts[0]!, 'INTERNAL_ERROR');
    expect(receipts[0]!.message).toBe(CONTRACT_ERRORS.INTERNAL_ERROR);
    expect(writes.map((w) => Buffer.from(w.key))).toEqual([
      Buffer.from(stateKey.nonce(doctor.signing.publicKey)),
    ]);
  });
});

describe('what chain verify checks of committed transactions (format 2)', () => {
  it('an accepted record.add names two distinct CIDs, as its event repeats; refused ones are not judged', () => {
    grantHospital();
    const tx = chain.tx(doctor, 'record.add', chain.recordBody(patient));
    const receipt = chain.block([tx]).receipts[0]!;
    expect(receipt.code).toBe('OK');
    expect(committedTxProblem(tx, receipt)).toBeNull();
    // The same receipt, with a body the engine would never have accepted, is named.
    const body = chain.recordBody(patient);
    const sameCid = { ...tx, body: encodeBody('record.add', { ...body, keyCid: body.cid }) };
    expect(committedTxProblem(sameCid, receipt)).toMatch(/key blob by its ciphertext's CID/);
    const otherKey = { ...tx, body: encodeBody('record.add', { ...body, keyCid: cidOf('other') }) };
    expect(committedTxProblem(otherKey, receipt)).toMatch(/event does not name its CIDs/);
    // A format-1 body (sealed envelopes, no keyCid) does not decode.
    const oldFormat = { ...tx, body: new Uint8Array([0x93, 0x01, 0x02, 0x03]) };
    expect(committedTxProblem(oldFormat, receipt)).toMatch(/does not decode/);
    expect(committedTxProblem(oldFormat, { ...receipt, code: 'MALFORMED_BODY' })).toBeNull();
  });
});
