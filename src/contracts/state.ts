/**
 * Typed reads and writes of the rule engine's state over a transaction scope: one function per kind
 * of thing, so handlers never touch key bytes or schemas.
 */
import { encodeAppended, listLength, u64 } from '../codec/index.ts';
import { keyOf } from './keys.ts';
import {
  AccessRequest,
  type EmergencyWindow,
  Identity,
  IdentityRef,
  Organisation,
  type Policy,
  PolicyBucket,
  PolicyLocator,
  RecordMeta,
  type Subject,
  WindowList,
} from './model.ts';
import type { TxScope } from './overlay.ts';
import type { PolicySource } from './policy.ts';

const EMPTY = new Uint8Array(0);

export function nonceOf(scope: TxScope, senderKey: Uint8Array): number {
  return scope.read(u64, keyOf.nonce(senderKey)) ?? 0;
}

export function setNonce(scope: TxScope, senderKey: Uint8Array, nonce: number): void {
  scope.put(u64, keyOf.nonce(senderKey), nonce);
}

export function identityByKey(scope: TxScope, signingKey: Uint8Array): Identity | undefined {
  const id = scope.read(IdentityRef, keyOf.keyIndex(signingKey));
  return id === undefined ? undefined : identity(scope, id);
}

export function identity(scope: TxScope, id: string): Identity | undefined {
  return scope.read(Identity, keyOf.identity(id));
}

/** Writes an identity and points its signing key at it. */
export function putIdentity(scope: TxScope, value: Identity): void {
  scope.put(Identity, keyOf.identity(value.id), value);
  scope.put(IdentityRef, keyOf.keyIndex(value.signingKey), value.id);
}

export function keyInUse(scope: TxScope, signingKey: Uint8Array): boolean {
  return scope.has(keyOf.keyIndex(signingKey));
}

export function dropKey(scope: TxScope, signingKey: Uint8Array): void {
  scope.delete(keyOf.keyIndex(signingKey));
}

export function organisation(scope: TxScope, id: string): Organisation | undefined {
  return scope.read(Organisation, keyOf.organisation(id));
}

export function putOrganisation(scope: TxScope, value: Organisation): void {
  scope.put(Organisation, keyOf.organisation(value.id), value);
}

export function record(scope: TxScope, id: string): RecordMeta | undefined {
  return scope.read(RecordMeta, keyOf.record(id));
}

export function putRecord(scope: TxScope, value: RecordMeta): void {
  scope.put(RecordMeta, keyOf.record(value.id), value);
  scope.putBytes(keyOf.patientRecord(value.patient, value.id), EMPTY);
}

export function policies(scope: TxScope, patient: string, subject: Subject): readonly Policy[] {
  return scope.read(PolicyBucket, keyOf.policies(patient, subject)) ?? [];
}

/** How many policies a grantee's bucket holds (read from its header: nothing is decoded). */
export function policyCount(scope: TxScope, patient: string, subject: Subject): number {
  const bytes = scope.bytes(keyOf.policies(patient, subject));
  return bytes === undefined ? 0 : listLength(PolicyBucket, bytes);
}

/**
 * Adds a policy at the end of its grantee's bucket; returns the bytes stored. The bucket is not
 * decoded and only the new policy is encoded, so a grant costs the same however many the patient
 * gave that grantee before; the bytes are those putPolicies would store for the longer bucket.
 */
export function appendPolicy(scope: TxScope, patient: string, subject: Subject, policy: Policy): number {
  const key = keyOf.policies(patient, subject);
  const bucket = scope.bytes(key);
  if (bucket === undefined) return scope.put(PolicyBucket, key, [policy]).length;
  const bytes = encodeAppended(PolicyBucket, bucket, [policy]);
  scope.putBytes(key, bytes);
  return bytes.length;
}

/** Writes a grantee's bucket (an empty one is deleted); returns the bytes stored (0 when deleted). */
export function putPolicies(scope: TxScope, patient: string, subject: Subject, bucket: Policy[]): number {
  const key = keyOf.policies(patient, subject);
  if (bucket.length === 0) {
    scope.delete(key);
    return 0;
  }
  return scope.put(PolicyBucket, key, bucket).length;
}

export function locator(scope: TxScope, policyId: string): PolicyLocator | undefined {
  return scope.read(PolicyLocator, keyOf.locator(policyId));
}

export function putLocator(scope: TxScope, policyId: string, value: PolicyLocator): void {
  scope.put(PolicyLocator, keyOf.locator(policyId), value);
}

export function dropLocator(scope: TxScope, policyId: string): void {
  scope.delete(keyOf.locator(policyId));
}

export function request(scope: TxScope, patient: string, id: string): AccessRequest | undefined {
  return scope.read(AccessRequest, keyOf.request(patient, id));
}

export function putRequest(scope: TxScope, value: AccessRequest): void {
  scope.put(AccessRequest, keyOf.request(value.patient, value.id), value);
}

export function windows(scope: TxScope, patient: string, actor: string): readonly EmergencyWindow[] {
  return scope.read(WindowList, keyOf.windows(patient, actor)) ?? [];
}

export function putWindows(scope: TxScope, patient: string, actor: string, list: EmergencyWindow[]): void {
  const key = keyOf.windows(patient, actor);
  if (list.length === 0) scope.delete(key);
  else scope.put(WindowList, key, list);
}

/**
 * The record a ciphertext or key blob CID belongs to. Kept for ever (an erased record keeps its
 * CIDs): a record.add naming another record's blobs would have the validators release that
 * record's key shares under its own permit.
 */
export function blobOwner(scope: TxScope, cid: string): string | undefined {
  return scope.read(IdentityRef, keyOf.blobOwner(cid));
}

export function putBlobOwner(scope: TxScope, cid: string, recordId: string): void {
  scope.put(IdentityRef, keyOf.blobOwner(cid), recordId);
}

/** True when a record with this id exists (used to refuse id collisions). */
export function recordExists(scope: TxScope, id: string): boolean {
  return scope.has(keyOf.record(id));
}

/** The policy evaluator's view of this scope. */
export function policySource(scope: TxScope): PolicySource {
  return {
    organisation: (id) => organisation(scope, id),
    policies: (patient, subject) => policies(scope, patient, subject),
    windows: (patient, actor) => windows(scope, patient, actor),
    homeOrganisation(patient) {
      const registrar = identity(scope, patient)?.registeredBy;
      return registrar ? (identity(scope, registrar)?.organisation ?? null) : null;
    },
  };
}
