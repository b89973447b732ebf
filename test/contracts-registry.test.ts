import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { bytesEqual, hex } from '../src/bytes.ts';
import {
  CONTRACT_ERRORS,
  decodeBody,
  encodeBody,
  genesisState,
  getIdentity,
  getIdentityByKey,
  getOrganisation,
  identityId,
  lastNonce,
  signKeyRotation,
  stateKey,
} from '../src/contracts/index.ts';
import { GENESIS_STATE_KEY, genesisWrites } from '../src/ledger/genesis.ts';
import { checkWritesOrder } from '../src/ledger/state-root.ts';
import {
  CHAIN_ID,
  Chain,
  expectCode,
  HOSPITAL,
  INSURER,
  LAB,
  makeNetwork,
  makeParty,
  type Party,
  WEAK_ENCRYPTION_KEY,
  WEAK_SIGNING_KEY,
} from './fixtures/contracts.ts';

describe('genesis state', () => {
  it('registers the network admins and the organisations with their admin identities', () => {
    const network = makeNetwork();
    const writes = genesisState(network.genesis);
    expect(checkWritesOrder(writes)).toBeNull();
    const chain = new Chain(network);
    const admin = getIdentityByKey(chain.state, network.admin.signing.publicKey);
    expect(admin).toMatchObject({
      id: network.admin.id,
      kind: 'network-admin',
      organisation: null,
      active: true,
    });
    for (const [org, kind] of [
      [HOSPITAL, 'hospital'],
      [LAB, 'diagnostic-lab'],
      [INSURER, 'insurer'],
    ] as const) {
      const party = network.orgs[org];
      expect(getOrganisation(chain.state, org)).toMatchObject({
        id: org,
        kind,
        admin: party.id,
        active: true,
      });
      expect(getIdentity(chain.state, party.id)).toMatchObject({ kind: 'organisation', organisation: org });
    }
  });

  it("is a superset of the ledger's genesis writes", () => {
    const network = makeNetwork();
    const writes = genesisState(network.genesis);
    const [ledger] = genesisWrites(network.genesis);
    const same = writes.find((w) => bytesEqual(w.key, GENESIS_STATE_KEY));
    expect(same?.value).toEqual(ledger!.value);
  });

  it('refuses a key that would hold two identities', () => {
    const network = makeNetwork();
    const genesis = {
      ...network.genesis,
      organisations: [{ ...network.genesis.organisations[0]!, adminKey: network.admin.signing.publicKey }],
    };
    expect(() => genesisState(genesis)).toThrow(/GENESIS_INVALID|already belongs/);
  });
});

