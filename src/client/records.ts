/**
 * The record flows of a client: adding a record (its content checked by record-content.ts, then
 * encrypted locally, the ciphertext uploaded, the data key split among the validators into a key
 * blob (src/store/key-blob.ts) uploaded beside it, record.add committed with both CIDs) and reading
 * one (commit record.read, fetch the key blob and the shares the validators re-sealed to the reader,
 * check each share against its commitment, rebuild the key, decrypt locally, check the CID, write
 * the file atomically). Plaintext and data keys never leave this process.
 */
import { createReadStream } from 'node:fs';
import { fromHex } from '../bytes.ts';
import { createdId, type Purpose } from '../contracts/index.ts';
import { type IdentityKeys, randomBytes } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { DATA_KEY_BYTES, decryptStream, encryptStream } from '../store/encryption.ts';
import {
  combineShares,
  decodeKeyBlob,
  falseShareProof,
  type KeyBlob,
  makeKeyBlob,
  openPatientKey,
  openReaderShare,
} from '../store/key-blob.ts';
import type { IdentityJson, ReadJson, RecordMetaJson } from './api-types.ts';
import { writeFileAtomically } from './atomic-file.ts';
import type { NodeClient } from './http.ts';
import { parseHexKey } from './keys.ts';
import { RecordCidHasher, recordCidOf } from './record-cid.ts';
import type { RecordContent } from './record-content.ts';
import { accountOf, requestSigner, signedClient, submitAndWait } from './submit.ts';

export interface AddRecordInput {
  patient: string;
  /** The plaintext, as checkRecordContent (record-content.ts) checked it; its type labels the record. */
  content: RecordContent;
  previous: string | null;
  purpose: Purpose;
}

export interface AddedRecord {
  record: string;
  /** The record's type: as given, or the resource's type for application/fhir+json. */
  contentType: string;
  cid: string;
  size_bytes: number;
  plaintext_bytes: number;
  custodian: string;
  /** The key blob's CID and size: the added bytes per record for keeping the key split. */
  keyCid: string;
  keyBlob_bytes: number;
  txHash: string;
  height: number;
}

/**
 * Encrypts the checked content for the patient and the author's organisation, uploads it, commits
 * it. Checking comes first and apart (checkRecordContent), so a caller can refuse a file before
 * asking for a passphrase, and nothing here runs on content that was not checked.
 */
export async function addRecord(
  client: NodeClient,
  author: IdentityKeys,
  input: AddRecordInput,
): Promise<AddedRecord> {
  // The author signs what they ask the node (the patient's key, the custodian's, the upload).
  if (client.signer === undefined) client = await signedClient(client, author);
  const { content } = input;
  const [chainId, patientKey, custodian, validators] = await Promise.all([
    client.chainId(),
    patientEncryptionKey(client, input.patient),
    custodianOf(client, author, input.patient),
    client.validators(),
  ]);

  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    const pieces: Uint8Array[] = [];
    const hasher = new RecordCidHasher();
    const plaintext = content.bytes === null ? readFile(content.file) : [content.bytes];
    for await (const piece of encryptStream(plaintext, dataKey)) {
      pieces.push(piece);
      hasher.update(piece);
    }
    const cid = hasher.cid();
    await upload(client, Buffer.concat(pieces), cid, hasher.size_bytes, 'ciphertext');
    const keyBlob = await makeKeyBlob({ chainId, recordCid: cid, dataKey, validators, patientKey });
    const keyCid = recordCidOf(keyBlob.bytes);
    await upload(client, keyBlob.bytes, keyCid, keyBlob.bytes.length, 'key blob');
    const committed = await submitAndWait(client, author, 'record.add', {
      patient: input.patient,
      contentType: content.contentType,
      cid,
      size_bytes: hasher.size_bytes,
      keyCid,
      previous: input.previous,
      purpose: input.purpose,
    });
    return {
      record: createdId('record', committed.tx),
      contentType: content.contentType,
      cid,
      size_bytes: hasher.size_bytes,
      plaintext_bytes: content.size,
      custodian: custodian.id,
      keyCid,
      keyBlob_bytes: keyBlob.bytes.length,
      txHash: committed.txHash,
      height: committed.height,
    };
  } finally {
    dataKey.fill(0);
  }
}

export interface ReadRecordInput {
  record: string;
  purpose: Purpose;
  /** Where the plaintext goes: a file (written atomically), or a sink that takes it (the web portal). */
  out: string | PlaintextSink;
}

