/**
 * One record, opened: the browser submits a record.read transaction as the patient, fetches what the
 * permit releases (the key blob and the ciphertext, signed requests), and decrypts here
 * (client/records.ts readRecord). FHIR resources are shown readably, the raw JSON one click away;
 * anything can be downloaded.
 */
import { useEffect, useState } from 'preact/hooks';
import type { RecordMetaJson } from '../../client/api-types.ts';
import { type ReadRecordResult, readRecord } from '../../client/records.ts';
import type { Purpose } from '../../contracts/model.ts';
import { ErrorNote, Person } from '../components.tsx';
import { bytesText, dateTime, isFhirType } from '../format.ts';
import type { Session } from '../session.ts';
import { FhirResource } from './fhir.tsx';

export interface Opened {
  result: ReadRecordResult;
  plaintext: Uint8Array;
}

/** Reads and decrypts a record into memory (the patient's view and the clinician's): nothing is written anywhere. */
export async function openRecord(session: Session, record: string, purpose: Purpose): Promise<Opened> {
  let plaintext = new Uint8Array(0);
  const result = await readRecord(session.client, session.keys, {
    record,
    purpose,
    out: async (pieces, beforeCommit) => {
      const kept: Uint8Array[] = [];
      for await (const piece of pieces) kept.push(piece);
      beforeCommit(); // throws, and nothing is shown, unless the ciphertext is the record's
      plaintext = new Uint8Array(await new Blob(kept as BlobPart[]).arrayBuffer());
      return plaintext.length;
    },
  });
  return { result, plaintext };
}

const EXTENSIONS: Record<string, string> = {
  'application/pdf': 'pdf',
  'application/json': 'json',
  'text/plain': 'txt',
  'image/png': 'png',
  'image/jpeg': 'jpg',
};

function download(record: RecordMetaJson, plaintext: Uint8Array): void {
  const fhir = isFhirType(record.contentType);
  const type = fhir ? 'application/fhir+json' : record.contentType;
  const extension = fhir ? 'json' : (EXTENSIONS[record.contentType] ?? 'bin');
  const url = URL.createObjectURL(new Blob([plaintext as BlobPart], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = `${record.contentType.replace(/[^A-Za-z0-9]+/g, '-')}-${record.id.slice(0, 12)}.${extension}`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function parseJson(plaintext: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch {
    return undefined;
  }
}

/** A decrypted record: download, and FHIR shown readably with the raw JSON one click away, or text. */
export function RecordContent({ record, plaintext }: { record: RecordMetaJson; plaintext: Uint8Array }) {
  const [raw, setRaw] = useState(false);
  const json = parseJson(plaintext);
  const text = json === undefined && record.contentType.startsWith('text/');
  return (
    <>
      <div class="row">
        <button type="button" onClick={() => download(record, plaintext)} data-testid="download-record">
          Download
        </button>
        {json !== undefined && (
          <button type="button" class="secondary" onClick={() => setRaw(!raw)} data-testid="toggle-raw">
            {raw ? 'Readable view' : 'Raw JSON'}
          </button>
        )}
      </div>
      <div data-testid="record-content">
        {json !== undefined && raw && <pre data-testid="record-raw">{JSON.stringify(json, null, 2)}</pre>}
        {json !== undefined && !raw && <FhirResource resource={json} />}
        {text && <pre data-testid="record-text">{new TextDecoder().decode(plaintext)}</pre>}
        {json === undefined && !text && (
          <p class="muted">
            This record cannot be shown here ({record.contentType}): download it to open it.
          </p>
        )}
      </div>
    </>
  );
}

export function RecordViewer(props: { session: Session; record: RecordMetaJson; onClose: () => void }) {
  const { session, record, onClose } = props;
  const [opened, setOpened] = useState<Opened | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let current = true;
    openRecord(session, record.id, 'treatment').then(
      (result) => current && setOpened(result),
      (caught: unknown) => current && setError(caught),
    );
    return () => {
      current = false;
    };
  }, [session, record]);

  return (
    <section class="card" data-testid="record-viewer">
      <div class="row">
        <h2>{record.contentType}</h2>
        <button type="button" class="secondary" onClick={onClose} data-testid="close-record">
          Back to my records
        </button>
      </div>
      <p class="muted">
        Added {dateTime(record.created_ms)} by{' '}
        <Person client={session.client} id={record.author} me={session.identity.id} />; kept by{' '}
        {record.custodian}. Record {record.id}.
      </p>
      {!opened && !error && (
        <p class="muted" aria-live="polite" data-testid="record-opening">
          Asking the network to read this record, then decrypting it in this browser…
        </p>
      )}
      <ErrorNote error={error} testid="record-error" />
      {opened && (
        <>
          <p class="muted" data-testid="record-read-receipt">
            Your read is on the chain at height {opened.result.height}; {bytesText(opened.plaintext.length)}{' '}
            decrypted in this browser.
          </p>
          <RecordContent record={record} plaintext={opened.plaintext} />
        </>
      )}
    </section>
  );
}