describe('transaction envelope', () => {
  let chain: Chain;
  let admin: Party;
  beforeEach(() => {
    chain = new Chain();
    admin = chain.network.admin;
  });
  const body = () => ({ id: 'clinic', active: false });

  it('refuses another chain id, writing nothing', () => {
    const tx = chain.rawTx(admin, 'org.set-active', encodeBody('org.set-active', body()), 1, 'other-chain');
    const { receipts, writes } = chain.block([tx]);
    expectCode(receipts[0]!, 'WRONG_CHAIN');
    expect(writes).toEqual([]);
  });

  it('refuses an unregistered sender, writing nothing', () => {
    const stranger = makeParty('stranger');
    const { receipts, writes } = chain.block([chain.tx(stranger, 'org.set-active', body())]);
    expectCode(receipts[0]!, 'NOT_REGISTERED');
    expect(writes).toEqual([]);
  });

  it('refuses a reused nonce and a gap, writing nothing', () => {
    chain.ok(admin, 'org.set-active', { id: HOSPITAL, active: true });
    const reused = chain.rawTx(admin, 'org.set-active', encodeBody('org.set-active', body()), 1);
    const gap = chain.rawTx(admin, 'org.set-active', encodeBody('org.set-active', body()), 3);
    const { receipts, writes } = chain.block([reused, gap]);
    expectCode(receipts[0]!, 'NONCE_REUSED');
    expectCode(receipts[1]!, 'NONCE_GAP');
    expect(writes).toEqual([]);
    expect(lastNonce(chain.state, admin.signing.publicKey)).toBe(1);
  });

  it('a replayed transaction fails, in a later block and within the same block', () => {
    const tx = chain.tx(admin, 'org.set-active', { id: HOSPITAL, active: true });
    const first = chain.block([tx, tx]);
    expectCode(first.receipts[0]!, 'OK');
    expectCode(first.receipts[1]!, 'NONCE_REUSED');
    expectCode(chain.block([tx]).receipts[0]!, 'NONCE_REUSED');
  });

  it('refuses an unknown type and a malformed body, consuming the nonce and nothing else', () => {
    const unknown = chain.rawTx(admin, 'record.delete', new Uint8Array([0x90]), 1);
    const garbage = chain.rawTx(admin, 'org.set-active', new Uint8Array([0xc1, 0x00]), 2);
    // Well-formed bytes, but the body of another type.
    const canonical = encodeBody('practitioner.set-roles', { practitioner: 'x', roles: ['doctor'] });
    const wrongShape = chain.rawTx(admin, 'org.set-active', canonical, 3);
    const { receipts, writes } = chain.block([unknown, garbage, wrongShape]);
    expectCode(receipts[0]!, 'UNKNOWN_TX_TYPE');
    expectCode(receipts[1]!, 'MALFORMED_BODY');
    expectCode(receipts[2]!, 'MALFORMED_BODY');
    expect(writes.map((w) => Buffer.from(w.key))).toEqual([
      Buffer.from(stateKey.nonce(admin.signing.publicKey)),
    ]);
    expect(lastNonce(chain.state, admin.signing.publicKey)).toBe(3);
  });

  it('decodeBody rejects non-canonical bytes', () => {
    const bytes = encodeBody('org.set-active', { id: 'a', active: true });
    expect(decodeBody('org.set-active', bytes)).toEqual({ id: 'a', active: true });
    expect(() => decodeBody('org.set-active', Uint8Array.of(...bytes, 0))).toThrow();
  });

  it('a refused transaction keeps nothing but its nonce, and the next nonce still works', () => {
    const doctor = chain.practitioner(chain.network.orgs[HOSPITAL], ['doctor']);
    const before = chain.state.dump();
    const { receipts, writes } = chain.block([
      chain.tx(doctor, 'org.set-active', { id: HOSPITAL, active: false }),
    ]);
    expectCode(receipts[0]!, 'WRONG_ROLE');
    expect(writes).toHaveLength(1);
    expect(Buffer.from(writes[0]!.key)).toEqual(Buffer.from(stateKey.nonce(doctor.signing.publicKey)));
    const after = chain.state.dump();
    after.delete(hex(writes[0]!.key));
    before.delete(hex(writes[0]!.key));
    expect(after).toEqual(before);
    expectCode(
      chain.send(doctor, 'access.request', {
        patient: 'nobody',
        scope: { kind: 'all' },
        actions: ['read'],
        purpose: 'treatment',
        reason: 'x',
      }),
      'UNKNOWN_PATIENT',
    );
  });

  it('the receipt of a refusal names the actor and what the transaction concerned', () => {
    const hospital = chain.network.orgs[HOSPITAL];
    const registrar = chain.practitioner(hospital, ['registrar']);
    const patient = chain.patient(registrar);
    const doctor = chain.practitioner(hospital, ['doctor']);
    const receipt = chain.send(doctor, 'record.erase', { record: 'rec-none' });
    expectCode(receipt, 'UNKNOWN_RECORD');
    const grant = chain.send(doctor, 'consent.grant', {
      subject: { kind: 'organisation', id: HOSPITAL },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: chain.time_ms + 10_000,
    });
    expectCode(grant, 'NOT_PATIENT');
    const request = chain.send(doctor, 'access.request', {
      patient: patient.id,
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'treatment',
      reason: '',
    });
    expectCode(request, 'REASON_REQUIRED');
    expect(request.events[0]!.type).toBe('tx.refused');
    expect(Object.fromEntries(request.events[0]!.attributes)).toEqual({
      actor: doctor.id,
      patient: patient.id,
      code: 'REASON_REQUIRED',
    });
  });
});

