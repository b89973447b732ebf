/**
 * The key-share protocol on four in-process validators with their record services: a permitted
 * reader rebuilds the key from the validators' shares although one validator lies (its false share
 * is caught by its commitment); a validator releases no share for a read that is not a committed,
 * permitted, fresh record.read (unknown, not a read, forbidden, revoked, expired), and the serving
 * node punishes a peer that answers with another validator's share. A record service started after
 * the record committed fetches the ciphertext and the key blob by sweeping; one that missed the
 * erasure deletes both and signs its receipt by sweeping.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bytesEqual, hex } from '../src/bytes.ts';
import { decode, encode } from '../src/codec/index.ts';
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
import { KEY_SHARES_PROTOCOL, ShareRequest, ShareResponse } from '../src/node/key-shares.ts';
import { keyBlobStoreId, READ_PERMIT_TTL_MS, type RecordService } from '../src/node/records.ts';
import {
  combineShares,
  decodeKeyBlob,
  decryptStream,
  encryptStream,
  falseShareProof,
  makeKeyBlob,
  openReaderShare,
} from '../src/store/index.ts';
import { readerShareContext } from '../src/store/key-blob.ts';
import { startValidators, type TestValidators, until } from './fixtures/validators.ts';

let cluster: TestValidators;
const nonces = new Map<string, number>();
const plaintext = new TextEncoder().encode('{"resourceType":"Observation","status":"final"}');
const [adminA, adminB, registrar, doctorA, doctorB, doctorC, patient] = Array.from({ length: 7 }, () =>
  generateIdentityKeys(),
) as IdentityKeys[];
let recordId = '';
let cid = '';
let keyCid = '';
let ciphertext: Uint8Array[] = [];
let grantOfB: Transaction;

/** Commits a transaction and waits until every running validator has its block. */
async function commit<T extends TxType>(who: IdentityKeys, type: T, body: TxBody<T>, expected = 'OK') {
  const key = hex(who.signing.publicKey);
  const nonce = (nonces.get(key) ?? 0) + 1;
  nonces.set(key, nonce);
  const tx = buildTx(type, body, nonce, cluster.genesis.chainId, who.signing.secretKey);
  const node = cluster.nodes[0]!;
  node.submit(tx);
  // Committed everywhere, not only at node 0: the tests then ask other nodes' record services.
  await until(() => cluster.nodes.every((n) => !n || n.store.hasTxSync(txHash(tx))), 20_000);
  const found = await node.store.transaction(txHash(tx));
  expect(found?.receipt.code, found?.receipt.message).toBe(expected);
  return tx;
}

function service(i: number): RecordService {
  return cluster.records[i]!;
}

/** What validator `to` answers node 1 for `readTx`, straight over the protocol. */
async function ask(to: number, readTx: Uint8Array) {
  const frames = await cluster.nodes[1]!.host.request(
    KEY_SHARES_PROTOCOL,
    hex(cluster.keys[to]!.signing.publicKey),
    encode(ShareRequest, { kind: 'share', readTx, height: cluster.nodes[1]!.store.head.height }),
    10_000,
  );
  return decode(ShareResponse, frames[0]!);
}

function released(i: number): Promise<string> {
  return cluster.nodes[i]!.metrics.registry.getSingleMetricAsString('medledger_key_shares_released_total');
}

/** Serves a read at node 1 the way the API does, and decrypts on the "client" side. */
async function readAt1(reader: IdentityKeys, readTx: Transaction) {
  const grant = await service(1).grantFor(txHash(readTx));
  const keys = await service(1).keysFor(grant);
  const blob = decodeKeyBlob(keys.keyBlob);
  const trueShares: Uint8Array[] = [];
  const falseFrom: string[] = [];
  const proofs: Array<{ index: number; opening: Uint8Array }> = [];
  for (const share of keys.shares!.shares) {
    const input = {
      blob,
      chainId: cluster.genesis.chainId,
      index: share.index,
      readerSecretKey: reader.encryption.secretKey,
      readTx: txHash(readTx),
      sealed: share.sealed,
    };
    try {
      trueShares.push(openReaderShare(input));
    } catch (error) {
      expect((error as { code: string }).code).toBe('KEY_SHARE_FALSE');
      falseFrom.push(share.validator);
      const opening = falseShareProof(input);
      if (opening) proofs.push({ index: share.index, opening });
    }
  }
  const key = await combineShares(trueShares, blob.threshold);
  const out: Uint8Array[] = [];
  for await (const piece of decryptStream(service(1).ciphertext(grant.record), key)) out.push(piece);
  return { plaintext: Buffer.concat(out), falseFrom, proofs };
}

