/**
 * What the patient does: each action is a rule-engine transaction, built and signed in this tab
 * (contracts/build.ts through client/submit.ts) and submitted to POST /v1/txs; the view waits for its
 * receipt and shows the outcome.
 */
import { useState } from 'preact/hooks';
import { type Committed, submitAndWait } from '../client/submit.ts';
import type { TxBody, TxType } from '../contracts/bodies.ts';
import type { Session } from './session.ts';

export function submit<T extends TxType>(session: Session, type: T, body: TxBody<T>): Promise<Committed> {
  return submitAndWait(session.client, session.keys, type, body);
}

/** One action at a time, with its error kept to show; `done` runs after it commits. */
export function useAction(done: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async (action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
      done();
      return true;
    } catch (caught) {
      setError(caught);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}
