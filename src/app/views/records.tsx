/** The patient's records: type, author, organisation, date; opening one reads and decrypts it here. */
import { useState } from 'preact/hooks';
import type { RecordMetaJson } from '../../client/api-types.ts';
import { ErrorNote, Loading, Person, Section } from '../components.tsx';
import { date } from '../format.ts';
import type { Loaded } from '../hooks.ts';
import type { Session } from '../session.ts';
import { RecordViewer } from './record-viewer.tsx';

export function RecordList({ session, records }: { session: Session; records: Loaded<RecordMetaJson[]> }) {
  const [open, setOpen] = useState<RecordMetaJson | null>(null);
  if (open) return <RecordViewer session={session} record={open} onClose={() => setOpen(null)} />;
  const list = [...(records.value ?? [])].sort((a, b) => b.created_ms - a.created_ms);
  return (
    <Section title="My records" testid="records">
      {records.loading && <Loading what="your records" />}
      <ErrorNote error={records.error} testid="records-error" />
      {records.value && list.length === 0 && <p class="muted">No records yet.</p>}
      {list.length > 0 && (
        <RecordTable
          session={session}
          records={list}
          onOpen={setOpen}
          testid="record-list"
          openTestid="open-record"
          organisation="Organisation"
        />
      )}
    </Section>
  );
}

/**
 * Records in a table, newest first as given: type (with version, amendment, erasure), author,
 * custodian, date, and an Open button (none for an erased record's content). The patient's view and
 * the clinician's share it.
 */
export function RecordTable(props: {
  session: Session;
  records: RecordMetaJson[];
  onOpen: (record: RecordMetaJson) => void;
  testid: string;
  openTestid: string;
  /** The custodian column's heading. */
  organisation: string;
}) {
  const { session, records, onOpen } = props;
  return (
    <table data-testid={props.testid}>
      <thead>
        <tr>
          <th>Type</th>
          <th>Author</th>
          <th>{props.organisation}</th>
          <th>Date</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {records.map((record) => (
          <tr key={record.id} data-testid="record-row" data-record-id={record.id}>
            <td>
              {record.contentType}
              {record.version > 1 && <span class="tag">version {record.version}</span>}
              {record.supersededBy && <span class="tag">amended</span>}
              {record.erased_ms !== null && <span class="tag warn">erased</span>}
            </td>
            <td>
              <Person client={session.client} id={record.author} me={session.identity.id} />
            </td>
            <td>{record.custodian}</td>
            <td>{date(record.created_ms)}</td>
            <td>
              <button
                type="button"
                onClick={() => onOpen(record)}
                disabled={record.erased_ms !== null}
                data-testid={props.openTestid}
              >
                Open
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
