/**
 * Statements signed inside transaction bodies, beside the sender's own signature on the transaction:
 *
 * - a patient's consent to be registered: the patient signs (chain id, registrar id, own keys), so a
 *   registrar can never enrol a key whose holder did not agree, and the statement cannot be used on
 *   another chain or by another registrar;
 * - proof of possession of a new key on rotation: the new key signs (chain id, identity id, new keys),
 *   so no one can take over a key they do not hold, or lock themselves out by a typo.
 *
 * Each statement has its own domain tag, so neither can be replayed as the other or as a transaction.
 */
import { bytes, encode, str, struct } from '../codec/index.ts';
import { sign, verify } from '../crypto/ed25519.ts';
import { MAX_ID_BYTES } from './ids.ts';

const utf8 = new TextEncoder();
const REGISTRATION_TAG = utf8.encode('medledger/patient-registration/v1\0');
const ROTATION_TAG = utf8.encode('medledger/key-rotation/v1\0');

const KeyStatement = struct('KeyStatement', {
  chainId: str(64),
  /** The registrar's id (registration) or the rotating identity's id (rotation). */
  about: str(MAX_ID_BYTES),
  signingKey: bytes(32),
  encryptionKey: bytes(32),
});

interface Keys {
  signingKey: Uint8Array;
  encryptionKey: Uint8Array;
}

function payload(tag: Uint8Array, chainId: string, about: string, keys: Keys): Uint8Array {
  const statement = encode(KeyStatement, {
    chainId,
    about,
    signingKey: keys.signingKey,
    encryptionKey: keys.encryptionKey,
  });
  return Buffer.concat([tag, statement]);
}

/** The patient's co-signature on their registration by the registrar `registrarId`. */
export function signPatientRegistration(
  chainId: string,
  registrarId: string,
  keys: Keys,
  patientSecretKey: Uint8Array,
): Uint8Array {
  return sign(patientSecretKey, payload(REGISTRATION_TAG, chainId, registrarId, keys));
}

export function verifyPatientRegistration(
  chainId: string,
  registrarId: string,
  keys: Keys,
  coSignature: Uint8Array,
): boolean {
  return verify(keys.signingKey, payload(REGISTRATION_TAG, chainId, registrarId, keys), coSignature);
}

/** The new signing key's signature over a rotation of identity `identityId` to `keys`. */
export function signKeyRotation(
  chainId: string,
  identityId: string,
  keys: Keys,
  newSecretKey: Uint8Array,
): Uint8Array {
  return sign(newSecretKey, payload(ROTATION_TAG, chainId, identityId, keys));
}

export function verifyKeyRotation(
  chainId: string,
  identityId: string,
  keys: Keys,
  proof: Uint8Array,
): boolean {
  return verify(keys.signingKey, payload(ROTATION_TAG, chainId, identityId, keys), proof);
}
