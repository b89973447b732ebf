/**
 * Who may see what through the API (src/api/scopes.ts), decided over a rule-engine state built by
 * real transactions: a network admin, a hospital (its admin identity, a registrar, a doctor who
 * writes a record, a nurse, an org-admin and an auditor), a lab (its admin identity, a lab
 * technician the patient grants a read, a doctor without any rule, an auditor, emergency staff), two
 * patients registered at the hospital. Each scope of the table in scopes.ts' header, and its edges:
 * a grant that expires or is revoked, a forbid, a break-glass window that closes, a deactivated
 * practitioner.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import {
  auditStanding,
  directoryView,
  isNetworkAdmin,
  mayDescribeRecord,
  mayListRecords,
  mayManageConsent,
  mayQueryAudit,
  overseenOrganisation,
} from '../src/api/scopes.ts';
import {
  createdId,
  getIdentity,
  getRecord,
  type Identity,
  type RecordMeta,
  type Role,
} from '../src/contracts/index.ts';
import { Chain, HOSPITAL, LAB, type Party } from './fixtures/contracts.ts';

const DAY_MS = 86_400_000;

let chain: Chain;
let people: Record<string, Party>;
let recordId: string;

/** The identity of a party, as the state holds it now. */
function who(name: string): Identity {
  const identity = getIdentity(chain.state, people[name]!.id);
  if (identity === undefined) throw new Error(`${name} is not registered`);
  return identity;
}

function record(): RecordMeta {
  return getRecord(chain.state, recordId)!;
}

/** Who among `names` may describe the record now. */
function describers(names: string[], now_ms = chain.time_ms): string[] {
  return names.filter((name) => mayDescribeRecord(chain.state, who(name), record(), now_ms));
}

const EVERYONE = [
  'admin',
  'hospital',
  'registrar',
  'doctor',
  'nurse',
  'orgAdmin',
  'auditor',
  'lab',
  'labTech',
  'labDoctor',
  'labAuditor',
  'erNurse',
  'patient',
  'other',
];

beforeEach(() => {
  chain = new Chain(undefined, { sign: false });
  const { orgs, admin } = chain.network;
  const staff = (org: Party, roles: Role[]) => chain.practitioner(org, roles);
  const registrar = staff(orgs[HOSPITAL], ['registrar']);
  people = {
    admin,
    hospital: orgs[HOSPITAL],
    lab: orgs[LAB],
    registrar,
    doctor: staff(orgs[HOSPITAL], ['doctor']),
    nurse: staff(orgs[HOSPITAL], ['nurse']),
    orgAdmin: staff(orgs[HOSPITAL], ['org-admin']),
    auditor: staff(orgs[HOSPITAL], ['auditor']),
    labTech: staff(orgs[LAB], ['lab-technician']),
    labDoctor: staff(orgs[LAB], ['doctor']),
    labAuditor: staff(orgs[LAB], ['auditor']),
    erNurse: staff(orgs[LAB], ['emergency-staff']),
    patient: chain.patient(registrar, 'patient'),
    other: chain.patient(registrar, 'other patient'),
  };
  const add = chain.tx(people.doctor!, 'record.add', chain.recordBody(people.patient!));
  chain.block([add]);
  recordId = createdId('record', add);
  expect(record().custodian).toBe(HOSPITAL);
});

describe('who is who', () => {
  it('a network admin is the genesis admin only', () => {
    expect(EVERYONE.filter((name) => isNetworkAdmin(who(name)))).toEqual(['admin']);
  });

  it("an organisation's overseers: its admin identity, its org-admin and auditor practitioners", () => {
    const overseen = Object.fromEntries(EVERYONE.map((name) => [name, overseenOrganisation(who(name))]));
    expect(overseen).toEqual({
      admin: null,
      hospital: HOSPITAL,
      registrar: null,
      doctor: null,
      nurse: null,
      orgAdmin: HOSPITAL,
      auditor: HOSPITAL,
      lab: LAB,
      labTech: null,
      labDoctor: null,
      labAuditor: LAB,
      erNurse: null,
      patient: null,
      other: null,
    });
  });
});

