/**
 * The record flows over the HTTP API of four real validator processes, with the client's own code
 * (src/client/records.ts): two hospitals, each run by its own node; a record written at the first,
 * its key split among the four validators, is read at the second only after the patient's grant,
 * then again, and under break-glass, while the first hospital's node is stopped; with only one
 * validator up a permit gets no key; the audit trail; erasure, with a validator down meanwhile.
 * Every request for personal data is signed by whom the scenario is about: the doctor reads as the
 * doctor, the patient asks for their records, trail and receipts as the patient.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual, fromHex, hex } from '../src/bytes.ts';
import { NodeClient } from '../src/client/http.ts';
import { addRecord, readRecord } from '../src/client/records.ts';
import { encode } from '../src/codec/index.ts';
import { buildTx, signPatientRegistration, type TxBody, type TxType } from '../src/contracts/index.ts';
import { signRequest } from '../src/crypto/http-signature.ts';
import { generateIdentityKeys, type IdentityKeys, writeKeystore } from '../src/crypto/index.ts';
import { Transaction, txHash as txHashOf } from '../src/ledger/index.ts';
import { type ProcessCluster, startProcesses } from './fixtures/processes.ts';
import { cleanEnv, run } from './fixtures/run.ts';
import { until } from './fixtures/validators.ts';

let cluster: ProcessCluster;
let chainId: string;

async function api(i: number, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(`${cluster.api[i]}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** The headers of a GET signed by `who` (RFC 9421), as its client signs them. */
async function signedHeaders(i: number, path: string, who: IdentityKeys): Promise<Record<string, string>> {
  const id = (await api(i, `/v1/accounts/${hex(who.signing.publicKey)}`)).body.identity.id;
  return signRequest(
    { method: 'GET', url: `${cluster.api[i]}${path}`, headers: {} },
    id,
    who.signing.secretKey,
  );
}

/** A GET signed by `who`. */
async function signedApi(i: number, path: string, who: IdentityKeys) {
  return api(i, path, { headers: await signedHeaders(i, path, who) });
}

/** A client of node `i` signing as `who` (a registered identity). */
async function clientAs(i: number, who: IdentityKeys): Promise<NodeClient> {
  const id = (await api(i, `/v1/accounts/${hex(who.signing.publicKey)}`)).body.identity.id;
  return new NodeClient(cluster.api[i]!, { signer: { id, secretKey: who.signing.secretKey } });
}

/** The last nonce this test used per sender: node `i` may not have applied a block another node committed. */
const lastNonce = new Map<string, number>();

/** Signs and submits a transaction at node `i`, waiting for its receipt. */
async function send<T extends TxType>(i: number, who: IdentityKeys, type: T, body: TxBody<T>) {
  // The client's flows sign with the same keys: the nonce comes from the chain, or from this test's
  // own last one when node `i` is behind the node that committed it.
  const key = hex(who.signing.publicKey);
  const onChain = (await api(i, `/v1/accounts/${key}`)).body.nonce;
  const nonce = Math.max(onChain, lastNonce.get(key) ?? 0) + 1;
  lastNonce.set(key, nonce);
  const tx = buildTx(type, body, nonce, chainId, who.signing.secretKey);
  const { status, body: reply } = await api(i, '/v1/txs?wait_ms=10000', {
    method: 'POST',
    body: encode(Transaction, tx),
  });
  expect(status).toBe(200);
  return { tx, receipt: reply.receipt as { code: string; message: string } };
}

async function ok<T extends TxType>(i: number, who: IdentityKeys, type: T, body: TxBody<T>) {
  const { tx, receipt } = await send(i, who, type, body);
  expect(receipt.code, receipt.message).toBe('OK');
  return tx;
}

let admin: IdentityKeys;
const adminA = generateIdentityKeys();
const adminB = generateIdentityKeys();
const registrar = generateIdentityKeys();
const doctorA = generateIdentityKeys();
const doctorB = generateIdentityKeys();
const patient = generateIdentityKeys();
const plaintext = new TextEncoder().encode(
  JSON.stringify({
    resourceType: 'Observation',
    status: 'final',
    valueQuantity: { value: 7.2, unit: 'mmol/L' },
  }),
);
const nurse = generateIdentityKeys();
let patientId = '';
let doctorBId = '';
let recordId = '';
let cid = '';
let outDir = '';

