/**
 * The record flows of a client: adding a record (its content checked by record-content.ts, then
 * encrypted locally, the ciphertext uploaded, the data key sealed to the patient and the custodian,
 * record.add committed) and reading one (commit record.read, fetch the envelope re-sealed to the
 * reader and the ciphertext, decrypt locally, write the file atomically). Plaintext and data keys
 * never leave this process.
 *
 * A record's key envelopes are bound to its ciphertext: both are sealed with the context
 * recordContext(chainId, cid), so an envelope opens only for the ciphertext it was made for.
 */
import { createReadStream } from 'node:fs';
import { createdId, type Purpose } from '../contracts/index.ts';
import { type IdentityKeys, randomBytes, seal } from '../crypto/index.ts';
import { MedledgerError } from '../errors.ts';
import { DATA_KEY_BYTES, decryptRecord, encryptStream, recordContext } from '../store/encryption.ts';
import type { IdentityJson, RecordMetaJson } from './api-types.ts';
import { writeFileAtomically } from './atomic-file.ts';
import type { NodeClient } from './http.ts';
import { parseHexKey } from './keys.ts';
import { RecordCidHasher } from './record-cid.ts';
import type { RecordContent } from './record-content.ts';
import { accountOf, submitAndWait } from './submit.ts';

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
  const { content } = input;
  const [chainId, patientKey, custodian] = await Promise.all([
    client.chainId(),
    patientEncryptionKey(client, input.patient),
    custodianOf(client, author),
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
    const uploaded = await client.putBlob(Buffer.concat(pieces));
    if (uploaded.cid !== cid || uploaded.size_bytes !== hasher.size_bytes) {
      throw new MedledgerError(
        'BLOB_CID_MISMATCH',
        `the node stored the record as ${uploaded.cid} (${uploaded.size_bytes} bytes), ` +
          `but its ciphertext is ${cid} (${hasher.size_bytes} bytes)`,
      );
    }
    const context = recordContext(chainId, cid);
    const committed = await submitAndWait(client, author, 'record.add', {
      patient: input.patient,
      contentType: content.contentType,
      cid,
      size_bytes: hasher.size_bytes,
      envelopePatient: seal(patientKey, dataKey, context),
      envelopeCustodian: seal(custodian.encryptionKey, dataKey, context),
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
  /** Where the plaintext goes (written atomically). */
  out: string;
}

export interface ReadRecordResult {
  record: RecordMetaJson;
  bytes: number;
  emergency: boolean;
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
  const [chainId, released] = await Promise.all([client.chainId(), client.read(committed.txHash)]);
  const record = released.record;
  if (record.id !== input.record) {
    throw new MedledgerError(
      'NODE_BAD_RESPONSE',
      `the node released record ${record.id} for a read of ${input.record}`,
    );
  }
  const ciphertext = await client.readContent(committed.txHash);
  const hasher = new RecordCidHasher();
  async function* checked(): AsyncGenerator<Uint8Array> {
    for await (const piece of ciphertext) {
      hasher.update(piece);
      yield piece;
    }
  }
  const plaintext = decryptRecord(checked(), {
    secretKey: reader.encryption.secretKey,
    envelope: parseBytes(released.envelope, 'envelope'),
    context: recordContext(chainId, record.cid),
  });
  const bytes = await writeFileAtomically(input.out, plaintext, () => {
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
    txHash: committed.txHash,
    height: committed.height,
  };
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

/** The author's organisation (the record's custodian) and its X25519 key. */
async function custodianOf(
  client: NodeClient,
  author: IdentityKeys,
): Promise<{ id: string; encryptionKey: Uint8Array }> {
  const { identity } = await accountOf(client, author);
  if (identity === null) {
    throw new MedledgerError('NOT_REGISTERED', 'The sender is not registered on this network.');
  }
  if (identity.kind !== 'practitioner' || identity.organisation === null) {
    throw new MedledgerError(
      'WRONG_ROLE',
      `Only a practitioner of an organisation may add records (the keystore is a ${identity.kind}).`,
    );
  }
  const organisation = await client.organisation(identity.organisation);
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
  return new Uint8Array(Buffer.from(text, 'hex'));
}
