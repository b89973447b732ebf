/**
 * Who sees what through the API, on four real validator processes: two hospitals, each run by its own
 * node; a patient registered at hospital A, whose doctor adds two records.
 *
 * - A doctor of hospital B without a grant is refused the patient's record list and a record's
 *   metadata (403 API_NOT_IN_SCOPE); the refusals are kept by the node that refused them, where the
 *   patient (and the doctor, as their own actions) sees them.
 * - After the patient's grant on one record, that doctor sees that record's metadata, and the list
 *   filtered to it; not the other record, not the patient's consent.
 * - Hospital A's auditor sees the audit entries of A's staff only; a pharmacist of A, no overseer,
 *   is refused the trail; the patient sees their whole trail; a network admin sees everything.
 * - Uploads: only patients and clinicians, within a small daily quota per identity and node
 *   (api.uploadQuotaBytesPerDay: 429 API_UPLOAD_QUOTA), and a body must be the one whose
 *   Content-Digest was signed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntryJson } from '../src/client/api-types.ts';
import { NodeClient } from '../src/client/http.ts';
import { addRecord } from '../src/client/records.ts';
import { submitAndWait } from '../src/client/submit.ts';
import { identityId, signPatientRegistration, type TxBody, type TxType } from '../src/contracts/index.ts';
import { generateIdentityKeys, type IdentityKeys } from '../src/crypto/index.ts';
import { type ProcessCluster, startProcesses } from './fixtures/processes.ts';
import { answer, signedFetch, signedHeaders, signerOf } from './fixtures/signed.ts';

/** api.uploadQuotaBytesPerDay on every node: two small records fit, with room to spare. */
const QUOTA = 64 * 1024;
const DAY_MS = 86_400_000;
const A = 0; // hospital A's node
const B = 1; // hospital B's node

let cluster: ProcessCluster;
let admin: IdentityKeys;
const adminA = generateIdentityKeys();
const adminB = generateIdentityKeys();
const registrar = generateIdentityKeys();
const doctorA = generateIdentityKeys();
const auditorA = generateIdentityKeys();
const pharmacistA = generateIdentityKeys();
const doctorB = generateIdentityKeys();
const patient = generateIdentityKeys();
const id = (keys: IdentityKeys) => identityId(keys.signing.publicKey);
const patientId = id(patient);
/** The records doctor A adds: the first one the patient grants doctor B, the second not. */
let granted = '';
let other = '';

/** A client of validator `i` that signs as `who`. */
const as = (i: number, who: IdentityKeys) => new NodeClient(cluster.api[i]!, { signer: signerOf(who) });

/**
 * Submits through node i and waits until every node has committed it: the tests then ask other
 * nodes, which may otherwise be a block behind.
 */