/** Reads the record at node `i` with the real client flow; the plaintext must come back byte for byte. */
async function readAt(i: number, reader: IdentityKeys, purpose: 'treatment' | 'emergency' = 'treatment') {
  const out = join(outDir, `read-${Date.now()}-${Math.random()}.json`);
  const result = await readRecord(new NodeClient(cluster.api[i]!), reader, {
    record: recordId,
    purpose,
    out,
  });
  expect(bytesEqual(await readFile(out), plaintext)).toBe(true);
  return result;
}

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'medledger-api-records-'));
  cluster = await startProcesses(4, undefined, undefined, 1);
  admin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
  chainId = cluster.genesis.chainId;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('the record read flow', () => {
  it('registers two hospitals, each run by its own node', async () => {
    const [node0, node1] = await Promise.all([api(0, '/v1/node'), api(1, '/v1/node')]);
    expect(node0.body).toMatchObject({ chainId, validator: { index: 0 } });
    for (const [i, id, orgAdmin, node] of [
      [0, 'hospital-a', adminA, node0],
      [1, 'hospital-b', adminB, node1],
    ] as const) {
      await ok(i, admin, 'org.register', {
        id,
        kind: 'hospital',
        adminKey: orgAdmin.signing.publicKey,
        encryptionKey: fromHex(node.body.encryptionKey),
      });
    }
    // The directory is for signed members: the network admin, here.
    const org = await signedApi(1, '/v1/orgs/hospital-a', admin);
    expect(org.body.encryptionKey).toBe(node0.body.encryptionKey);
    expect((await api(1, '/v1/orgs/hospital-a')).body.error.code).toBe('API_UNSIGNED');
    for (const [i, orgAdmin, who, role] of [
      [0, adminA, registrar, 'registrar'],
      [0, adminA, doctorA, 'doctor'],
      [1, adminB, doctorB, 'doctor'],
    ] as const) {
      await ok(i, orgAdmin, 'practitioner.register', {
        signingKey: who.signing.publicKey,
        encryptionKey: who.encryption.publicKey,
        roles: [role],
      });
    }
    const registrarId = (await api(0, `/v1/accounts/${hex(registrar.signing.publicKey)}`)).body.identity.id;
    const keys = { signingKey: patient.signing.publicKey, encryptionKey: patient.encryption.publicKey };
    await ok(0, registrar, 'patient.register', {
      ...keys,
      coSignature: signPatientRegistration(chainId, registrarId, keys, patient.signing.secretKey),
    });
    const account = await api(0, `/v1/accounts/${hex(patient.signing.publicKey)}`);
    expect(account.body.identity.kind).toBe('patient');
    patientId = account.body.identity.id;
  });

  it('a doctor adds a record: ciphertext and key blob uploaded, no key material on chain', async () => {
    const added = await addRecord(new NodeClient(cluster.api[0]!), doctorA, {
      patient: patientId,
      content: {
        file: 'observation.json',
        contentType: 'Observation',
        size: plaintext.length,
        bytes: plaintext,
      },
      previous: null,
      purpose: 'treatment',
    });
    recordId = added.record;
    cid = added.cid;
    expect(added.keyBlob_bytes).toBeGreaterThan(0);
    // The patient lists their records, the author sees its metadata, at the other hospital's node.
    const listed = await signedApi(1, `/v1/patients/${patientId}/records`, patient);
    expect(listed.body.records.map((r: { id: string }) => r.id)).toEqual([recordId]);
    const meta = await signedApi(1, `/v1/records/${recordId}`, doctorA);
    expect(meta.body).toMatchObject({ cid, keyCid: added.keyCid, custodian: 'hospital-a' });
    // The transaction names two CIDs and holds no sealed key; its sender sees it, no one else.
    const tx = await signedApi(1, `/v1/txs/${added.txHash}`, doctorA);
    expect(tx.status).toBe(200);
    const notTheSender = await signedApi(1, `/v1/txs/${added.txHash}`, patient);
    expect([notTheSender.status, notTheSender.body.error.code]).toEqual([403, 'API_NOT_IN_SCOPE']);
    const body = JSON.stringify(tx.body);
    expect(body).toContain(added.keyCid);
    expect(body).not.toMatch(/envelope/i);
    // Every validator holds the ciphertext and the key blob, replicated on commit.
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        until(
          async () => /^medledger_records_stored 2$/m.test((await api(i, '/metrics')).body as string),
          20_000,
        ),
      ),
    );
  });

  it("the other hospital's doctor is denied, then reads after the patient's grant", async () => {
    const denied = await send(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    expect(denied.receipt.code).toBe('DENIED');
    const refused = await signedApi(1, `/v1/reads/${hex(txHashOf(denied.tx))}`, doctorB);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('API_READ_DENIED');

    doctorBId = (await api(1, `/v1/accounts/${hex(doctorB.signing.publicKey)}`)).body.identity.id;
    await ok(0, patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: doctorBId },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + 86_400_000,
    });
    const read = await readAt(1, doctorB);
    expect(read).toMatchObject({ emergency: false, falseShares: [] });
    expect(read.sharesFrom).toHaveLength(2);
    // The patient reads through the key blob's own envelope, without any share.
    const own = await readAt(2, patient);
    expect(own.sharesFrom).toEqual([]);
  });

  it("with the custodian hospital's node stopped, the granted doctor and the emergency nurse still read", async () => {
    await cluster.kill(0);
    const read = await readAt(1, doctorB);
    expect(read.sharesFrom).not.toContain('validator-0');
    expect(read.sharesFrom).toHaveLength(2);
    // Break glass at hospital B: no grant, a flagged emergency read, served by validators 1-3.
    await ok(1, adminB, 'practitioner.register', {
      signingKey: nurse.signing.publicKey,
      encryptionKey: nurse.encryption.publicKey,
      roles: ['emergency-staff'],
    });
    await ok(1, nurse, 'emergency.open', {
      patient: patientId,
      reason: 'unconscious on arrival',
      duration_ms: 3_600_000,
    });
    const emergency = await readAt(1, nurse, 'emergency');
    expect(emergency.emergency).toBe(true);
  });

  it('with only f validators up a committed permit gets no key: the error names how many answered', async () => {
    const permitted = await ok(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    await Promise.all([cluster.kill(2), cluster.kill(3)]);
    const refused = await signedApi(1, `/v1/reads/${hex(txHashOf(permitted))}`, doctorB);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('API_KEY_SHARES_UNAVAILABLE');
    expect(refused.body.error.message).toMatch(
      /^1 of 4 validators released a key share for this read; 2 are needed/,
    );
    expect(refused.body.error.message).toContain('unreachable: validator-0, validator-2, validator-3');
    await Promise.all([cluster.start(0), cluster.start(2), cluster.start(3)]);
    await Promise.all(
      [0, 2, 3].map((i) => until(async () => (await api(i, '/readyz')).status === 200, 30_000)),
    );
    // Ready is not caught up: the next tests read the audit trail (with the permit above) from them.
    const { height } = (await api(1, '/v1/status')).body;
    await Promise.all(
      [0, 2, 3].map((i) => until(async () => (await api(i, '/v1/status')).body.height >= height, 30_000)),
    );
  });

  it("the patient's audit trail tells a permit the validators served from one they could not", async () => {
    const page = await (await clientAs(3, patient)).audit({
      by: 'patient',
      id: patientId,
      limit: 50,
      served: true,
    });
    const reads = page.entries.filter(
      (e) => e.action === 'read' && e.decision === 'permit' && e.actor !== patientId,
    );
    // Newest first: the permit decided while only validator 1 was up, which only it released.
    expect(reads[0]!.served).toEqual({ releasedBy: ['validator-1'], needed: 2, served: false });
    for (const read of reads.slice(1)) expect(read.served?.served, JSON.stringify(read)).toBe(true);
    expect(page.entries.find((e) => e.action !== 'read')?.served).toBeUndefined();
    expect(page.entries.find((e) => e.action === 'read' && e.actor === patientId)?.served).toBeUndefined();
    const bin = new URL('../bin/medledger.js', import.meta.url).pathname;
    // The patient's own keystore signs the CLI's request.
    const keystore = join(outDir, 'patient.key');
    await writeKeystore(keystore, patient, 'patient passphrase', { scrypt: { N: 2 ** 12, r: 8, p: 1 } });
    const table = await run(
      process.execPath,
      [bin, 'audit', '--patient', patientId, '--node', cluster.api[3]!, '--keystore', keystore],
      { env: cleanEnv({ MEDLEDGER_PASSPHRASE: 'patient passphrase' }) },
    );
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('NOT SERVED: 1 of 2 key shares released');
    expect(table.stdout).toContain('served (');
  });

  it("the patient's audit trail shows the denial, the grant and the read", async () => {
    const { body } = await signedApi(2, `/v1/audit?by=patient&id=${patientId}&limit=50`, patient);
    const actions = body.entries.map(
      (e: { action: string; decision: string }) => `${e.action}:${e.decision}`,
    );
    expect(actions).toContain('emergency:permit');
    expect(actions.slice(-4)).toEqual(['read:permit', 'grant:permit', 'read:deny', 'append:permit']);
  });

  it('a read permit is not a bearer token: only its signed reader gets what it releases, while the rules allow', async () => {
    const permitted = await ok(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    const path = `/v1/reads/${hex(txHashOf(permitted))}`;
    for (const route of [path, `${path}/content`]) {
      expect((await api(1, route)).body.error.code, route).toBe('API_UNSIGNED');
      expect((await signedApi(1, route, doctorA)).body.error.code, route).toBe('API_NOT_IN_SCOPE');
      expect((await signedApi(1, route, patient)).body.error.code, route).toBe('API_NOT_IN_SCOPE');
    }
    // Node 1 logged doctor A's attempts on the patient's record: the patient sees them there.
    const doctorAId = (await api(1, `/v1/accounts/${hex(doctorA.signing.publicKey)}`)).body.identity.id;
    const refusals = await signedApi(1, `/v1/audit/refusals?by=patient&id=${patientId}`, patient);
    expect(refusals.status).toBe(200);
    expect(
      refusals.body.entries
        .filter((e: { actor: string }) => e.actor === doctorAId)
        .map((e: { route: string; record: string; code: string }) => [e.route, e.record, e.code]),
    ).toEqual([`${path}/content`, path].map((route) => [`GET ${route}`, recordId, 'API_NOT_IN_SCOPE']));
    // The reader's own signature works once; the same headers again are a replay.
    const headers = await signedHeaders(1, path, doctorB);
    expect((await api(1, path, { headers })).status).toBe(200);
    expect((await api(1, path, { headers })).body.error.code).toBe('API_SIGNATURE_REPLAYED');
    // Altered after signing (another path), or signed two minutes ago: refused.
    const other = `/v1/reads/${'11'.repeat(32)}`;
    expect((await api(1, other, { headers: await signedHeaders(1, path, doctorB) })).body.error.code).toBe(
      'API_SIGNATURE_INVALID',
    );
    const stale = await signedHeaders(1, path, doctorB);
    const created = Math.floor(Date.now() / 1000);
    const old = created - 120;
    const input = stale['signature-input']!.replace(/created=\d+/, `created=${old}`);
    expect(input).not.toBe(stale['signature-input']);
    expect((await api(1, path, { headers: { ...stale, 'signature-input': input } })).status).toBe(401); // altered: no longer verifies
    const nowhereRead = `/v1/reads/${'22'.repeat(32)}`;
    // One identity cannot crowd out the others: past 600 signed requests in the window (a few of the
    // nurse's were made by her read above), its own get 429, and others' still pass.
    let served = 0;
    for (let status = 404; status === 404; served++) {
      status = (await signedApi(1, nowhereRead, nurse)).status;
      if (status !== 404) expect(status).toBe(429);
      expect(served).toBeLessThan(601);
    }
    expect(served).toBeGreaterThan(590);
    expect((await signedApi(1, path, doctorB)).status).toBe(200);
    // A grant revoked after the permit stops the release at once, within the permit's 15 minutes.
    const grants = await signedApi(1, `/v1/patients/${patientId}/policies`, patient);
    const grant = grants.body.policies.find(
      (p: any) => p.subject.id === doctorBId && p.policy.effect === 'permit',
    );
    expect(grant).toBeDefined();
    await ok(0, patient, 'consent.revoke', { policy: grant.policy.id });
    const revoked = await signedApi(1, path, doctorB);
    expect(revoked.status).toBe(403);
    expect(revoked.body.error.code).toBe('API_READ_REVOKED');
    await ok(0, patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: doctorBId },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + 86_400_000,
    });
  });

  it('errors: unknown ids, a non-read transaction, malformed input', async () => {
    // An unknown record is answered as one outside the caller's scope: an id says nothing.
    const unknown = await signedApi(0, '/v1/records/rec-nope', patient);
    expect([unknown.status, unknown.body.error.code]).toEqual([403, 'API_NOT_IN_SCOPE']);
    // A network admin, whose scope is every record, learns that it does not exist.
    const unknownToAdmin = await signedApi(0, '/v1/records/rec-nope', admin);
    expect([unknownToAdmin.status, unknownToAdmin.body.error.code]).toEqual([404, 'API_UNKNOWN_RECORD']);
    // And that there is no such patient.
    const nobody = await signedApi(0, '/v1/patients/nobody/records', admin);
    expect([nobody.status, nobody.body.error.code]).toEqual([404, 'API_UNKNOWN_PATIENT']);
    expect((await api(0, `/v1/reads/${'00'.repeat(32)}`)).body.error.code).toBe('API_UNSIGNED');
    expect((await signedApi(0, `/v1/reads/${'00'.repeat(32)}`, doctorB)).status).toBe(404);
    expect((await signedApi(0, '/v1/audit?by=patient', admin)).body.error.code).toBe('BAD_AUDIT_QUERY');
    expect((await api(0, '/v1/txs', { method: 'POST', body: 'garbage' })).body.error.code).toBe(
      'API_MALFORMED_TX',
    );
    expect((await api(0, '/v1/txs', { method: 'GET' })).status).toBe(405);
  });

  it('the patient erases the record: reads are refused, ciphertext and key blob are gone everywhere', async () => {
    // Validator 3 is down during the erase and deletes both when it comes back.
    await cluster.kill(3);
    await ok(0, patient, 'record.erase', { record: recordId });
    const after = await send(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    expect(after.receipt.code).toBe('RECORD_ERASED');
    const refused = await signedApi(1, `/v1/reads/${hex(txHashOf(after.tx))}`, doctorB);
    expect(refused.status).toBe(410);
    await cluster.start(3);
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        until(
          async () => /^medledger_records_stored 0$/m.test((await api(i, '/metrics')).body as string),
          30_000,
        ),
      ),
    );
    for (const i of [0, 1, 2, 3]) {
      expect((await api(i, '/metrics')).body as string).toMatch(/^medledger_blobs_stored 0$/m);
    }
    // Every validator signed a receipt, validator 3 once it caught up; the client checks each signature.
    const client = await clientAs(2, patient);
    await until(async () => (await client.erasure(recordId)).receipts.length === 4, 20_000);
    const erasure = await client.erasure(recordId);
    expect(erasure).toMatchObject({
      record: recordId,
      erased: true,
      validators: 4,
      needed: 3,
      shredded: true,
    });
    expect(erasure.rejected).toEqual([]);
    expect(erasure.receipts.map((r) => r.validator)).toEqual([
      'validator-0',
      'validator-1',
      'validator-2',
      'validator-3',
    ]);
  });
});