describe("a record's metadata (mayDescribeRecord)", () => {
  it("the patient, the author, the care team, the custodian's overseers and network admins; no one else", () => {
    expect(describers(EVERYONE)).toEqual([
      'admin',
      'hospital',
      'doctor', // role:author
      'nurse', // role:care-team: may add to the patient's record
      'orgAdmin',
      'auditor',
      'patient',
    ]);
  });

  it('a grant opens it while it stands: not after its expiry, not once revoked', () => {
    const grant = chain.tx(people.patient!, 'consent.grant', {
      subject: { kind: 'practitioner', id: people.labTech!.id },
      scope: { kind: 'records', records: [recordId] },
      actions: ['read'],
      purpose: 'treatment',
      expires_ms: chain.time_ms + DAY_MS,
    });
    chain.block([grant]);
    expect(describers(['labTech', 'labDoctor', 'labAuditor'])).toEqual(['labTech']);
    expect(describers(['labTech'], chain.time_ms + 2 * DAY_MS)).toEqual([]);
    chain.ok(people.patient!, 'consent.revoke', { policy: createdId('grant', grant) });
    expect(describers(['labTech'])).toEqual([]);
  });

  it("a forbid closes it to the author and the care team, not to the patient or the custodian's overseers", () => {
    chain.ok(people.patient!, 'consent.forbid', {
      subject: { kind: 'organisation', id: HOSPITAL },
      scope: { kind: 'all' },
      actions: ['read', 'append'],
    });
    expect(describers(EVERYONE)).toEqual(['admin', 'hospital', 'orgAdmin', 'auditor', 'patient']);
  });

  it('a break-glass window opens it to its emergency staff until it closes', () => {
    expect(describers(['erNurse'])).toEqual([]);
    chain.ok(people.erNurse!, 'emergency.open', {
      patient: people.patient!.id,
      reason: 'unconscious on arrival',
      duration_ms: 3_600_000,
    });
    expect(describers(['erNurse'])).toEqual(['erNurse']);
    expect(describers(['erNurse'], chain.time_ms + 2 * 3_600_000)).toEqual([]);
  });

  it('a deactivated practitioner holds no permit', () => {
    chain.ok(people.hospital!, 'identity.set-active', { id: people.doctor!.id, active: false });
    expect(describers(['doctor', 'nurse'])).toEqual(['nurse']);
  });
});

describe("a patient's record list (mayListRecords)", () => {
  const listers = (patient: string, names: string[]) => {
    const records = patient === 'patient' ? [record()] : [];
    return names.filter((name) =>
      mayListRecords(chain.state, who(name), people[patient]!.id, records, chain.time_ms),
    );
  };

  it('the patient, network admins, any overseer (who then sees what is in its custody), and practitioners who may describe one or add one', () => {
    expect(listers('patient', EVERYONE)).toEqual([
      'admin',
      'hospital',
      'doctor',
      'nurse',
      'orgAdmin',
      'auditor',
      'lab', // an overseer lists, and sees only the records in its custody: none here
      'labAuditor',
      'patient',
    ]);
    // The lab's overseers see none of the patient's records, which are in the hospital's custody.
    expect(mayDescribeRecord(chain.state, who('labAuditor'), record(), chain.time_ms)).toBe(false);
  });

  it("with no records yet, the care team still lists the patient's file (they may add to it)", () => {
    expect(listers('other', EVERYONE)).toEqual([
      'admin',
      'hospital',
      'doctor',
      'nurse',
      'orgAdmin',
      'auditor',
      'lab',
      'labAuditor',
      'other',
    ]);
  });

  it('a grant on one record lets its grantee list the file', () => {
    expect(listers('patient', ['labTech'])).toEqual([]);
    chain.ok(people.patient!, 'consent.grant', {
      subject: { kind: 'practitioner', id: people.labTech!.id },
      scope: { kind: 'records', records: [recordId] },
      actions: ['read'],
      purpose: 'any',
      expires_ms: chain.time_ms + DAY_MS,
    });
    expect(listers('patient', ['labTech', 'labDoctor'])).toEqual(['labTech']);
  });
});

