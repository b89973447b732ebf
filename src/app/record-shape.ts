/**
 * What a clinician adds, checked in the browser before anything is encrypted (nodes only ever see
 * ciphertext). The content type decides, as in client/record-content.ts: a FHIR resource type or
 * `application/fhir+json` means FHIR R4 JSON, a MIME type means other content, not looked into.
 *
 * FHIR content is checked for its shape here: UTF-8 JSON, one object, whose resourceType is the
 * record's type (or gives it, for application/fhir+json), and a Bundle only as a document. The full
 * R4 validation (Medplum's validator over about 37 MB of structure definitions) runs in the CLI's
 * `record add`, not in the browser.
 */
import type { RecordContent } from '../client/record-content.ts';
import { checkContentType } from '../contracts/guards.ts';
import { MedledgerError } from '../errors.ts';

export const FHIR_JSON = 'application/fhir+json';
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

/** Whether `contentType` says FHIR: a resource type (no slash) or FHIR JSON. */
export const isFhirContent = (contentType: string): boolean =>
  !contentType.includes('/') || contentType === FHIR_JSON;

/** The resourceType of `bytes` when they are a JSON object that has one (to suggest the record's type). */
export function resourceTypeIn(bytes: Uint8Array): string | null {
  try {
    const type = (JSON.parse(new TextDecoder().decode(bytes)) as { resourceType?: unknown }).resourceType;
    return typeof type === 'string' && RESOURCE_TYPE.test(type) ? type : null;
  } catch {
    return null;
  }
}

/** Checks a file's bytes as content of type `contentType`; the result is what addRecord encrypts. */
export function checkContent(bytes: Uint8Array, contentType: string, name: string): RecordContent {
  const type = contentType.trim();
  try {
    checkContentType(type);
  } catch {
    throw new MedledgerError(
      'BAD_CONTENT_TYPE',
      `“${type.slice(0, 64)}” is not a record type: give a FHIR resource type such as Observation, or the file’s MIME type such as application/pdf.`,
    );
  }
  if (!isFhirContent(type)) return { file: name, contentType: type, size: bytes.length, bytes };
  let resource: unknown;
  try {
    resource = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new MedledgerError(
      'FHIR_NOT_JSON',
      `${name} is not FHIR JSON, so it cannot be a ${type} record. Choose its MIME type (such as application/pdf) if it is another kind of file.`,
    );
  }
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    throw new MedledgerError(
      'FHIR_TYPE_MISMATCH',
      `${name} holds JSON, but not a FHIR resource (an object).`,
    );
  }
  const { resourceType, type: bundleType } = resource as { resourceType?: unknown; type?: unknown };
  if (typeof resourceType !== 'string' || !RESOURCE_TYPE.test(resourceType)) {
    throw new MedledgerError(
      'FHIR_TYPE_MISMATCH',
      `${name} has no resourceType, so it is not a FHIR resource.`,
    );
  }
  if (type !== FHIR_JSON && resourceType !== type) {
    throw new MedledgerError(
      'FHIR_TYPE_MISMATCH',
      `${name} is a ${resourceType} resource, but the record’s type is ${type}: they must be the same.`,
    );
  }
  if (resourceType === 'Bundle' && bundleType !== 'document') {
    throw new MedledgerError(
      'FHIR_INVALID',
      `${name} is a Bundle that is not a document: add its resources as records of their own.`,
    );
  }
  return { file: name, contentType: resourceType, size: bytes.length, bytes };
}
