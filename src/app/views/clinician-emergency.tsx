/**
 * Break-glass: emergency staff open a short read-only access to a patient's records without their
 * consent (emergency.open), with a mandatory reason. The opening and every read under it are audited
 * on chain and flagged to the patient. While it is open, a red banner says until when.
 */
import { useEffect, useState } from 'preact/hooks';
import { submit, useAction } from '../actions.ts';
import { clockTime, minutesOf } from '../clinician-words.ts';
import { ErrorNote, ReasonField } from '../components.tsx';
import { codeOf } from '../errors.ts';
import type { Session } from '../session.ts';

export interface EmergencyWindow {
  reason: string;
  until_ms: number;
}

const MINUTE_MS = 60_000;

/** Re-renders every `period_ms`, so that what depends on the time (an expiry) stays true. */
export function useNow(period_ms = 15_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), period_ms);
    return () => clearInterval(timer);
  }, [period_ms]);
  return now;
}

export function EmergencyBanner({ window }: { window: EmergencyWindow }) {
  return (
    <div class="breakglass-banner" role="alert" data-testid="breakglass-banner">
      <strong>Emergency access open until {clockTime(window.until_ms)}</strong>
      <span>
        Reads now are break-glass reads: each is on the chain and shown to the patient. Reason given:{' '}
        <q>{window.reason}</q>
      </span>
    </div>
  );
}

export function BreakGlass(props: {
  session: Session;
  patient: string;
  open: EmergencyWindow | null;
  onOpened: (window: EmergencyWindow) => void;
}) {
  const { session, patient, open, onOpened } = props;
  const [reason, setReason] = useState('');
  const [minutes, setMinutes] = useState('60');
  const [problem, setProblem] = useState<string | null>(null);
  const action = useAction(() => {});
  const emergencyStaff =
    session.identity.kind === 'practitioner' && session.identity.roles.includes('emergency-staff');

  const breakGlass = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const why = reason.trim();
    if (!why) return setProblem('Give the reason for the emergency access: it is mandatory.');
    const duration = minutesOf(minutes);
    if (duration === null || duration < 1) {
      return setProblem(
        'Give the duration in minutes (such as 60), or in hours and minutes (such as 1h30m).',
      );
    }
    const duration_ms = duration * MINUTE_MS;
    await action.run(async () => {
      const started = Date.now();
      await submit(session, 'emergency.open', { patient, reason: why, duration_ms });
      onOpened({ reason: why, until_ms: started + duration_ms });
      setReason('');
    });
  };

  return (
    <section class="card emergency-card" data-testid="breakglass">
      <h2>Emergency access (break-glass)</h2>
      <p class="warning" data-testid="breakglass-warning">
        Only for an emergency where the patient cannot consent. Opening it is recorded on the chain with your
        name and reason, every record you read under it is flagged, and the patient sees all of it in their
        access log. It gives read access only, for the minutes you choose.
      </p>
      {!emergencyStaff && (
        <p class="muted" data-testid="breakglass-role">
          Your roles ({session.identity.kind === 'practitioner' ? session.identity.roles.join(', ') : ''}) do
          not include emergency staff: the network will refuse it.
        </p>
      )}
      {open && <p class="muted">Emergency access is open until {clockTime(open.until_ms)}.</p>}
      <form onSubmit={breakGlass}>
        <ReasonField
          label="Reason (mandatory)"
          value={reason}
          onInput={setReason}
          testid="breakglass-reason"
        />
        <label class="inline">
          For
          <input
            type="text"
            inputMode="numeric"
            size={6}
            value={minutes}
            onInput={(e) => setMinutes(e.currentTarget.value)}
            data-testid="breakglass-duration"
          />
          minutes
        </label>
        <button type="submit" class="danger" disabled={action.busy} data-testid="breakglass-submit">
          {action.busy ? 'Waiting for the network…' : 'Open emergency access'}
        </button>
      </form>
      {problem && (
        <p class="error" role="alert" data-testid="breakglass-problem">
          {problem}
        </p>
      )}
      {codeOf(action.error) === 'WRONG_ROLE' ? (
        <p class="error" role="alert" data-testid="breakglass-error">
          Only emergency staff may open emergency access: the network refused it. Ask the patient for access
          instead.
        </p>
      ) : (
        <ErrorNote error={action.error} testid="breakglass-error" />
      )}
    </section>
  );
}
