/**
 * The patient's view: their id (clinicians paste it), then their records, whom they share with,
 * the requests waiting for them, and who accessed their records.
 */
import { useState } from 'preact/hooks';
import { CopyButton } from '../components.tsx';
import { useLoad } from '../hooks.ts';
import type { Session } from '../session.ts';
import { AccessLog } from './audit.tsx';
import { Policies } from './policies.tsx';
import { RecordList } from './records.tsx';
import { Requests } from './requests.tsx';

const TABS = [
  ['records', 'My records'],
  ['sharing', 'Sharing'],
  ['requests', 'Requests'],
  ['access', 'Who accessed my records'],
] as const;
type Tab = (typeof TABS)[number][0];

export function PatientView({ session }: { session: Session }) {
  const [tab, setTab] = useState<Tab>('records');
  const me = session.identity.id;
  const records = useLoad(() => session.client.patientRecords(me), [session]);
  return (
    <>
      <section class="card identity" data-testid="patient-header">
        <div>
          <div class="muted">Your patient id (give it to your clinicians)</div>
          <code class="patient-id" data-testid="patient-id">
            {me}
          </code>
        </div>
        <CopyButton text={me} label="Copy id" testid="copy-patient-id" />
      </section>
      <div class="tabs" role="tablist">
        {TABS.map(([id, label]) => (
          <button
            type="button"
            role="tab"
            aria-selected={tab === id}
            class={tab === id ? 'tab active' : 'tab'}
            onClick={() => setTab(id)}
            data-testid={`tab-${id}`}
            key={id}
          >
            {label}
          </button>
        ))}
      </div>
      {tab === 'records' && <RecordList session={session} records={records} />}
      {tab === 'sharing' && <Policies session={session} records={records.value ?? []} />}
      {tab === 'requests' && <Requests session={session} />}
      {tab === 'access' && <AccessLog session={session} records={records.value ?? []} />}
    </>
  );
}