describe("a patient's consent (mayManageConsent)", () => {
  it('the patient themself and network admins only', () => {
    const managers = EVERYONE.filter((name) => mayManageConsent(who(name), people.patient!.id));
    expect(managers).toEqual(['admin', 'patient']);
  });
});

describe('the audit trail (mayQueryAudit, auditStanding)', () => {
  it('a patient asks by their own id; anyone by their own actions; overseers and admins anything', () => {
    const id = (name: string) => people[name]!.id;
    const asks = (name: string, by: 'time' | 'patient' | 'actor' | 'record', of?: string) =>
      mayQueryAudit(who(name), by, of);
    expect(asks('patient', 'patient', id('patient'))).toBe(true);
    expect(asks('patient', 'patient', id('other'))).toBe(false);
    expect(asks('patient', 'time')).toBe(false);
    expect(asks('patient', 'record', recordId)).toBe(false); // the route lets a record's patient ask
    expect(asks('doctor', 'actor', id('doctor'))).toBe(true);
    expect(asks('doctor', 'actor', id('nurse'))).toBe(false);
    expect(asks('doctor', 'patient', id('patient'))).toBe(false);
    // A practitioner is not a patient, even asking by their own id.
    expect(asks('doctor', 'patient', id('doctor'))).toBe(false);
    expect(asks('doctor', 'time')).toBe(false);
    expect(asks('doctor', 'record', recordId)).toBe(false);
    for (const overseer of ['admin', 'hospital', 'auditor', 'orgAdmin', 'labAuditor']) {
      expect(asks(overseer, 'time'), overseer).toBe(true);
      expect(asks(overseer, 'patient', id('patient')), overseer).toBe(true);
      expect(asks(overseer, 'record', recordId), overseer).toBe(true);
    }
  });

  it("each sees the entries where they are the patient or the actor; overseers their staff's; admins all", () => {
    const id = (name: string) => people[name]!.id;
    const entries = [
      { name: 'doctor reads the patient', actor: id('doctor'), patient: id('patient') },
      { name: 'lab doctor reads the patient', actor: id('labDoctor'), patient: id('patient') },
      { name: 'nurse reads the other patient', actor: id('nurse'), patient: id('other') },
      { name: 'the patient grants', actor: id('patient'), patient: id('patient') },
      { name: 'the admin registers an organisation', actor: id('admin'), patient: null },
    ];
    const sees = (name: string) => {
      const standing = auditStanding(chain.state, who(name));
      return entries.filter((e) => standing(e) !== null).map((e) => e.name);
    };
    expect(sees('admin')).toEqual(entries.map((e) => e.name));
    expect(sees('patient')).toEqual([
      'doctor reads the patient',
      'lab doctor reads the patient',
      'the patient grants',
    ]);
    expect(sees('other')).toEqual(['nurse reads the other patient']);
    expect(sees('doctor')).toEqual(['doctor reads the patient']);
    expect(sees('auditor')).toEqual(['doctor reads the patient', 'nurse reads the other patient']);
    expect(sees('hospital')).toEqual(sees('auditor'));
    expect(sees('labAuditor')).toEqual(['lab doctor reads the patient']);
    expect(sees('registrar')).toEqual([]);
  });
});

describe('the directory (directoryView)', () => {
  it("shows who registered a patient only to the patient, network admins and the registering organisation's people", () => {
    const patient = who('patient');
    expect(patient.registeredBy).toBe(people.registrar!.id);
    const shown = EVERYONE.filter(
      (name) => directoryView(chain.state, who(name), patient).registeredBy !== null,
    );
    expect(shown).toEqual([
      'admin',
      'hospital',
      'registrar',
      'doctor',
      'nurse',
      'orgAdmin',
      'auditor',
      'patient',
    ]);
    // Unsigned (GET /v1/accounts/{key}): withheld; the rest of the identity is as stored.
    expect(directoryView(chain.state, null, patient)).toEqual({ ...patient, registeredBy: null });
    // Practitioners and organisations are shown whole to anyone.
    const doctor = who('doctor');
    expect(directoryView(chain.state, null, doctor)).toEqual(doctor);
    expect(directoryView(chain.state, who('other'), doctor)).toEqual(doctor);
  });
});