beforeAll(async () => {
  cluster = await startValidators(4, undefined, 1, { records: true });
  const admin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
  for (const [id, orgAdmin] of [
    ['hospital-a', adminA!],
    ['hospital-b', adminB!],
  ] as const) {
    await commit(admin, 'org.register', {
      id,
      kind: 'hospital',
      adminKey: orgAdmin.signing.publicKey,
      encryptionKey: orgAdmin.encryption.publicKey,
    });
  }
  for (const [orgAdmin, who, role] of [
    [adminA!, registrar!, 'registrar'],
    [adminA!, doctorA!, 'doctor'],
    [adminB!, doctorB!, 'doctor'],
    [adminB!, doctorC!, 'doctor'],
  ] as const) {
    await commit(orgAdmin, 'practitioner.register', {
      signingKey: who.signing.publicKey,
      encryptionKey: who.encryption.publicKey,
      roles: [role],
    });
  }
  const keys = { signingKey: patient!.signing.publicKey, encryptionKey: patient!.encryption.publicKey };
  await commit(registrar!, 'patient.register', {
    ...keys,
    coSignature: signPatientRegistration(
      cluster.genesis.chainId,
      identityId(registrar!.signing.publicKey),
      keys,
      patient!.signing.secretKey,
    ),
  });
  // Validator 3's record service stops before the record is added: it must catch up by sweeping.
  await cluster.records[3]!.stop();
  cluster.records[3] = null;

  const dataKey = randomBytes(32);
  ciphertext = [];
  for await (const piece of encryptStream([plaintext], dataKey)) ciphertext.push(piece);
  cid = (await service(0).upload(ciphertext)).cid.toString();
  const blob = await makeKeyBlob({
    chainId: cluster.genesis.chainId,
    recordCid: cid,
    dataKey,
    validators: cluster.genesis.validators,
    patientKey: patient!.encryption.publicKey,
  });
  keyCid = (await service(0).upload([blob.bytes])).cid.toString();
  const added = await commit(doctorA!, 'record.add', {
    patient: identityId(patient!.signing.publicKey),
    contentType: 'Observation',
    cid,
    size_bytes: Buffer.concat(ciphertext).length,
    keyCid,
    previous: null,
    purpose: 'treatment',
  });
  recordId = createdId('record', added);
  grantOfB = await commit(patient!, 'consent.grant', {
    subject: { kind: 'practitioner', id: identityId(doctorB!.signing.publicKey) },
    scope: { kind: 'all' },
    actions: ['read'],
    purpose: 'any',
    expires_ms: Date.now() + 3_600_000,
  });
}, 90_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await cluster?.close();
});