async function send<T extends TxType>(i: number, who: IdentityKeys, type: T, body: TxBody<T>) {
  const committed = await submitAndWait(new NodeClient(cluster.api[i]!), who, type, body);
  const nodes = cluster.api.map((url) => new NodeClient(url));
  const deadline = Date.now() + 30_000;
  for (const node of nodes) {
    while ((await node.status()).height < committed.height && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return committed;
}

function addObservation(note: string) {
  const bytes = new TextEncoder().encode(
    JSON.stringify({ resourceType: 'Observation', status: 'final', note: [{ text: note }] }),
  );
  return addRecord(new NodeClient(cluster.api[A]!), doctorA, {
    patient: patientId,
    content: { file: 'observation.json', contentType: 'Observation', size: bytes.length, bytes },
    previous: null,
    purpose: 'treatment',
  });
}

/** What a refused call threw: its code. */
async function refusal(call: Promise<unknown>): Promise<string> {
  const error = await call.then(
    () => null,
    (e: { code?: string }) => e,
  );
  return error?.code ?? 'not refused';
}

beforeAll(async () => {
  cluster = await startProcesses(4, undefined, undefined, 1, { uploadQuotaBytesPerDay: QUOTA });
  admin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
  for (const [org, orgAdmin, node] of [
    ['hospital-a', adminA, A],
    ['hospital-b', adminB, B],
  ] as const) {
    await send(node, admin, 'org.register', {
      id: org,
      kind: 'hospital',
      adminKey: orgAdmin.signing.publicKey,
      encryptionKey: cluster.validators[node]!.encryption.publicKey,
    });
  }
  for (const [orgAdmin, who, role, node] of [
    [adminA, registrar, 'registrar', A],
    [adminA, doctorA, 'doctor', A],
    [adminA, auditorA, 'auditor', A],
    [adminA, pharmacistA, 'pharmacist', A],
    [adminB, doctorB, 'doctor', B],
  ] as const) {
    await send(node, orgAdmin, 'practitioner.register', {
      signingKey: who.signing.publicKey,
      encryptionKey: who.encryption.publicKey,
      roles: [role],
    });
  }
  const keys = { signingKey: patient.signing.publicKey, encryptionKey: patient.encryption.publicKey };
  await send(A, registrar, 'patient.register', {
    ...keys,
    coSignature: signPatientRegistration(
      cluster.genesis.chainId,
      id(registrar),
      keys,
      patient.signing.secretKey,
    ),
  });
  granted = (await addObservation('first')).record;
  other = (await addObservation('second')).record;
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('scopes over the API, on a real cluster', () => {
  it("refuses hospital B's doctor, without a grant, the patient's records; the patient sees the refusals", async () => {
    const doctor = as(B, doctorB);
    expect(await refusal(doctor.patientRecords(patientId))).toBe('API_NOT_IN_SCOPE');
    expect(await refusal(doctor.record(granted))).toBe('API_NOT_IN_SCOPE');
    const raw = await answer(await signedFetch(`${cluster.api[B]}/v1/records/${granted}`, signerOf(doctorB)));
    expect([raw.status, raw.body.error.code]).toEqual([403, 'API_NOT_IN_SCOPE']);
    // Nor may the doctor read the patient's refusals; the attempt is itself refused (and kept).
    expect(await refusal(doctor.refusals({ by: 'patient', id: patientId }))).toBe('API_NOT_IN_SCOPE');
    // And a read transaction is denied on chain (audited), as before any grant.
    expect(await refusal(send(B, doctorB, 'record.read', { record: granted, purpose: 'treatment' }))).toBe(
      'DENIED',
    );

    // The node that refused keeps the refusals: the patient sees each, newest first, with its route.
    const seen = await as(B, patient).refusals({ by: 'patient', id: patientId });
    expect(seen.entries.map((e) => [e.actor, e.route, e.record, e.code])).toEqual([
      [id(doctorB), 'GET /v1/audit/refusals', null, 'API_NOT_IN_SCOPE'],
      [id(doctorB), `GET /v1/records/${granted}`, granted, 'API_NOT_IN_SCOPE'],
      [id(doctorB), `GET /v1/records/${granted}`, granted, 'API_NOT_IN_SCOPE'],
      [id(doctorB), `GET /v1/patients/${patientId}/records`, null, 'API_NOT_IN_SCOPE'],
    ]);
    expect(seen.entries.every((e) => e.patient === patientId)).toBe(true);
    // Another node refused nothing, and the doctor sees their own refusals, by actor.
    expect((await as(A, patient).refusals({ by: 'patient', id: patientId })).entries).toEqual([]);
    const own = await doctor.refusals({ by: 'actor', id: id(doctorB) });
    expect(own.entries).toHaveLength(4);
    // Unsigned, the refusal log is refused too.
    const unsigned = await answer(
      await fetch(`${cluster.api[B]}/v1/audit/refusals?by=patient&id=${patientId}`),
    );
    expect([unsigned.status, unsigned.body.error.code]).toEqual([401, 'API_UNSIGNED']);
  });

  it("after the patient's grant on one record the doctor sees that record's metadata, and only that", async () => {
    await send(A, patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: id(doctorB) },
      scope: { kind: 'records', records: [granted] },
      actions: ['read'],
      purpose: 'treatment',
      expires_ms: Date.now() + DAY_MS,
    });
    const doctor = as(B, doctorB);
    expect(await doctor.record(granted)).toMatchObject({
      id: granted,
      patient: patientId,
      custodian: 'hospital-a',
    });
    expect((await doctor.patientRecords(patientId)).map((r) => r.id)).toEqual([granted]);
    expect(await refusal(doctor.record(other))).toBe('API_NOT_IN_SCOPE');
    expect(await refusal(doctor.patientPolicies(patientId))).toBe('API_NOT_IN_SCOPE');
    // The patient, and the custodian's auditor, see both records.
    const both = [granted, other].sort();
    expect((await as(B, patient).patientRecords(patientId)).map((r) => r.id).sort()).toEqual(both);
    expect((await as(B, auditorA).patientRecords(patientId)).map((r) => r.id).sort()).toEqual(both);
    // The granted read commits (an audit entry by hospital B's doctor).
    await send(B, doctorB, 'record.read', { record: granted, purpose: 'treatment' });
  });

  it("hospital A's auditor sees the audit entries of A's staff only; a pharmacist is refused the trail", async () => {
    const staffA = new Set([adminA, registrar, doctorA, auditorA, pharmacistA].map(id));
    const all = await as(A, auditorA).audit({ by: 'time', limit: 1000 });
    expect(all.entries.length).toBeGreaterThan(0);
    expect(all.entries.filter((e) => !staffA.has(e.actor))).toEqual([]);
    expect(all.entries.filter((e) => e.actor === id(doctorA) && e.action === 'append')).toHaveLength(2);
    // Asked by the patient, the auditor still sees only A's staff's entries of that trail.
    const trail = await as(A, auditorA).audit({ by: 'patient', id: patientId, limit: 1000 });
    expect(trail.entries.map((e) => e.actor).every((actor) => staffA.has(actor))).toBe(true);
    expect(trail.entries).toHaveLength(2);

    expect(await refusal(as(A, pharmacistA).audit({ by: 'time' }))).toBe('API_NOT_IN_SCOPE');
    expect(await refusal(as(A, pharmacistA).audit({ by: 'patient', id: patientId }))).toBe(
      'API_NOT_IN_SCOPE',
    );
    // The pharmacist's refused query names the patient: it shows in the patient's refusals there.
    const refused = await as(A, patient).refusals({ by: 'patient', id: patientId });
    expect(refused.entries.map((e) => [e.actor, e.route])).toEqual([[id(pharmacistA), 'GET /v1/audit']]);
  });

  it('the patient sees their whole trail, and a network admin sees everything', async () => {
    const describe = (entries: AuditEntryJson[]) =>
      entries.map((e) => `${e.actor === patientId ? 'patient' : e.actor}:${e.action}:${e.decision}`);
    const trail = (await as(B, patient).audit({ by: 'patient', id: patientId, limit: 1000 })).entries;
    // Newest first: B's doctor's permitted read, the grant, B's doctor's denied read, A's doctor's adds.
    expect(describe(trail)).toEqual([
      `${id(doctorB)}:read:permit`,
      'patient:grant:permit',
      `${id(doctorB)}:read:deny`,
      `${id(doctorA)}:append:permit`,
      `${id(doctorA)}:append:permit`,
    ]);
    const everything = (await as(B, admin).audit({ by: 'time', limit: 1000 })).entries;
    expect(describe(everything)).toEqual(describe(trail));
    expect((await as(B, admin).audit({ by: 'patient', id: patientId, limit: 1000 })).entries).toEqual(trail);
    // Another identity's actions are not the patient's to ask for.
    expect(await refusal(as(B, patient).audit({ by: 'actor', id: id(doctorB) }))).toBe('API_NOT_IN_SCOPE');
  });

  it('uploads: patients and clinicians only, within the daily quota, of the body whose digest was signed', async () => {
    const node = 2; // a node where no one uploaded yet
    const url = `${cluster.api[node]}/v1/blobs`;
    const upload = async (who: IdentityKeys | null, bytes: number) =>
      answer(
        await signedFetch(url, who === null ? null : signerOf(who), {
          method: 'POST',
          body: new Uint8Array(bytes).fill(bytes % 251),
        }),
      );
    expect((await upload(doctorA, QUOTA / 2)).status).toBe(201);
    expect((await upload(doctorA, QUOTA / 4)).status).toBe(201);
    const over = await signedFetch(url, signerOf(doctorA), {
      method: 'POST',
      body: new Uint8Array(QUOTA / 2 - 1),
    });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = await answer(over);
    expect(body.body.error.code).toBe('API_UPLOAD_QUOTA');
    expect(body.body.error.message).toContain('api.uploadQuotaBytesPerDay');
    // What is left still fits; the quota is per identity (the patient's is whole) and per node.
    expect((await upload(doctorA, QUOTA / 4)).status).toBe(201);
    expect((await upload(doctorA, 1)).body.error?.code).toBe('API_UPLOAD_QUOTA');
    expect((await upload(patient, QUOTA / 2)).status).toBe(201);
    expect(
      (
        await answer(
          await signedFetch(`${cluster.api[3]}/v1/blobs`, signerOf(doctorA), {
            method: 'POST',
            body: new Uint8Array(1024),
          }),
        )
      ).status,
    ).toBe(201);

    // A pharmacist, a registrar and a network admin add no records: they upload nothing.
    for (const who of [pharmacistA, registrar, admin]) {
      const refused = await upload(who, 1024);
      expect([refused.status, refused.body.error.code]).toEqual([403, 'API_NOT_IN_SCOPE']);
    }
    const unsigned = await upload(null, 1024);
    expect([unsigned.status, unsigned.body.error.code]).toEqual([401, 'API_UNSIGNED']);

    // A body other than the one whose Content-Digest was signed (same length) is refused.
    const signed = new Uint8Array(4096).fill(1);
    const headers = await signedHeaders(url, signerOf(patient), { method: 'POST', body: signed });
    const swapped = await answer(
      await fetch(url, { method: 'POST', headers, body: new Uint8Array(4096).fill(2) }),
    );
    expect([swapped.status, swapped.body.error.code]).toEqual([401, 'API_SIGNATURE_INVALID']);
    // And so is a digest header changed after signing, to match the other body.
    const tampered = await signedHeaders(url, signerOf(patient), { method: 'POST', body: signed });
    const other = await signedHeaders(url, signerOf(patient), {
      method: 'POST',
      body: new Uint8Array(4096).fill(2),
    });
    const altered = await answer(
      await fetch(url, {
        method: 'POST',
        headers: { ...tampered, 'content-digest': other['content-digest']! },
        body: new Uint8Array(4096).fill(2),
      }),
    );
    expect([altered.status, altered.body.error.code]).toEqual([401, 'API_SIGNATURE_INVALID']);
  });
});
