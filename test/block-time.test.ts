/**
 * What the block-time bound buys the rule engine. Access decisions read the block's time, so a primary
 * free to stamp any time could expire a patient's grant early or keep an emergency window open after
 * it closed. Backups vote only for a new proposal stamped within maxClockSkew_ms of their clocks
 * (replica.ts `timely`; test/testdata/consensus/block-time.txt steps one replica through it, and
 * test/sim-block-time.test.ts runs the whole protocol against a primary that bends time). Here: the
 * rule engine's decisions at the block times a faulty primary would need, and at the furthest it can
 * get voted for.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONSENSUS_PARAMS, timely } from '../src/consensus/index.ts';
import type { EmergencyWindow, Identity, Organisation, Policy } from '../src/contracts/model.ts';
import { type AccessQuery, decide, type PolicySource } from '../src/contracts/policy.ts';

const BOUND_MS = DEFAULT_CONSENSUS_PARAMS.maxClockSkew_ms;
const MINUTE = 60_000;
const EXPIRES_MS = Date.UTC(2027, 0, 1);

const hospital: Organisation = {
  id: 'h1',
  kind: 'hospital',
  admin: 'h1-admin',
  active: true,
  registered_ms: 0,
};
const practitioner = (id: string, role: Identity['roles'][number]): Identity => ({
  id,
  kind: 'practitioner',
  organisation: 'h1',
  roles: [role],
  signingKey: new Uint8Array(32),
  encryptionKey: new Uint8Array(32),
  active: true,
  registered_ms: 0,
  registeredBy: null,
});
const doctor = practitioner('dr-grey', 'doctor');
const medic = practitioner('medic-1', 'emergency-staff');
const grant: Policy = {
  id: 'grant-1',
  effect: 'permit',
  scope: { kind: 'all' },
  actions: ['read'],
  purpose: 'treatment',
  expires_ms: EXPIRES_MS,
  created_ms: 0,
};
const window: EmergencyWindow = {
  id: 'bg-1',
  actor: medic.id,
  patient: 'p-1',
  opened_ms: EXPIRES_MS - 30 * MINUTE,
  expires_ms: EXPIRES_MS,
  reason: 'unconscious on arrival',
};
const source: PolicySource = {
  organisation: (id) => (id === hospital.id ? hospital : undefined),
  policies: (_patient, subject) =>
    subject.kind === 'practitioner' && subject.id === doctor.id ? [grant] : [],
  windows: (_patient, actor) => (actor === medic.id ? [window] : []),
  homeOrganisation: () => 'h1',
};

/** Whether `actor` may read the patient's records in a block stamped `block_ms`. */
const mayRead = (actor: Identity, purpose: AccessQuery['purpose'], block_ms: number) =>
  decide(source, {
    actor,
    action: 'read',
    patient: 'p-1',
    record: null,
    contentType: 'Observation',
    purpose,
    now_ms: block_ms,
  }).permit;

/** Whether a backup whose clock reads `clock_ms` votes for a new block stamped `block_ms`. */
const votedFor = (block_ms: number, clock_ms: number) =>
  timely(block_ms, { clock: () => clock_ms, params: DEFAULT_CONSENSUS_PARAMS });

describe('block time and the rule engine', () => {
  it('a primary cannot expire a grant early: the stamp it needs is not voted for', () => {
    const now = EXPIRES_MS - MINUTE;
    expect(mayRead(doctor, 'treatment', EXPIRES_MS)).toBe(false); // what the primary is after
    expect(votedFor(EXPIRES_MS, now)).toBe(false);
    expect(votedFor(now + BOUND_MS, now)).toBe(true); // the furthest it gets
    expect(mayRead(doctor, 'treatment', now + BOUND_MS)).toBe(true);
  });

  it('a primary cannot keep an expired grant alive by freezing time', () => {
    const now = EXPIRES_MS + MINUTE;
    expect(mayRead(doctor, 'treatment', EXPIRES_MS - 1)).toBe(true); // what the primary is after
    expect(votedFor(EXPIRES_MS - 1, now)).toBe(false);
    expect(votedFor(now - BOUND_MS, now)).toBe(true);
    expect(mayRead(doctor, 'treatment', now - BOUND_MS)).toBe(false);
  });

  it('a primary can neither stretch an emergency window past its end nor close it early', () => {
    const after = window.expires_ms + MINUTE;
    expect(votedFor(window.expires_ms - 1, after)).toBe(false);
    expect(mayRead(medic, 'emergency', after - BOUND_MS)).toBe(false);
    const during = window.opened_ms + MINUTE;
    expect(votedFor(window.expires_ms, during)).toBe(false);
    expect(mayRead(medic, 'emergency', during + BOUND_MS)).toBe(true);
  });

  it('bends time by at most the bound either way, whatever the primary stamps', () => {
    const now = EXPIRES_MS;
    for (const offset of [-3 * BOUND_MS, -BOUND_MS - 1, BOUND_MS + 1, 3 * BOUND_MS])
      expect(votedFor(now + offset, now)).toBe(false);
    for (const offset of [-BOUND_MS, 0, BOUND_MS]) expect(votedFor(now + offset, now)).toBe(true);
  });
});
