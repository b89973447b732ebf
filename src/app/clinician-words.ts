/** Words of the clinician's view that need no page: a denial's rule, a duration typed, a time. */
import { codeOf } from './errors.ts';
import { shortId } from './format.ts';

/** The rule engine's receipt of a denial: "Access denied: DETAIL (rule RULE)." */
export function denialOf(error: unknown): { rule: string; detail: string } | null {
  if (codeOf(error) !== 'DENIED') return null;
  const message = error instanceof Error ? error.message : '';
  const match = /^Access denied: ([\s\S]*) \(rule ([^)]+)\)\.?$/.exec(message);
  return match ? { detail: match[1]!, rule: match[2]! } : { detail: message, rule: 'none' };
}

/** The rule that denied a clinician, in words. */
export function denialText(rule: string): string {
  if (rule.startsWith('forbid:')) {
    return `the patient forbids you this access (their forbid ${shortId(rule.slice('forbid:'.length))})`;
  }
  const named: Record<string, string> = {
    none: 'no rule allows you: the patient has not granted you access, you are not in the care team of the hospital that registered them, you did not write the record, and you have no emergency access open',
    'record-erased': 'the record was erased',
    'actor-inactive': 'your identity is deactivated',
    'organisation-inactive': 'your organisation is deactivated',
    'wrong-role': 'your role does not allow it',
    'not-patient': 'only the patient may do this',
  };
  return named[rule] ?? rule;
}

/** Minutes as typed: "90", or with units, "1h", "45m", "1h30m"; null when it is none of these. */
export function minutesOf(text: string): number | null {
  const typed = text.trim().toLowerCase().replace(/\s+/g, '');
  if (/^\d+$/.test(typed)) return Number(typed);
  const match = /^(?:(\d+)h)?(?:(\d+)m(?:in)?)?$/.exec(typed);
  if (!match || (match[1] === undefined && match[2] === undefined)) return null;
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

/** "14:05", in local time. */
export const clockTime = (ms: number): string =>
  new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
