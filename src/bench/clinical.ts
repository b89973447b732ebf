/**
 * The clinical benchmark load: the identities a clinical mix needs, the setup phase that registers
 * them before the measured load, and the transactions of each clinical kind (scenario.ts
 * CLINICAL_TX_KINDS).
 *
 * The cast: one hospital (registered by a network admin kept for the setup), its registrars (who
 * enrol patients) and `practitioners` doctors, `patients` patients, and `recordsPerPatient` records
 * per patient added by the doctors. In the setup each patient also grants the hospital read access
 * (as patients in contracts-workload do), so that a doctor's `record.read` of a setup record is
 * permitted by that grant rather than denied.
 *
 * Setup stages are committed one after the other (a stage needs the identities of the one before);
 * each sender has at most SETUP_CHUNK transactions outstanding (the mempool keeps a sender at most
 * NONCE_WINDOW nonces ahead of its committed one).
 */
import { hex } from '../bytes.ts';
import {
  buildTx,
  createdId,
  identityId,
  signPatientRegistration,
  type TxBody,
  type TxType,
} from '../contracts/index.ts';
import { generateIdentityKeys, type SigningKeyPair } from '../crypto/index.ts';
import type { Transaction } from '../ledger/index.ts';
import type { Prng } from '../prng.ts';
import { cidOf } from '../store/cid.ts';
import type { ClinicalTxKind, Load } from './scenario.ts';

/** The hospital's organisation id in a clinical run. */
export const BENCH_HOSPITAL = 'bench-hospital';
/** Registrars of the hospital (patients are spread over them, and so are `patient.register`s). */
export const REGISTRARS = 4;
/** Most setup transactions one sender has outstanding at once. */
export const SETUP_CHUNK = 200;
const YEAR_MS = 365 * 86_400_000;
const CONTENT_TYPES = ['Observation', 'Condition', 'DiagnosticReport', 'MedicationRequest'] as const;

/** Someone who signs: keys, on-chain id and the last nonce used. */
export interface Party {
  signing: SigningKeyPair;
  encryptionKey: Uint8Array;
  id: string;
  nonce: number;
}

/** A network admin as a sender (no encryption key of its own is needed to sign the load). */
export function adminParty(signing: SigningKeyPair): Party {
  return { signing, encryptionKey: new Uint8Array(32), id: identityId(signing.publicKey), nonce: 0 };
}

function newParty(): Party {
  const keys = generateIdentityKeys();
  return {
    signing: keys.signing,
    encryptionKey: keys.encryption.publicKey,
    id: identityId(keys.signing.publicKey),
    nonce: 0,
  };
}

export interface ClinicalCast {
  chainId: string;
  /** The network admin that registers the hospital (not one of the load's signers). */
  setupAdmin: Party;
  hospitalAdmin: Party;
  registrars: Party[];
  doctors: Party[];
  patients: Party[];
  /** Records added in the setup, with their patient: what `record.read` reads. */
  records: Array<{ id: string; patient: string }>;
}

/** A cast for `load` (keys only: nothing is on chain until the setup's stages commit). */
export function makeCast(chainId: string, setupAdmin: SigningKeyPair, load: Load): ClinicalCast {
  return {
    chainId,
    setupAdmin: adminParty(setupAdmin),
    hospitalAdmin: newParty(),
    registrars: Array.from({ length: REGISTRARS }, newParty),
    doctors: Array.from({ length: load.practitioners }, newParty),
    patients: Array.from({ length: load.patients }, newParty),
    records: [],
  };
}

function tx<T extends TxType>(cast: ClinicalCast, party: Party, type: T, body: TxBody<T>): Transaction {
  party.nonce += 1;
  return buildTx(type, body, party.nonce, cast.chainId, party.signing.secretKey);
}

function registration(cast: ClinicalCast, registrar: Party, patient: Party) {
  const keys = { signingKey: patient.signing.publicKey, encryptionKey: patient.encryptionKey };
  return tx(cast, registrar, 'patient.register', {
    ...keys,
    coSignature: signPatientRegistration(cast.chainId, registrar.id, keys, patient.signing.secretKey),
  });
}

function recordAdd(cast: ClinicalCast, doctor: Party, patient: Party, prng: Prng): Transaction {
  return tx(cast, doctor, 'record.add', {
    patient: patient.id,
    contentType: prng.pick(CONTENT_TYPES),
    // CIDs of no stored blob: the rule engine checks their form and that no other record uses them.
    cid: cidOf(prng.bytes(32)).toString(),
    size_bytes: 1024 + prng.int(64 * 1024),
    keyCid: cidOf(prng.bytes(32)).toString(),
    previous: null,
    purpose: 'treatment',
  });
}

