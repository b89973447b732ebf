/**
 * The key protocol against a lying peer: four in-process validators, each with its record service
 * except validator 2, which answers every key request at once with a made-up envelope. A permitted
 * reader at validator 1 still gets the envelope the custodian (validator 0) sealed for it, decrypts
 * the record, and the liar is punished for its answer. Validator 3's record service starts only after
 * the record committed: its sweep for incomplete records fetches it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../src/codec/index.ts';
import {
  buildTx,
  createdId,
  identityId,
  signPatientRegistration,
  type TxBody,
  type TxType,
} from '../src/contracts/index.ts';
import { generateIdentityKeys, type IdentityKeys, randomBytes, seal } from '../src/crypto/index.ts';
import { type Transaction, txHash } from '../src/ledger/index.ts';
import { KeyResponse, RECORD_KEYS_PROTOCOL } from '../src/node/record-keys.ts';
import { RecordService } from '../src/node/records.ts';
import { decryptRecord, encryptStream, recordContext } from '../src/store/index.ts';
import { startValidators, type TestValidators, until } from './fixtures/validators.ts';

const SILENT = { info() {}, warn() {}, debug() {} };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let cluster: TestValidators;
const services: RecordService[] = [];
const custodianKeys = [generateIdentityKeys(), generateIdentityKeys(), null, generateIdentityKeys()];
const nonces = new Map<string, number>();

/** Commits a transaction and waits until every validator has its block. */
async function commit<T extends TxType>(who: IdentityKeys, type: T, body: TxBody<T>): Promise<Transaction> {
  const key = hex(who.signing.publicKey);
  const nonce = (nonces.get(key) ?? 0) + 1;
  nonces.set(key, nonce);
  const tx = buildTx(type, body, nonce, cluster.genesis.chainId, who.signing.secretKey);
  const id = hex(txHash(tx));
  const node = cluster.nodes[0]!;
  cluster.nodes[0]!.submit(tx);
  await until(async () => node.store.hasTxSync(Buffer.from(id, 'hex')), 20_000);
  const height = node.store.head.height;
  await Promise.all(cluster.nodes.map((n) => n!.waitForHeight(height, 5000)));
  const found = await node.store.transaction(Buffer.from(id, 'hex'));
  expect(found?.receipt.code, found?.receipt.message).toBe('OK');
  return tx;
}

beforeAll(async () => {
  cluster = await startValidators(4, undefined, 1);
  for (const i of [0, 1]) {
    services[i] = await RecordService.start({
      node: cluster.nodes[i]!,
      dataDir: `${cluster.dir}/records-${i}`,
      encryptionSecretKey: custodianKeys[i]!.encryption.secretKey,
      log: SILENT,
    });
  }
  // The liar claims custody of everything, at once, with a made-up envelope and nonce.
  await cluster.nodes[2]!.host.onRequest(RECORD_KEYS_PROTOCOL, async () => [
    encode(KeyResponse, { kind: 'envelope', envelope: randomBytes(92), nonce: randomBytes(32) }),
  ]);
}, 60_000);

afterAll(async () => {
  for (const service of services) await service?.stop();
  await cluster?.close();
});

describe('the key protocol', () => {
  it("a reader gets the custodian's envelope although another peer answers first with a lie", async () => {
    const admin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
    const [adminA, adminB, registrar, doctorA, doctorB, patient] = Array.from({ length: 6 }, () =>
      generateIdentityKeys(),
    ) as IdentityKeys[];
    for (const [id, orgAdmin, custodian] of [
      ['hospital-a', adminA!, custodianKeys[0]!],
      ['hospital-b', adminB!, custodianKeys[1]!],
    ] as const) {
      await commit(admin, 'org.register', {
        id,
        kind: 'hospital',
        adminKey: orgAdmin.signing.publicKey,
        encryptionKey: custodian.encryption.publicKey,
      });
    }
    for (const [orgAdmin, who, role] of [
      [adminA!, registrar!, 'registrar'],
      [adminA!, doctorA!, 'doctor'],
      [adminB!, doctorB!, 'doctor'],
    ] as const) {
      await commit(orgAdmin, 'practitioner.register', {
        signingKey: who.signing.publicKey,
        encryptionKey: who.encryption.publicKey,
        roles: [role],
      });
    }
    const keys = { signingKey: patient!.signing.publicKey, encryptionKey: patient!.encryption.publicKey };
    const registrarId = identityId(registrar!.signing.publicKey);
    const chainId = cluster.genesis.chainId;
    await commit(registrar!, 'patient.register', {
      ...keys,
      coSignature: signPatientRegistration(chainId, registrarId, keys, patient!.signing.secretKey),
    });

    const plaintext = new TextEncoder().encode('{"resourceType":"Observation","status":"final"}');
    const dataKey = randomBytes(32);
    const pieces: Uint8Array[] = [];
    for await (const piece of encryptStream([plaintext], dataKey)) pieces.push(piece);
    const stored = await services[0]!.upload(pieces);
    const cid = stored.cid.toString();
    const context = recordContext(chainId, cid);
    const added = await commit(doctorA!, 'record.add', {
      patient: identityId(patient!.signing.publicKey),
      contentType: 'Observation',
      cid,
      size_bytes: stored.size,
      envelopePatient: seal(patient!.encryption.publicKey, dataKey, context),
      envelopeCustodian: seal(custodianKeys[0]!.encryption.publicKey, dataKey, context),
      previous: null,
      purpose: 'treatment',
    });
    const record = createdId('record', added);
    await commit(patient!, 'consent.grant', {
      subject: { kind: 'practitioner', id: identityId(doctorB!.signing.publicKey) },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + 3_600_000,
    });
    const read = await commit(doctorB!, 'record.read', { record, purpose: 'treatment' });

    const reader = services[1]!;
    const grant = await reader.grantFor(txHash(read));
    const envelope = await reader.envelopeFor(grant);
    const out: Uint8Array[] = [];
    for await (const piece of decryptRecord(reader.ciphertext(grant.record), {
      secretKey: doctorB!.encryption.secretKey,
      envelope,
      context,
    }))
      out.push(piece);
    expect(Buffer.concat(out).equals(Buffer.from(plaintext))).toBe(true);

    // A node that missed the commit (its record service was not running) completes it by sweeping.
    services[3] = await RecordService.start({
      node: cluster.nodes[3]!,
      dataDir: `${cluster.dir}/records-3`,
      encryptionSecretKey: custodianKeys[3]!.encryption.secretKey,
      log: SILENT,
      firstSweep_ms: 100,
    });
    await until(() => services[3]!.blobs.hasRecord(cid), 10_000);
    expect(await services[3]!.blobs.recordCid(record)).toBeDefined();
    const punished = cluster.nodes[1]!.host.metrics.disconnectedForMisbehaviour;
    await until(() => (punished.get('false-custodian-answer') ?? 0) > 0, 5000);
  }, 60_000);
});