describe('organisations', () => {
  let chain: Chain;
  let admin: Party;
  beforeEach(() => {
    chain = new Chain();
    admin = chain.network.admin;
  });
  const newOrg = (id = 'east-pharmacy', party = makeParty(id)) => ({
    id,
    kind: 'pharmacy' as const,
    adminKey: party.signing.publicKey,
    encryptionKey: party.encryption.publicKey,
  });

  it('a network admin registers an organisation whose admin can then register staff', () => {
    const orgAdmin = makeParty('pharmacy admin');
    const receipt = chain.ok(admin, 'org.register', newOrg('east-pharmacy', orgAdmin));
    expect(receipt.events[0]!.type).toBe('organisation.registered');
    expect(getOrganisation(chain.state, 'east-pharmacy')).toMatchObject({
      kind: 'pharmacy',
      admin: orgAdmin.id,
    });
    expect(getIdentity(chain.state, orgAdmin.id)).toMatchObject({
      kind: 'organisation',
      registeredBy: admin.id,
    });
    chain.practitioner(orgAdmin, ['nurse']);
  });

  it('refusals: WRONG_ROLE, BAD_ID, ORGANISATION_EXISTS, WEAK_KEY, KEY_IN_USE', () => {
    expectCode(chain.send(chain.network.orgs[HOSPITAL], 'org.register', newOrg()), 'WRONG_ROLE');
    expectCode(chain.send(admin, 'org.register', newOrg('Bad Id')), 'BAD_ID');
    expectCode(chain.send(admin, 'org.register', newOrg(HOSPITAL)), 'ORGANISATION_EXISTS');
    expectCode(chain.send(admin, 'org.register', { ...newOrg(), adminKey: WEAK_SIGNING_KEY }), 'WEAK_KEY');
    expectCode(
      chain.send(admin, 'org.register', { ...newOrg(), encryptionKey: WEAK_ENCRYPTION_KEY }),
      'WEAK_KEY',
    );
    expectCode(
      chain.send(admin, 'org.register', { ...newOrg(), adminKey: chain.network.orgs[LAB].signing.publicKey }),
      'KEY_IN_USE',
    );
  });

  it('deactivating an organisation stops its staff; reactivating restores them', () => {
    const doctor = chain.practitioner(chain.network.orgs[HOSPITAL], ['doctor']);
    const request = {
      patient: 'nobody',
      scope: { kind: 'all' as const },
      actions: ['read' as const],
      purpose: 'treatment' as const,
      reason: 'referral',
    };
    chain.ok(admin, 'org.set-active', { id: HOSPITAL, active: false });
    expectCode(chain.send(doctor, 'access.request', request), 'ORGANISATION_INACTIVE');
    expectCode(
      chain.send(chain.network.orgs[HOSPITAL], 'practitioner.register', {
        signingKey: makeParty('x').signing.publicKey,
        encryptionKey: makeParty('x').encryption.publicKey,
        roles: ['nurse'],
      }),
      'ORGANISATION_INACTIVE',
    );
    chain.ok(admin, 'org.set-active', { id: HOSPITAL, active: true });
    expectCode(chain.send(doctor, 'access.request', request), 'UNKNOWN_PATIENT');
  });

  it('org.set-active refusals: WRONG_ROLE, UNKNOWN_ORGANISATION', () => {
    expectCode(
      chain.send(chain.network.orgs[LAB], 'org.set-active', { id: LAB, active: false }),
      'WRONG_ROLE',
    );
    expectCode(chain.send(admin, 'org.set-active', { id: 'nowhere', active: false }), 'UNKNOWN_ORGANISATION');
  });
});

