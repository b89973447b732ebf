/**
 * The record read flow over the HTTP API of four real validator processes: two hospitals, each the
 * custodian on its own node; a record written at the first is read at the second only after the
 * patient's grant, with the key re-sealed by the first hospital's node over p2p and the ciphertext
 * replicated to the second; queries, the audit trail and erasure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../src/codec/index.ts';
import {
  buildTx,
  createdId,
  signPatientRegistration,
  type TxBody,
  type TxType,
} from '../src/contracts/index.ts';
import { generateIdentityKeys, type IdentityKeys, randomBytes, seal } from '../src/crypto/index.ts';
import { Transaction, txHash as txHashOf } from '../src/ledger/index.ts';
import { decryptRecord, encryptStream, recordContext } from '../src/store/index.ts';
import { type ProcessCluster, startProcesses } from './fixtures/processes.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
let cluster: ProcessCluster;
let chainId: string;
const nonces = new Map<string, number>();

async function api(i: number, path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(`${cluster.api[i]}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** Signs and submits a transaction at node `i`, waiting for its receipt. */
async function send<T extends TxType>(i: number, who: IdentityKeys, type: T, body: TxBody<T>) {
  const key = hex(who.signing.publicKey);
  const nonce = (nonces.get(key) ?? 0) + 1;
  nonces.set(key, nonce);
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
let patientId = '';
let recordId = '';
let cid = '';

beforeAll(async () => {
  cluster = await startProcesses(4, undefined, undefined, 1);
  admin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
  chainId = cluster.genesis.chainId;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe('the record read flow', () => {
  it('registers two hospitals whose custodian keys are their nodes', async () => {
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
        encryptionKey: Buffer.from(node.body.encryptionKey, 'hex'),
      });
    }
    const org = await api(1, '/v1/orgs/hospital-a');
    expect(org.body.encryptionKey).toBe(node0.body.encryptionKey);
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

  it('a doctor uploads a ciphertext and commits the record', async () => {
    const dataKey = randomBytes(32);
    const pieces: Uint8Array[] = [];
    for await (const piece of encryptStream([plaintext], dataKey)) pieces.push(piece);
    const upload = await api(0, '/v1/blobs', { method: 'POST', body: Buffer.concat(pieces) });
    expect(upload.status).toBe(201);
    cid = upload.body.cid;
    const context = recordContext(chainId, cid);
    const custodianKey = Buffer.from((await api(0, '/v1/orgs/hospital-a')).body.encryptionKey, 'hex');
    const tx = await ok(0, doctorA, 'record.add', {
      patient: patientId,
      contentType: 'Observation',
      cid,
      size_bytes: upload.body.size_bytes,
      envelopePatient: seal(patient.encryption.publicKey, dataKey, context),
      envelopeCustodian: seal(custodianKey, dataKey, context),
      previous: null,
      purpose: 'treatment',
    });
    recordId = createdId('record', tx);
    const listed = await api(1, `/v1/patients/${patientId}/records`);
    expect(listed.body.records.map((r: { id: string }) => r.id)).toEqual([recordId]);
  });

  it("the other hospital's doctor is denied, then reads after the patient's grant", async () => {
    const denied = await send(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    expect(denied.receipt.code).toBe('DENIED');
    const refused = await api(1, `/v1/reads/${hex(txHashOf(denied.tx))}`);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('API_READ_DENIED');

    const doctorBId = (await api(1, `/v1/accounts/${hex(doctorB.signing.publicKey)}`)).body.identity.id;
    await ok(0, patient, 'consent.grant', {
      subject: { kind: 'practitioner', id: doctorBId },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + 86_400_000,
    });
    const permitted = await ok(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    const read = await api(1, `/v1/reads/${hex(txHashOf(permitted))}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ reader: doctorBId, emergency: false, record: { id: recordId, cid } });
    const content = await fetch(`${cluster.api[1]}/v1/reads/${hex(txHashOf(permitted))}/content`);
    expect(content.status).toBe(200);
    const ciphertext = new Uint8Array(await content.arrayBuffer());
    const out: Uint8Array[] = [];
    for await (const piece of decryptRecord([ciphertext], {
      secretKey: doctorB.encryption.secretKey,
      envelope: Buffer.from(read.body.envelope, 'hex'),
      context: recordContext(chainId, cid),
    }))
      out.push(piece);
    expect(Buffer.concat(out).equals(Buffer.from(plaintext))).toBe(true);
    // The second hospital's node now holds the record: its manifest and one chunk.
    const metrics = (await api(1, '/metrics')).body as string;
    expect(metrics).toMatch(/^medledger_records_stored 1$/m);
    expect(metrics).toMatch(/^medledger_blobs_stored 2$/m);
  });

  it("the patient's audit trail shows the denial, the grant and the read", async () => {
    const { body } = await api(2, `/v1/audit?by=patient&id=${patientId}&limit=10`);
    const actions = body.entries.map(
      (e: { action: string; decision: string }) => `${e.action}:${e.decision}`,
    );
    expect(actions.slice(0, 3)).toEqual(['read:permit', 'grant:permit', 'read:deny']);
  });

  it('errors: unknown ids, a non-read transaction, malformed input', async () => {
    expect((await api(0, '/v1/records/rec-nope')).body.error.code).toBe('API_UNKNOWN_RECORD');
    expect((await api(0, '/v1/patients/nobody/records')).status).toBe(404);
    expect((await api(0, `/v1/reads/${'00'.repeat(32)}`)).status).toBe(404);
    expect((await api(0, '/v1/audit?by=patient')).body.error.code).toBe('BAD_AUDIT_QUERY');
    expect((await api(0, '/v1/txs', { method: 'POST', body: 'garbage' })).body.error.code).toBe(
      'API_MALFORMED_TX',
    );
    expect((await api(0, '/v1/txs', { method: 'GET' })).status).toBe(405);
  });

  it('the patient erases the record: reads are refused and the ciphertext is gone', async () => {
    await ok(0, patient, 'record.erase', { record: recordId });
    const after = await send(1, doctorB, 'record.read', { record: recordId, purpose: 'treatment' });
    expect(after.receipt.code).toBe('RECORD_ERASED');
    const refused = await api(1, `/v1/reads/${hex(txHashOf(after.tx))}`);
    expect(refused.status).toBe(410);
  });
});
