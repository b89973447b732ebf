/**
 * A clinician adds a record for the patient: a FHIR JSON file or any other file, with its type (a
 * FHIR resource type, or the file's MIME type). FHIR content is checked in this browser first
 * (record-shape.ts); then client/records.ts addRecord encrypts it here, uploads the ciphertext and
 * the key blob and commits record.add. The rules decide (care team, grant with append, authorship).
 */
import { useState } from 'preact/hooks';
import { type AddedRecord, addRecord } from '../../client/records.ts';
import { useAction } from '../actions.ts';
import { denialOf } from '../clinician-words.ts';
import { CopyButton, ErrorNote } from '../components.tsx';
import { bytesText } from '../format.ts';
import { checkContent, FHIR_JSON, isFhirContent, resourceTypeIn } from '../record-shape.ts';
import type { Session } from '../session.ts';
import { Denied } from './clinician-read.tsx';

/** A file as large as this is read into memory to be encrypted here. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

const SUGGESTED = [
  'Observation',
  'Condition',
  'AllergyIntolerance',
  'MedicationRequest',
  'Procedure',
  'DiagnosticReport',
  'Immunization',
  'Encounter',
  FHIR_JSON,
  'application/pdf',
  'image/png',
  'image/jpeg',
  'text/plain',
  'application/dicom',
];

export function AddRecord({
  session,
  patient,
  onAdded,
}: {
  session: Session;
  patient: string;
  onAdded: () => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [type, setType] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [added, setAdded] = useState<AddedRecord | null>(null);
  const action = useAction(onAdded);

  const choose = async (chosen: File | null) => {
    setFile(chosen);
    setAdded(null);
    if (!chosen) return;
    // A suggestion: the resource's own type for FHIR JSON, otherwise what the browser says the file is.
    const fhirType =
      chosen.size < MAX_FILE_BYTES ? resourceTypeIn(new Uint8Array(await chosen.arrayBuffer())) : null;
    setType(fhirType ?? chosen.type ?? '');
  };

  const send = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    setAdded(null);
    if (!file) return setProblem('Choose the file to add.');
    if (!type.trim())
      return setProblem('Give the record’s type: a FHIR resource type, or the file’s MIME type.');
    if (file.size === 0) return setProblem('This file is empty.');
    if (file.size > MAX_FILE_BYTES)
      return setProblem(`This file is larger than ${bytesText(MAX_FILE_BYTES)}.`);
    await action.run(async () => {
      const content = checkContent(new Uint8Array(await file.arrayBuffer()), type, file.name);
      setAdded(
        await addRecord(session.client, session.keys, {
          patient,
          content,
          previous: null,
          purpose: 'treatment',
        }),
      );
    });
  };

  return (
    <section class="card" data-testid="add-record">
      <h2>Add a record</h2>
      <p class="muted">
        The file is encrypted in this browser before it is sent; the network keeps only ciphertext. FHIR JSON
        is checked here first: that it is JSON, one resource of the record’s type. Full FHIR R4 validation
        runs in the command line’s <code>medledger record add</code>.
      </p>
      <form onSubmit={send}>
        <label>
          File
          <input
            type="file"
            onChange={(e) => choose(e.currentTarget.files?.[0] ?? null)}
            data-testid="add-record-file"
          />
        </label>
        <label>
          Type (a FHIR resource type such as Observation, or a MIME type such as application/pdf)
          <input
            type="text"
            list="record-types"
            value={type}
            onInput={(e) => setType(e.currentTarget.value)}
            data-testid="add-record-type"
          />
          <datalist id="record-types">
            {SUGGESTED.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        {file && isFhirContent(type.trim()) && type.trim() && (
          <p class="muted">FHIR content: it is checked before anything is encrypted.</p>
        )}
        <button type="submit" disabled={action.busy || !file} data-testid="add-record-submit">
          {action.busy ? 'Encrypting and waiting for the network…' : 'Add record'}
        </button>
      </form>
      {problem && (
        <p class="error" role="alert" data-testid="add-record-problem">
          {problem}
        </p>
      )}
      <Denied error={action.error} what="this addition" />
      {denialOf(action.error) === null && <ErrorNote error={action.error} testid="add-record-error" />}
      {added && (
        <p class="ok" data-testid="add-record-done" data-record-id={added.record}>
          Added: a {added.contentType} record, {bytesText(added.plaintext_bytes)}, kept by {added.custodian}.
          Record id <code>{added.record}</code>.{' '}
          <CopyButton text={added.record} label="Copy id" testid="copy-record-id" />
        </p>
      )}
    </section>
  );
}