describe('practitioners and patients', () => {
  let chain: Chain;
  let hospital: Party;
  let registrar: Party;
  beforeEach(() => {
    chain = new Chain();
    hospital = chain.network.orgs[HOSPITAL];
    registrar = chain.practitioner(hospital, ['registrar']);
  });
  const keysOf = (party: Party) => ({
    signingKey: party.signing.publicKey,
    encryptionKey: party.encryption.publicKey,
  });

  it('the organisation admin, or a practitioner with org-admin, registers practitioners with sorted roles', () => {
    const lead = makeParty('lead');
    chain.ok(hospital, 'practitioner.register', { ...keysOf(lead), roles: ['org-admin', 'doctor'] });
    expect(getIdentity(chain.state, lead.id)).toMatchObject({
      kind: 'practitioner',
      organisation: HOSPITAL,
      roles: ['doctor', 'org-admin'],
      registeredBy: hospital.id,
    });
    const nurse = chain.practitioner(lead, ['nurse']);
    expect(getIdentity(chain.state, nurse.id)?.organisation).toBe(HOSPITAL);
  });

  it('practitioner.register refusals: WRONG_ROLE, BAD_ROLES, KEY_IN_USE, ALREADY_REGISTERED, WEAK_KEY', () => {
    const doctor = chain.practitioner(hospital, ['doctor']);
    const fresh = makeParty('fresh');
    expectCode(
      chain.send(doctor, 'practitioner.register', { ...keysOf(fresh), roles: ['nurse'] }),
      'WRONG_ROLE',
    );
    expectCode(chain.send(hospital, 'practitioner.register', { ...keysOf(fresh), roles: [] }), 'BAD_ROLES');
    expectCode(
      chain.send(hospital, 'practitioner.register', { ...keysOf(fresh), roles: ['nurse', 'nurse'] }),
      'BAD_ROLES',
    );
    expectCode(
      chain.send(hospital, 'practitioner.register', { ...keysOf(doctor), roles: ['nurse'] }),
      'KEY_IN_USE',
    );
    expectCode(
      chain.send(hospital, 'practitioner.register', {
        ...keysOf(fresh),
        signingKey: WEAK_SIGNING_KEY,
        roles: ['nurse'],
      }),
      'WEAK_KEY',
    );
    // A key rotated away from still names its first identity: it cannot start another.
    const next = makeParty('next');
    const newKeys = keysOf(next);
    chain.ok(doctor, 'identity.rotate-keys', {
      ...newKeys,
      proof: signKeyRotation(CHAIN_ID, doctor.id, newKeys, next.signing.secretKey),
    });
    expectCode(
      chain.send(hospital, 'practitioner.register', { ...keysOf(doctor), roles: ['nurse'] }),
      'ALREADY_REGISTERED',
    );
  });

  it('practitioner.set-roles: by its organisation only', () => {
    const doctor = chain.practitioner(hospital, ['doctor']);
    chain.ok(hospital, 'practitioner.set-roles', {
      practitioner: doctor.id,
      roles: ['emergency-staff', 'doctor'],
    });
    expect(getIdentity(chain.state, doctor.id)?.roles).toEqual(['doctor', 'emergency-staff']);
    expectCode(
      chain.send(chain.network.orgs[LAB], 'practitioner.set-roles', {
        practitioner: doctor.id,
        roles: ['nurse'],
      }),
      'WRONG_ORGANISATION',
    );
    expectCode(
      chain.send(hospital, 'practitioner.set-roles', { practitioner: registrar.id, roles: [] }),
      'BAD_ROLES',
    );
    expectCode(
      chain.send(hospital, 'practitioner.set-roles', { practitioner: hospital.id, roles: ['nurse'] }),
      'UNKNOWN_PRACTITIONER',
    );
    expectCode(
      chain.send(doctor, 'practitioner.set-roles', { practitioner: doctor.id, roles: ['nurse'] }),
      'WRONG_ROLE',
    );
  });

  it('a registrar registers a patient who co-signed; no personal data is stored', () => {
    const patient = makeParty('patient');
    const receipt = chain.ok(registrar, 'patient.register', chain.patientBody(registrar, patient));
    expect(receipt.events[0]!.attributes.get('patient')).toBe(patient.id);
    expect(getIdentity(chain.state, patient.id)).toEqual({
      id: identityId(patient.signing.publicKey),
      kind: 'patient',
      organisation: null,
      roles: [],
      signingKey: patient.signing.publicKey,
      encryptionKey: patient.encryption.publicKey,
      active: true,
      registered_ms: chain.time_ms,
      registeredBy: registrar.id,
    });
  });

  it('patient.register refusals: WRONG_ROLE, BAD_COSIGNATURE, KEY_IN_USE, WEAK_KEY', () => {
    const doctor = chain.practitioner(hospital, ['doctor']);
    const patient = makeParty('patient');
    expectCode(chain.send(doctor, 'patient.register', chain.patientBody(doctor, patient)), 'WRONG_ROLE');
    // Signed for another registrar, by another key, or for other keys.
    const otherRegistrar = chain.practitioner(hospital, ['registrar']);
    expectCode(
      chain.send(registrar, 'patient.register', chain.patientBody(otherRegistrar, patient)),
      'BAD_COSIGNATURE',
    );
    const impostor = makeParty('impostor');
    const forged = { ...chain.patientBody(registrar, impostor), signingKey: patient.signing.publicKey };
    expectCode(chain.send(registrar, 'patient.register', forged), 'BAD_COSIGNATURE');
    const swapped = {
      ...chain.patientBody(registrar, patient),
      encryptionKey: impostor.encryption.publicKey,
    };
    expectCode(chain.send(registrar, 'patient.register', swapped), 'BAD_COSIGNATURE');
    expectCode(
      chain.send(registrar, 'patient.register', {
        ...chain.patientBody(registrar, patient),
        encryptionKey: WEAK_ENCRYPTION_KEY,
      }),
      'WEAK_KEY',
    );
    chain.ok(registrar, 'patient.register', chain.patientBody(registrar, patient));
    expectCode(
      chain.send(registrar, 'patient.register', chain.patientBody(registrar, patient)),
      'KEY_IN_USE',
    );
  });

  it('identity.set-active: network admins for anyone, organisation admins for their practitioners', () => {
    const admin = chain.network.admin;
    const patient = chain.patient(registrar);
    const doctor = chain.practitioner(hospital, ['doctor']);
    chain.ok(admin, 'identity.set-active', { id: patient.id, active: false });
    expectCode(chain.send(patient, 'consent.revoke', { policy: 'gr-x' }), 'IDENTITY_INACTIVE');
    chain.ok(admin, 'identity.set-active', { id: patient.id, active: true });
    expectCode(chain.send(patient, 'consent.revoke', { policy: 'gr-x' }), 'UNKNOWN_POLICY');

    chain.ok(hospital, 'identity.set-active', { id: doctor.id, active: false });
    expect(getIdentity(chain.state, doctor.id)?.active).toBe(false);
    expectCode(chain.send(hospital, 'identity.set-active', { id: patient.id, active: false }), 'WRONG_ROLE');
    expectCode(
      chain.send(chain.network.orgs[LAB], 'identity.set-active', { id: doctor.id, active: true }),
      'WRONG_ORGANISATION',
    );
    expectCode(chain.send(registrar, 'identity.set-active', { id: doctor.id, active: true }), 'WRONG_ROLE');
    expectCode(chain.send(admin, 'identity.set-active', { id: 'nobody', active: true }), 'UNKNOWN_IDENTITY');
  });

  it('identity.rotate-keys: the old key stops working, the new key starts at nonce 1, the id stays', () => {
    const doctor = chain.practitioner(hospital, ['doctor']);
    const next = makeParty('next');
    const keys = keysOf(next);
    chain.ok(doctor, 'identity.rotate-keys', {
      ...keys,
      proof: signKeyRotation(CHAIN_ID, doctor.id, keys, next.signing.secretKey),
    });
    expect(getIdentityByKey(chain.state, next.signing.publicKey)).toMatchObject({
      id: doctor.id,
      roles: ['doctor'],
    });
    expect(getIdentityByKey(chain.state, doctor.signing.publicKey)).toBeUndefined();
    const request = {
      patient: 'nobody',
      scope: { kind: 'all' as const },
      actions: ['read' as const],
      purpose: 'treatment' as const,
      reason: 'x',
    };
    expectCode(chain.send(doctor, 'access.request', request), 'NOT_REGISTERED');
    const rotated: Party = { ...next, id: doctor.id };
    expectCode(chain.send(rotated, 'access.request', request), 'UNKNOWN_PATIENT');
  });

  it('identity.rotate-keys refusals: BAD_KEY_PROOF, KEY_IN_USE, WEAK_KEY; the encryption key alone may change', () => {
    const doctor = chain.practitioner(hospital, ['doctor']);
    const next = makeParty('next');
    const keys = keysOf(next);
    expectCode(
      chain.send(doctor, 'identity.rotate-keys', {
        ...keys,
        proof: signKeyRotation(CHAIN_ID, registrar.id, keys, next.signing.secretKey),
      }),
      'BAD_KEY_PROOF',
    );
    expectCode(
      chain.send(doctor, 'identity.rotate-keys', {
        ...keys,
        proof: signKeyRotation('other', doctor.id, keys, next.signing.secretKey),
      }),
      'BAD_KEY_PROOF',
    );
    const taken = keysOf(registrar);
    expectCode(
      chain.send(doctor, 'identity.rotate-keys', {
        ...taken,
        proof: signKeyRotation(CHAIN_ID, doctor.id, taken, registrar.signing.secretKey),
      }),
      'KEY_IN_USE',
    );
    expectCode(
      chain.send(doctor, 'identity.rotate-keys', {
        ...keys,
        encryptionKey: WEAK_ENCRYPTION_KEY,
        proof: new Uint8Array(64),
      }),
      'WEAK_KEY',
    );
    const sameSigning = { signingKey: doctor.signing.publicKey, encryptionKey: next.encryption.publicKey };
    chain.ok(doctor, 'identity.rotate-keys', {
      ...sameSigning,
      proof: signKeyRotation(CHAIN_ID, doctor.id, sameSigning, doctor.signing.secretKey),
    });
    expect(getIdentity(chain.state, doctor.id)?.encryptionKey).toEqual(next.encryption.publicKey);
  });
});

describe('error codes', () => {
  it('every code has a sentence and a test that produces it', () => {
    const dir = join(import.meta.dirname);
    const tests = readdirSync(dir)
      .filter((f) => f.startsWith('contracts') && f.endsWith('.test.ts'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n');
    for (const [code, sentence] of Object.entries(CONTRACT_ERRORS)) {
      expect(code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(sentence, code).toMatch(/^[A-Z].*\.$/);
      expect(tests.includes(`'${code}'`), `a test expects ${code}`).toBe(true);
    }
  });
});
