/**
 * What may be added as a record, checked on the client before anything is encrypted: nodes only
 * ever see ciphertext, so this is the one place a malformed FHIR resource can be caught.
 *
 * The content type decides. A FHIR resource type (`Observation`) means the file is FHIR R4 JSON: one
 * resource of that type, valid against R4. `application/fhir+json` means the same, the record being
 * labelled with the resource's own type, so that grants by type (`--types Observation`) apply to it.
 * A MIME type (`application/pdf`, `image/png`, `application/dicom`) means other content, which is not
 * looked into. Saying the content is not FHIR (`fhir: false`, the CLI's `--no-fhir`) is accepted with
 * a MIME type and refused with a FHIR type: an unchecked record labelled `Observation` would mislead
 * every reader that trusts the label.
 *
 * A Bundle is accepted as one record only as a document (type `document`, such as an International
 * Patient Summary): attested and self-contained, one clinical statement. Other bundles are transport
 * (transaction, batch, message) or query results (searchset, history) or loose sets (collection);
 * their resources are added as records of their own.
 *
 * Error codes: FHIR_REQUIRED (not-FHIR said of a FHIR type), FHIR_UNKNOWN_TYPE (not an R4 resource
 * type), FHIR_NOT_JSON (not UTF-8 JSON), FHIR_TYPE_MISMATCH (not a resource of the record's type),
 * FHIR_INVALID (the validator's problems, the first few named by FHIRPath, with their count).
 *
 * The validator (src/fhir/validate.ts, Medplum's, about a second to load its definitions) is
 * imported on first use, so commands that never add FHIR content do not pay for it.
 */
import { readFile, stat } from 'node:fs/promises';
import { checkContentType } from '../contracts/guards.ts';
import { MedledgerError } from '../errors.ts';

/** Content that `checkRecordContent` has checked and `addRecord` encrypts. */
export interface RecordContent {
  file: string;
  /** The record's label: as given, or the resource's type for `application/fhir+json`. */
  contentType: string;
  /** The plaintext's size in bytes. */
  size: number;
  /**
   * FHIR content: exactly the bytes that were validated, so that these are the bytes encrypted,
   * whatever happens to the file meanwhile. Null for other content, streamed from the file.
   */
  bytes: Uint8Array | null;
}

export const FHIR_JSON = 'application/fhir+json';

/** How many of the validator's problems a refusal names (the count says how many there are). */
const PROBLEMS_SHOWN = 3;

/** Whether `contentType` says FHIR: a resource type (no slash, see checkContentType) or FHIR JSON. */
export function isFhirContentType(contentType: string): boolean {
  return !contentType.includes('/') || contentType === FHIR_JSON;
}

/** Checks `file` as content of type `contentType`; `fhir: false` says it is not FHIR. */
export async function checkRecordContent(
  file: string,
  contentType: string,
  options: { fhir: boolean },
): Promise<RecordContent> {
  checkContentType(contentType);
  const fhir = isFhirContentType(contentType);
  if (fhir && !options.fhir) {
    throw new MedledgerError(
      'FHIR_REQUIRED',
      `${contentType} is FHIR, so the file must be valid FHIR R4; not-FHIR content (--no-fhir) ` +
        'is labelled with its MIME type, such as application/pdf',
    );
  }
  if (!fhir) return { file, contentType, size: await fileSize(file), bytes: null };
  // The type is an argument: refused before the file is read.
  if (contentType !== FHIR_JSON) await checkResourceType(contentType, contentType);
  const bytes = await readWhole(file);
  const resourceType = await checkFhirContent(bytes, contentType, file);
  return { file, contentType: resourceType, size: bytes.length, bytes };
}

/**
 * Checks `bytes` as FHIR content labelled `contentType` (a resource type, or FHIR_JSON for any) and
 * returns the resource's type; `name` says which content in the errors (a file name).
 */
