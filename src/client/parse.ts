/**
 * Parsing command-line values into the rule engine's vocabulary: durations, times, roles,
 * purposes, actions, grantees (subjects), scopes and plain lists. Every bad value is one
 * BAD_ARGUMENT error naming the option and what it accepts.
 */
import {
  ACTIONS,
  type Action,
  GRANT_PURPOSES,
  type GrantPurpose,
  ORGANISATION_KINDS,
  type OrganisationKind,
  PURPOSES,
  type Purpose,
  ROLES,
  type Role,
  type Scope,
  type Subject,
} from '../contracts/index.ts';
import { DURATION_UNITS_MS } from '../duration.ts';
import { MedledgerError } from '../errors.ts';

function bad(option: string, message: string): MedledgerError {
  return new MedledgerError('BAD_ARGUMENT', `${option}: ${message}`);
}

const UNIT_MS = DURATION_UNITS_MS;

/** "90s", "15m", "1h", "30d", "2w", "500ms" → milliseconds (positive). */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw bad(option, `${JSON.stringify(text)} is not a duration (e.g. 90s, 15m, 1h, 30d, 2w)`);
  }
  return ms;
}

/** An ISO 8601 date or time, milliseconds since the epoch, or a duration meaning "that long ago". */
export function parseTime(text: string, option: string, now_ms = Date.now()): number {
  if (/^\d{10,}$/.test(text)) return Number(text);
  if (/^\d+(ms|s|m|h|d|w)$/.test(text)) return now_ms - parseDuration(text, option);
  const ms = Date.parse(text);
  if (Number.isNaN(ms) || ms < 0) {
    throw bad(option, `${JSON.stringify(text)} is not a time (e.g. 2026-01-31, 2026-01-31T08:00:00Z, 7d)`);
  }
  return ms;
}

/** A comma-separated list without empty items. */
export function parseList(text: string, option: string): string[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.length === 0 || items.some((item) => item === '')) {
    throw bad(option, `${JSON.stringify(text)} is not a comma-separated list`);
  }
  return items;
}

function oneOfList<T extends string>(text: string, option: string, known: readonly T[], what: string): T[] {
  const items = parseList(text, option);
  for (const item of items) {
    if (!(known as readonly string[]).includes(item)) {
      throw bad(option, `unknown ${what} ${JSON.stringify(item)} (known: ${known.join(', ')})`);
    }
  }
  if (new Set(items).size !== items.length) throw bad(option, `a ${what} is listed twice`);
  return items as T[];
}

export function parseRoles(text: string, option = '--roles'): Role[] {
  return oneOfList(text, option, ROLES, 'role');
}

export function parseActions(text: string, option = '--actions'): Action[] {
  return oneOfList(text, option, ACTIONS, 'action');
}

function oneOf<T extends string>(text: string, option: string, known: readonly T[], what: string): T {
  if (!(known as readonly string[]).includes(text)) {
    throw bad(option, `unknown ${what} ${JSON.stringify(text)} (known: ${known.join(', ')})`);
  }
  return text as T;
}

export function parsePurpose(text: string, option = '--purpose'): Purpose {
  return oneOf(text, option, PURPOSES, 'purpose');
}

export function parseGrantPurpose(text: string, option = '--purpose'): GrantPurpose {
  return oneOf(text, option, GRANT_PURPOSES, 'purpose');
}

export function parseOrganisationKind(text: string, option = '--kind'): OrganisationKind {
  return oneOf(text, option, ORGANISATION_KINDS, 'organisation kind');
}

const IDENTITY_ID = /^[0-9a-f]{32}$/;
const ORGANISATION_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** A practitioner id, `org:ID` (everyone at an organisation) or `role:ORG:ROLE`. */
export function parseSubject(text: string, option = '--to'): Subject {
  const parts = text.split(':');
  if (parts.length === 1 && IDENTITY_ID.test(text)) return { kind: 'practitioner', id: text };
  if (parts.length === 2 && parts[0] === 'org' && ORGANISATION_ID.test(parts[1]!)) {
    return { kind: 'organisation', id: parts[1]! };
  }
  if (parts.length === 3 && parts[0] === 'role' && ORGANISATION_ID.test(parts[1]!)) {
    return { kind: 'role', organisation: parts[1]!, role: oneOf(parts[2]!, option, ROLES, 'role') };
  }
  throw bad(
    option,
    `${JSON.stringify(text)} is not a grantee: give a practitioner id (32 hex digits), org:ORGANISATION ` +
      'or role:ORGANISATION:ROLE',
  );
}

/** `--records` or `--types` (not both), else every record of the patient. */
export function parseScope(options: { records?: string; types?: string }): Scope {
  if (options.records !== undefined && options.types !== undefined) {
    throw bad('--records/--types', 'give one of them, not both');
  }
  if (options.records !== undefined)
    return { kind: 'records', records: parseList(options.records, '--records') };
  if (options.types !== undefined) return { kind: 'types', types: parseList(options.types, '--types') };
  return { kind: 'all' };
}

/** A positive integer up to `max`. */
export function parseCount(text: string, option: string, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw bad(option, `${JSON.stringify(text)} is not a whole number from 1 to ${max}`);
  }
  return value;
}

/** A block height (0 or more). */
export function parseHeight(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw bad('HEIGHT', `${JSON.stringify(text)} is not a block height`);
  return value;
}

/** A transaction hash: 64 hex digits (lower-cased). */
export function parseTxHash(text: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw bad('HASH', `${JSON.stringify(text)} is not 64 hex digits`);
  return text.toLowerCase();
}