/**
 * The setup's stages, in order: the hospital; its registrars and doctors; the patients; then each
 * patient's grant to the hospital and the setup records. Each stage must commit before the next is
 * sent. `now_ms` dates the grants' expiry.
 */
export function setupStages(cast: ClinicalCast, load: Load, prng: Prng, now_ms: number): Transaction[][] {
  const stages: Transaction[][] = [];
  stages.push([
    tx(cast, cast.setupAdmin, 'org.register', {
      id: BENCH_HOSPITAL,
      kind: 'hospital',
      adminKey: cast.hospitalAdmin.signing.publicKey,
      encryptionKey: cast.hospitalAdmin.encryptionKey,
    }),
  ]);
  const staff = [
    ...cast.registrars.map((p) => [p, ['registrar']] as const),
    ...cast.doctors.map((p) => [p, ['doctor']] as const),
  ];
  stages.push(
    staff.map(([party, roles]) =>
      tx(cast, cast.hospitalAdmin, 'practitioner.register', {
        signingKey: party.signing.publicKey,
        encryptionKey: party.encryptionKey,
        roles: [...roles],
      }),
    ),
  );
  stages.push(
    cast.patients.map((patient, i) => registration(cast, cast.registrars[i % REGISTRARS]!, patient)),
  );
  const last: Transaction[] = [];
  cast.patients.forEach((patient, i) => {
    last.push(
      tx(cast, patient, 'consent.grant', {
        subject: { kind: 'organisation', id: BENCH_HOSPITAL },
        scope: { kind: 'all' },
        actions: ['read'],
        purpose: 'any',
        expires_ms: now_ms + YEAR_MS,
      }),
    );
    for (let r = 0; r < load.recordsPerPatient; r++) {
      const doctor = cast.doctors[(i + r) % cast.doctors.length]!;
      const add = recordAdd(cast, doctor, patient, prng);
      cast.records.push({ id: createdId('record', add), patient: patient.id });
      last.push(add);
    }
  });
  stages.push(last);
  return stages.flatMap((stage) => chunkBySender(stage, SETUP_CHUNK));
}

/**
 * Splits a stage so that no sender has more than `most` transactions in one chunk; chunk k holds each
 * sender's transactions k·most+1 … (k+1)·most (in the stage's order, which is nonce order).
 */
export function chunkBySender(txs: readonly Transaction[], most: number): Transaction[][] {
  const seen = new Map<string, number>();
  const chunks: Transaction[][] = [];
  for (const t of txs) {
    const sender = hex(t.sender);
    const k = seen.get(sender) ?? 0;
    seen.set(sender, k + 1);
    const chunk = Math.floor(k / most);
    if (chunks[chunk] === undefined) chunks[chunk] = [];
    chunks[chunk].push(t);
  }
  return chunks;
}

/** The parties that send a clinical kind. */
export function sendersOf(cast: ClinicalCast, kind: ClinicalTxKind): readonly Party[] {
  switch (kind) {
    case 'patient.register':
      return cast.registrars;
    case 'consent.grant':
      return cast.patients;
    case 'record.add':
    case 'record.read':
    case 'access.request':
      return cast.doctors;
  }
}

/** One signed load transaction of a clinical `kind` from `sender` (one of sendersOf(kind)), with its next nonce. */
export function makeClinicalTx(
  cast: ClinicalCast,
  kind: ClinicalTxKind,
  sender: Party,
  prng: Prng,
  now_ms: number,
): Transaction {
  switch (kind) {
    case 'patient.register':
      // A new patient, enrolled and nothing more.
      return registration(cast, sender, newParty());
    case 'consent.grant':
      return tx(cast, sender, 'consent.grant', {
        subject: { kind: 'practitioner', id: prng.pick(cast.doctors).id },
        scope: prng.chance(0.5) ? { kind: 'all' } : { kind: 'types', types: [prng.pick(CONTENT_TYPES)] },
        actions: ['read'],
        purpose: prng.chance(0.5) ? 'any' : 'treatment',
        expires_ms: now_ms + 3_600_000 * (1 + prng.int(48)),
      });
    case 'record.add':
      return recordAdd(cast, sender, prng.pick(cast.patients), prng);
    case 'record.read':
      return tx(cast, sender, 'record.read', { record: prng.pick(cast.records).id, purpose: 'treatment' });
    case 'access.request':
      return tx(cast, sender, 'access.request', {
        patient: prng.pick(cast.patients).id,
        scope: { kind: 'all' },
        actions: ['read'],
        purpose: 'treatment',
        reason: 'referral',
      });
  }
}