/**
 * Takes a record's plaintext as it is decrypted and returns how many bytes it kept; it must call
 * `beforeCommit` after the last piece and drop everything if that throws (the ciphertext's CID was wrong).
 */
export type PlaintextSink = (
  plaintext: AsyncIterable<Uint8Array>,
  beforeCommit: () => void,
) => Promise<number>;

export interface ReadRecordResult {
  record: RecordMetaJson;
  bytes: number;
  emergency: boolean;
  /** The validators whose shares rebuilt the key (empty for the patient's own read). */
  sharesFrom: string[];
  /** Validators that sent a share failing its commitment: named, never used. */
  falseShares: string[];
  txHash: string;
  height: number;
}

/** Reads a record: an audited read transaction, then local decryption into `input.out`. */
export async function readRecord(
  client: NodeClient,
  reader: IdentityKeys,
  input: ReadRecordInput,
): Promise<ReadRecordResult> {
  const committed = await submitAndWait(client, reader, 'record.read', {
    record: input.record,
    purpose: input.purpose,
  });
  // What the permit releases goes only to its reader, who signs each request.
  const signer = await requestSigner(client, reader);
  const [chainId, released] = await Promise.all([client.chainId(), client.read(committed.txHash, signer)]);
  const record = released.record;
  if (record.id !== input.record) {
    throw new MedledgerError(
      'NODE_BAD_RESPONSE',
      `the node released record ${record.id} for a read of ${input.record}`,
    );
  }
  const blob = keyBlobOf(released.keyBlob, record);
  const key = await dataKeyFor(blob, released, reader, chainId, committed.txHash);
  if (key.proofs.length > 0) {
    // Best effort: the read goes on whether or not the node could act on the proofs.
    await client.reportFalseShares(committed.txHash, key.proofs, signer).catch(() => {});
  }
  try {
    const ciphertext = await client.readContent(committed.txHash, signer);
    const hasher = new RecordCidHasher();
    async function* checked(): AsyncGenerator<Uint8Array> {
      for await (const piece of ciphertext) {
        hasher.update(piece);
        yield piece;
      }
    }
    const { out } = input;
    const sink: PlaintextSink =
      typeof out === 'string' ? (plaintext, check) => writeFileAtomically(out, plaintext, check) : out;
    const bytes = await sink(decryptStream(checked(), key.dataKey), () => {
      const cid = hasher.cid();
      if (cid !== record.cid) {
        throw new MedledgerError(
          'BLOB_CID_MISMATCH',
          `the ciphertext the node sent has CID ${cid}, not the record's ${record.cid}`,
        );
      }
    });
    return {
      record,
      bytes,
      emergency: released.emergency,
      sharesFrom: key.sharesFrom,
      falseShares: key.falseShares,
      txHash: committed.txHash,
      height: committed.height,
    };
  } finally {
    key.dataKey.fill(0);
  }
}

/** The key blob the node sent, checked against the record's keyCid on chain. */
function keyBlobOf(text: string, record: RecordMetaJson): KeyBlob {
  const bytes = parseBytes(text, 'key blob');
  const keyCid = recordCidOf(bytes);
  if (keyCid !== record.keyCid) {
    throw new MedledgerError(
      'BLOB_CID_MISMATCH',
      `the key blob the node sent has CID ${keyCid}, not the record's ${record.keyCid}`,
    );
  }
  const blob = decodeKeyBlob(bytes);
  if (blob.recordCid !== record.cid) {
    throw new MedledgerError(
      'KEY_BLOB_INVALID',
      `the record's key blob is for ${blob.recordCid}, not ${record.cid}`,
    );
  }
  return blob;
}

/**
 * The data key: the patient opens the key blob's envelope; anyone else checks every share against
 * its commitment and rebuilds the key from `threshold` true ones. False shares are named and skipped.
 */