export async function checkFhirContent(
  bytes: Uint8Array,
  contentType: string,
  name: string,
): Promise<string> {
  const { fhirProblems } = await import('../fhir/validate.ts');
  const expected = contentType === FHIR_JSON ? null : contentType;
  if (expected !== null) await checkResourceType(expected, expected);
  const resource = parseJson(bytes, name);
  const resourceType = resourceTypeOf(resource, expected, name);
  if (expected === null)
    await checkResourceType(resourceType, `the resourceType of ${name}, ${resourceType},`);
  const problems = [...bundleProblems(resource), ...fhirProblems(resource)];
  if (problems.length > 0) {
    const shown = problems.slice(0, PROBLEMS_SHOWN).map((p) => oneLine(`${p.path}: ${p.message}`));
    const more = problems.length - shown.length;
    throw new MedledgerError(
      'FHIR_INVALID',
      `${name} is not valid FHIR R4 (${count(problems.length, 'problem')}): ${shown.join('; ')}` +
        (more > 0 ? `; and ${more} more` : ''),
    );
  }
  return resourceType;
}

/** Refuses `type` unless it names an R4 resource type; `what` is how the refusal names it. */
async function checkResourceType(type: string, what: string): Promise<void> {
  const { isFhirResourceType } = await import('../fhir/validate.ts');
  if (!isFhirResourceType(type)) {
    throw new MedledgerError(
      'FHIR_UNKNOWN_TYPE',
      `${oneLine(what.slice(0, 200))} is not an R4 resource type: a record's type is a FHIR resourceType such as ` +
        'Observation, or the MIME type of other content, such as application/pdf',
    );
  }
}

function parseJson(bytes: Uint8Array, name: string): unknown {
  let text: string;
  try {
    // FHIR JSON is UTF-8 (a byte order mark is dropped); other bytes are not FHIR.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new MedledgerError('FHIR_NOT_JSON', `${name} is not FHIR JSON: it is not UTF-8 text`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MedledgerError(
      'FHIR_NOT_JSON',
      `${name} is not FHIR JSON: ${oneLine((error as Error).message)}`,
    );
  }
}

/** The resource's type, which must be `expected` when that is given. */
function resourceTypeOf(resource: unknown, expected: string | null, name: string): string {
  const wanted =
    expected === null
      ? 'a JSON object with a "resourceType", such as "Observation"'
      : `a JSON object with "resourceType": "${expected}"`;
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    const what = Array.isArray(resource) ? 'array' : resource === null ? 'null' : typeof resource;
    throw new MedledgerError(
      'FHIR_TYPE_MISMATCH',
      `${name} holds a JSON ${what}, not a FHIR resource (${wanted})`,
    );
  }
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== 'string') {
    throw new MedledgerError(
      'FHIR_TYPE_MISMATCH',
      `${name} has no resourceType, so it is not a FHIR resource (${wanted})`,
    );
  }
  if (expected !== null && type !== expected) {
    throw new MedledgerError(
      'FHIR_TYPE_MISMATCH',
      `${name} holds ${article(type)} ${oneLine(type.slice(0, 64))} resource, but the record's type ` +
        `is ${expected}: the type must be the resource's resourceType`,
    );
  }
  return type;
}

/** Why a Bundle is not one record: only documents are (see the top of this file). */
function bundleProblems(resource: unknown): { path: string; message: string }[] {
  const { resourceType, type } = resource as { resourceType: string; type?: unknown };
  if (resourceType !== 'Bundle' || typeof type !== 'string' || type === 'document') return [];
  return [
    {
      path: 'Bundle.type',
      message:
        `a Bundle record is a document (type "document", such as a patient summary), not ` +
        `${article(type)} "${type}" bundle: add its resources as records of their own`,
    },
  ];
}

async function fileSize(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new MedledgerError('FILE_NOT_FOUND', `${path} is not a file`);
    return info.size;
  } catch (error) {
    if (error instanceof MedledgerError) throw error;
    throw new MedledgerError('FILE_NOT_FOUND', `no file at ${path}`, { cause: error });
  }
}

async function readWhole(path: string): Promise<Uint8Array> {
  await fileSize(path);
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new MedledgerError('FILE_READ_FAILED', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}
