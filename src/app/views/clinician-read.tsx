/**
 * A clinician reads one record: the browser submits a record.read transaction (decided by the rule
 * engine and audited on chain, permitted or denied), fetches what a permit releases and decrypts
 * here (client/records.ts readRecord with a sink keeping the plaintext in memory). A denial shows the
 * rule that denied it in plain words; a read under break-glass says so.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Purpose } from '../../contracts/model.ts';
import { denialOf, denialText } from '../clinician-words.ts';
import { ErrorNote, Person } from '../components.tsx';
import { bytesText, dateTime, shortId } from '../format.ts';
import type { Session } from '../session.ts';
import { type Opened, openRecord, RecordContent } from './record-viewer.tsx';

export function Denied({ error, what }: { error: unknown; what: string }) {
  const denial = denialOf(error);
  if (!denial) return null;
  return (
    <div class="error" role="alert" data-testid="read-denied" data-rule={denial.rule}>
      <strong>Denied.</strong> The network refused {what}: {denialText(denial.rule)}.
      <div class="small">
        Rule <code>{denial.rule}</code> — {denial.detail}. The refusal is recorded on the chain and the
        patient sees it.
      </div>
    </div>
  );
}

/** What a permit let the clinician read, and how: by which rule, under break-glass or not. */
function Receipt({ opened }: { opened: Opened }) {
  const { result, plaintext } = opened;
  return (
    <p class="muted" data-testid="record-read-receipt" data-emergency={String(result.emergency)}>
      {result.emergency && (
        <span class="tag deny" data-testid="read-breakglass">
          Read by break-glass
        </span>
      )}{' '}
      Your read is on the chain at height {result.height}
      {result.emergency ? ', flagged to the patient as an emergency access' : ''};{' '}
      {bytesText(plaintext.length)} decrypted in this browser
      {result.sharesFrom.length > 0 ? ` from the key shares of ${result.sharesFrom.length} nodes` : ''}.
    </p>
  );
}

export function ClinicianRecord(props: {
  session: Session;
  record: string;
  purpose: Purpose;
  onClose: () => void;
}) {
  const { session, record, purpose, onClose } = props;
  const [opened, setOpened] = useState<Opened | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let current = true;
    setOpened(null);
    setError(undefined);
    openRecord(session, record, purpose).then(
      (result) => current && setOpened(result),
      (caught: unknown) => current && setError(caught),
    );
    return () => {
      current = false;
    };
  }, [session, record, purpose]);

  const meta = opened?.result.record;
  return (
    <section class="card" data-testid="record-viewer" data-record-id={record}>
      <div class="row">
        <h2>{meta ? meta.contentType : `Record ${shortId(record)}`}</h2>
        <button type="button" class="secondary" onClick={onClose} data-testid="close-record">
          Back to the patient
        </button>
      </div>
      {meta && (
        <p class="muted">
          Added {dateTime(meta.created_ms)} by{' '}
          <Person client={session.client} id={meta.author} me={session.identity.id} />; kept by{' '}
          {meta.custodian}. Record {meta.id}.
        </p>
      )}
      {!opened && !error && (
        <p class="muted" aria-live="polite" data-testid="record-opening">
          Asking the network to read this record for {purpose}, then decrypting it in this browser…
        </p>
      )}
      <Denied error={error} what="this read" />
      {denialOf(error) === null && <ErrorNote error={error} testid="record-error" />}
      {opened && meta && (
        <>
          <Receipt opened={opened} />
          <RecordContent record={meta} plaintext={opened.plaintext} />
        </>
      )}
    </section>
  );
}
