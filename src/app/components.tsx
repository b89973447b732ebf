/** Small pieces the views share: an error note, a copy button, a person's label, a loading line. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { AsJson } from '../client/api-types.ts';
import type { NodeClient } from '../client/http.ts';
import type { Subject } from '../contracts/model.ts';
import { useIdentity } from './directory.ts';
import { explain } from './errors.ts';
import { identityText, shortId, subjectText } from './format.ts';

export function ErrorNote({ error, testid = 'error' }: { error: unknown; testid?: string }) {
  if (error === undefined || error === null) return null;
  return (
    <p class="error" role="alert" data-testid={testid}>
      {explain(error)}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function CopyButton({ text, label, testid }: { text: string; label: string; testid: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      setCopied(false);
    }
  };
  return (
    <button type="button" class="secondary" onClick={copy} data-testid={testid}>
      {copied ? 'Copied' : label}
    </button>
  );
}

/** A person by id: their roles and organisation once the directory answers, and the id on hover. */
export function Person({ client, id, me }: { client: NodeClient; id: string; me: string }) {
  const identity = useIdentity(client, id);
  const text = identity ? identityText(identity, me) : id === me ? 'you' : shortId(id);
  return (
    <span class="person" title={id}>
      {text}
    </span>
  );
}

/** Whom a grant or forbid names; a practitioner by their roles and organisation. */
export function SubjectLabel({
  client,
  subject,
  me,
}: {
  client: NodeClient;
  subject: AsJson<Subject>;
  me: string;
}) {
  if (subject.kind !== 'practitioner') return <span>{subjectText(subject)}</span>;
  return <Person client={client} id={subject.id} me={me} />;
}

export function Section({
  title,
  children,
  testid,
}: {
  title: string;
  children: ComponentChildren;
  testid: string;
}) {
  return (
    <section class="card" data-testid={testid}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/**
 * One id typed or pasted, and a button: how a clinician finds a patient or names a record. The
 * problem (an id of the wrong form) is said below it.
 */
export function IdForm(props: {
  value: string;
  onInput: (value: string) => void;
  onSubmit: (event: Event) => void;
  placeholder: string;
  label: string;
  button: string;
  problem: string | null;
  testids: { input: string; button: string; problem: string };
}) {
  const { testids } = props;
  return (
    <>
      <form class="row" onSubmit={props.onSubmit}>
        <input
          type="text"
          class="grow"
          placeholder={props.placeholder}
          aria-label={props.label}
          value={props.value}
          onInput={(e) => props.onInput(e.currentTarget.value)}
          spellcheck={false}
          autocomplete="off"
          data-testid={testids.input}
        />
        <button type="submit" data-testid={testids.button}>
          {props.button}
        </button>
      </form>
      {props.problem && (
        <p class="error" role="alert" data-testid={testids.problem}>
          {props.problem}
        </p>
      )}
    </>
  );
}

/** The reason a person gives for an action (the rule engine keeps up to 512 bytes of it). */
export function ReasonField(props: {
  label: string;
  value: string;
  onInput: (value: string) => void;
  testid: string;
}) {
  return (
    <label>
      {props.label}
      <textarea
        value={props.value}
        required
        rows={2}
        maxLength={500}
        onInput={(e) => props.onInput(e.currentTarget.value)}
        data-testid={props.testid}
      />
    </label>
  );
}