async function dataKeyFor(
  blob: KeyBlob,
  released: ReadJson,
  reader: IdentityKeys,
  chainId: string,
  readTxHash: string,
): Promise<{
  dataKey: Uint8Array;
  sharesFrom: string[];
  falseShares: string[];
  proofs: Array<{ index: number; opening: Uint8Array }>;
}> {
  if (released.reader === released.record.patient && released.shares.length === 0) {
    const dataKey = openPatientKey(blob, chainId, reader.encryption.secretKey);
    return { dataKey, sharesFrom: [], falseShares: [], proofs: [] };
  }
  const readTx = parseBytes(readTxHash, 'transaction hash');
  const shares: Uint8Array[] = [];
  const sharesFrom: string[] = [];
  const falseShares: string[] = [];
  const proofs: Array<{ index: number; opening: Uint8Array }> = [];
  const seen = new Set<number>();
  for (const share of released.shares) {
    // One share per index: a node repeating one would make the combination fail, not name a liar.
    if (seen.has(share.index)) continue;
    seen.add(share.index);
    const input = {
      blob,
      chainId,
      index: share.index,
      readerSecretKey: reader.encryption.secretKey,
      readTx,
      sealed: parseBytes(share.sealed, 'key share'),
    };
    try {
      shares.push(openReaderShare(input));
      sharesFrom.push(share.validator);
    } catch (error) {
      if (!(error instanceof MedledgerError) || error.code !== 'KEY_SHARE_FALSE') throw error;
      falseShares.push(share.validator);
      const opening = falseShareProof(input);
      if (opening) proofs.push({ index: share.index, opening });
    }
  }
  try {
    if (shares.length < blob.threshold) {
      const named = falseShares.length > 0 ? ` (false shares from ${falseShares.join(', ')})` : '';
      throw new MedledgerError(
        'KEY_SHARES_TOO_FEW',
        `${shares.length} true key share(s) of the ${blob.threshold} needed to rebuild the record key${named}.`,
      );
    }
    const dataKey = await combineShares(shares, blob.threshold);
    return { dataKey, sharesFrom: sharesFrom.slice(0, blob.threshold), falseShares, proofs };
  } finally {
    for (const share of shares) share.fill(0);
  }
}

/** Uploads one blob and checks that the node stored it under the CID computed here. */
async function upload(client: NodeClient, data: Uint8Array, cid: string, size_bytes: number, what: string) {
  const uploaded = await client.putBlob(data);
  if (uploaded.cid !== cid || uploaded.size_bytes !== size_bytes) {
    throw new MedledgerError(
      'BLOB_CID_MISMATCH',
      `the node stored the ${what} as ${uploaded.cid} (${uploaded.size_bytes} bytes), ` +
        `but it is ${cid} (${size_bytes} bytes)`,
    );
  }
}

/** The patient's X25519 key; UNKNOWN_PATIENT (the rule engine's code) when there is no such patient. */
async function patientEncryptionKey(client: NodeClient, patient: string): Promise<Uint8Array> {
  let identity: IdentityJson;
  try {
    identity = await client.identity(patient);
  } catch (error) {
    if (error instanceof MedledgerError && error.code === 'API_UNKNOWN_IDENTITY')
      throw unknownPatient(patient);
    throw error;
  }
  if (identity.kind !== 'patient') throw unknownPatient(patient);
  return parseHexKey(identity.encryptionKey, 'the patient encryption key');
}

function unknownPatient(patient: string): MedledgerError {
  return new MedledgerError('UNKNOWN_PATIENT', `No patient with this id is registered. (${patient})`);
}

/**
 * The record's custodian and its X25519 key: the author's organisation, or for a patient adding to
 * their own file, the organisation that registered them (as the rule engine decides).
 */
async function custodianOf(
  client: NodeClient,
  author: IdentityKeys,
  patient: string,
): Promise<{ id: string; encryptionKey: Uint8Array }> {
  const account = await accountOf(client, author);
  if (account.identity === null) {
    throw new MedledgerError('NOT_REGISTERED', 'The sender is not registered on this network.');
  }
  // The author's whole directory entry (who registered a patient is shown only to them and a few).
  const identity = await client.identity(account.identity.id);
  const self = identity.kind === 'patient' && identity.id === patient && identity.registeredBy !== null;
  const custodian = self
    ? (await client.identity(identity.registeredBy!)).organisation
    : identity.kind === 'practitioner'
      ? identity.organisation
      : null;
  if (custodian === null) {
    throw new MedledgerError(
      'WRONG_ROLE',
      'Only a practitioner of an organisation, or the patient themself, may add records ' +
        `(the keystore is a ${identity.kind}${identity.kind === 'patient' ? ', not this patient' : ''}).`,
    );
  }
  const organisation = await client.organisation(custodian);
  return {
    id: organisation.id,
    encryptionKey: parseHexKey(organisation.encryptionKey, 'the custodian encryption key'),
  };
}

async function* readFile(path: string): AsyncGenerator<Uint8Array> {
  try {
    for await (const piece of createReadStream(path)) yield piece as Buffer;
  } catch (error) {
    throw new MedledgerError('FILE_READ_FAILED', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function parseBytes(text: string, what: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) {
    throw new MedledgerError('NODE_BAD_RESPONSE', `the node sent a ${what} that is not hex`);
  }
  return fromHex(text);
}