describe('the key-share protocol', () => {
  it('a reader rebuilds the key from true shares although one validator answers with a false one', async () => {
    // Validator 2 lies: a well-formed share under its own index, sealed to the reader, of random bytes.
    const liar = cluster.nodes[2]!.host;
    await liar.offRequest(KEY_SHARES_PROTOCOL);
    await liar.onRequest(KEY_SHARES_PROTOCOL, async (_peer, frame) => {
      const request = decode(ShareRequest, frame);
      if (request.kind !== 'share') return [];
      const { readTx } = request;
      const sealed = seal(
        doctorB!.encryption.publicKey,
        randomBytes(49),
        readerShareContext(cluster.genesis.chainId, readTx, 2),
      );
      return [encode(ShareResponse, { kind: 'share', index: 2, sealed })];
    });
    const read = await commit(doctorB!, 'record.read', { record: recordId, purpose: 'treatment' });
    const result = await readAt1(doctorB!, read);
    expect(bytesEqual(result.plaintext, plaintext)).toBe(true);
    expect(result.falseFrom).toEqual(['validator-2']);
    // The reader proves it (the envelope's opening, nothing else), and the serving node punishes the liar.
    const punished = cluster.nodes[1]!.host.metrics.disconnectedForMisbehaviour;
    const reported = await service(1).reportFalseShares(txHash(read), [
      ...result.proofs,
      { index: 3, opening: randomBytes(32) }, // a false claim against an honest validator proves nothing
    ]);
    expect(reported).toEqual({ punished: ['validator-2'], unproven: [3] });
    await until(() => (punished.get('false-key-share') ?? 0) > 0, 5000);

    // A peer answering with another validator's index is punished by the serving node (once the
    // liar, disconnected for its false share, is connected again).
    const liarKey = hex(cluster.keys[2]!.signing.publicKey);
    await until(() => !cluster.nodes[1]!.host.connectedPeers().includes(liarKey), 5_000);
    await until(() => cluster.nodes[1]!.host.connectedPeers().includes(liarKey), 15_000);
    await liar.offRequest(KEY_SHARES_PROTOCOL);
    await liar.onRequest(KEY_SHARES_PROTOCOL, async () => [
      encode(ShareResponse, { kind: 'share', index: 0, sealed: randomBytes(97) }),
    ]);
    const again = await commit(doctorB!, 'record.read', { record: recordId, purpose: 'treatment' });
    const grant = await service(1).grantFor(txHash(again));
    const keys = await service(1).keysFor(grant);
    expect(keys.shares!.shares.map((s) => s.validator)).not.toContain('validator-2');
    await until(() => (punished.get('share-of-another-validator') ?? 0) > 0, 5000);
  }, 60_000);

  it('a validator started late fetches the ciphertext and the key blob by sweeping', async () => {
    const { RecordService } = await import('../src/node/records.ts');
    cluster.records[3] = await RecordService.start({
      node: cluster.nodes[3]!,
      dataDir: `${cluster.dir}/node-3`,
      encryptionSecretKey: cluster.keys[3]!.encryption.secretKey,
      log: { info() {}, warn() {}, debug() {} },
      firstSweep_ms: 100,
    });
    await until(
      async () => (await service(3).blobs.hasRecord(cid)) && service(3).blobs.hasRecord(keyCid),
      15_000,
    );
    expect((await service(3).blobs.recordCid(recordId))?.toString()).toBe(cid);
    expect((await service(3).blobs.recordCid(keyBlobStoreId(recordId)))?.toString()).toBe(keyCid);
  }, 30_000);

  it('no validator releases a share without a committed, permitted, fresh read', async () => {
    const before = await Promise.all([0, 1, 3].map(released));
    const expectRefused = async (readTx: Uint8Array, code: string) => {
      for (const to of [0, 3]) {
        const answer = await ask(to, readTx);
        expect(answer, `validator ${to}`).toMatchObject({ kind: 'refused', code });
      }
      await expect(service(1).grantFor(readTx)).rejects.toMatchObject({ code });
    };
    // Never committed (asked at the current height, so the validator does not wait).
    await expectRefused(randomBytes(32), 'API_TX_NOT_FOUND');
    // Committed, but not a read.
    const grantTx = await commit(patient!, 'consent.grant', {
      subject: { kind: 'practitioner', id: identityId(doctorC!.signing.publicKey) },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + 3_600_000,
    });
    await expectRefused(txHash(grantTx), 'API_NOT_A_READ');
    // Forbidden: a forbid wins over the grant just made.
    await commit(patient!, 'consent.forbid', {
      subject: { kind: 'practitioner', id: identityId(doctorC!.signing.publicKey) },
      scope: { kind: 'all' },
      actions: ['read'],
    });
    const forbidden = await commit(
      doctorC!,
      'record.read',
      { record: recordId, purpose: 'treatment' },
      'DENIED',
    );
    await expectRefused(txHash(forbidden), 'API_READ_DENIED');
    // Revoked: doctor B's grant goes; the next read is denied everywhere.
    const permittedEarlier = await commit(doctorB!, 'record.read', {
      record: recordId,
      purpose: 'treatment',
    });
    await commit(patient!, 'consent.revoke', { policy: createdId('grant', grantOfB) });
    const revoked = await commit(
      doctorB!,
      'record.read',
      { record: recordId, purpose: 'treatment' },
      'DENIED',
    );
    await expectRefused(txHash(revoked), 'API_READ_DENIED');
    // Expired (replayed later): the permit committed before the revocation, 16 minutes on.
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => now + READ_PERMIT_TTL_MS + 60_000);
    try {
      await expectRefused(txHash(permittedEarlier), 'API_READ_EXPIRED');
    } finally {
      clock.mockRestore();
    }
    expect(await Promise.all([0, 1, 3].map(released))).toEqual(before);
  }, 60_000);

  it('a validator whose share a writer sealed to a wrong key says so when the record commits', async () => {
    const unusable = (i: number) =>
      cluster.nodes[i]!.metrics.registry.getSingleMetricAsString('medledger_key_blobs_unusable_total');
    const dataKey = randomBytes(32);
    const pieces: Uint8Array[] = [];
    for await (const piece of encryptStream([plaintext], dataKey)) pieces.push(piece);
    const badCid = (await service(0).upload(pieces)).cid.toString();
    // A lying node told the writer a wrong X25519 key for validator 2.
    const validators = cluster.genesis.validators.map((v, i) =>
      i === 2 ? { ...v, encryptionKey: generateIdentityKeys().encryption.publicKey } : v,
    );
    const blob = await makeKeyBlob({
      chainId: cluster.genesis.chainId,
      recordCid: badCid,
      dataKey,
      validators,
      patientKey: patient!.encryption.publicKey,
    });
    const badKeyCid = (await service(0).upload([blob.bytes])).cid.toString();
    await commit(doctorA!, 'record.add', {
      patient: identityId(patient!.signing.publicKey),
      contentType: 'Observation',
      cid: badCid,
      size_bytes: Buffer.concat(pieces).length,
      keyCid: badKeyCid,
      previous: null,
      purpose: 'treatment',
    });
    await until(async () => / 1$/m.test(await unusable(2)), 15_000);
    for (const i of [0, 1]) expect(await unusable(i), `validator ${i}`).toMatch(/ 0$/m);
  }, 30_000);

  it('a validator that missed the erasure deletes both blobs and signs its receipt when it sweeps', async () => {
    await cluster.records[3]!.stop();
    cluster.records[3] = null;
    await commit(patient!, 'record.erase', { record: recordId });
    for (const i of [0, 1, 2]) {
      await until(
        async () =>
          (await service(i).blobs.isErased(recordId)) && !(await service(i).blobs.hasRecord(keyCid)),
        10_000,
      );
    }
    const { RecordService } = await import('../src/node/records.ts');
    cluster.records[3] = await RecordService.start({
      node: cluster.nodes[3]!,
      dataDir: `${cluster.dir}/node-3`,
      encryptionSecretKey: cluster.keys[3]!.encryption.secretKey,
      log: { info() {}, warn() {}, debug() {} },
      erasures: cluster.erasures[3]!,
      firstSweep_ms: 100,
    });
    await until(() => cluster.erasures[3]!.signed(recordId), 15_000);
    expect(await service(3).blobs.hasRecord(cid)).toBe(false);
    expect(await service(3).blobs.hasRecord(keyCid)).toBe(false);
    const receipts = await cluster.erasures[0]!.list(recordId);
    expect(receipts.map((r) => hex(r.validator))).toContain(hex(cluster.keys[3]!.signing.publicKey));
    expect(receipts).toHaveLength(4);
  }, 60_000);
});
