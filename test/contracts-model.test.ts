/**
 * The rule engine against a reference model.
 *
 * The model below is deliberately simple and slow, and shares no policy code with the engine: it keeps
 * every grant, forbid, window, request and record in flat lists (revoked ones flagged, never removed)
 * and decides an access by filtering them, straight from the rules as the design states them (the
 * rule and role tables of policy.ts). fast-check generates random histories (grants with scopes,
 * purposes and expiries, forbids, revocations, break-glass windows, access requests and answers, role
 * changes among every role, deactivations, erasures, appends by practitioners and by patients, and
 * reads at random block times); every receipt code and every decision's rule must equal the model's.
 *
 * The same runs check the invariants: no read is permitted without a rule that names a valid permit;
 * every read attempt has an audit entry under its patient, actor and record; every access attempt
 * refused before it is decided (wrong role, deactivated, not the patient) has a deny entry naming
 * why; a revoked or expired grant never permits; a refused transaction writes nothing but its nonce
 * (and that deny entry); replaying any transaction fails.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import {
  type Action,
  createdId,
  queryAudit,
  ROLES,
  type Role,
  stateKey,
  type TxBody,
  type TxType,
} from '../src/contracts/index.ts';
import type { Receipt, Transaction } from '../src/ledger/types.ts';
import {
  attr,
  Chain,
  HOSPITAL,
  INSURER,
  LAB,
  makeNetwork,
  makeParty,
  type Party,
} from './fixtures/contracts.ts';

const MAX_WINDOW_MS = 60_000;
const ORGS = [HOSPITAL, LAB, INSURER] as const;
const TYPES = ['Observation', 'Condition', 'application/pdf'] as const;
const PURPOSES = ['treatment', 'research', 'payment'] as const;
const CLINICAL = ['doctor', 'nurse', 'lab-technician', 'emergency-staff'];
const REQUESTERS = [...CLINICAL, 'pharmacist', 'insurer', 'researcher'];
/** Roles that read only under a grant of their kind, never by authorship. */
const GRANT_ONLY = ['insurer', 'researcher', 'auditor'];

// ---------------------------------------------------------------------------------------------------
// The reference model.

interface MIdentity {
  id: string;
  kind: 'network-admin' | 'organisation' | 'practitioner' | 'patient';
  org: string | null;
  roles: string[];
  active: boolean;
  /** A patient's home organisation: where their registrar works. */
  home?: string;
}
interface MRecord {
  id: string;
  patient: string;
  author: string;
  contentType: string;
  root: string;
  superseded: boolean;
  erased: boolean;
}
type MSubject =
  | { kind: 'practitioner'; id: string }
  | { kind: 'organisation'; id: string }
  | { kind: 'role'; organisation: string; role: Role };
type MScope = { kind: 'all' } | { kind: 'types'; types: string[] } | { kind: 'records'; records: string[] };
interface MPolicy {
  id: string;
  patient: string;
  effect: 'permit' | 'forbid';
  subject: MSubject;
  scope: MScope;
  actions: string[];
  purpose: string;
  expires_ms: number | null;
  revoked: boolean;
}
interface MWindow {
  id: string;
  actor: string;
  patient: string;
  opened_ms: number;
  expires_ms: number;
}
interface MRequest {
  id: string;
  patient: string;
  requester: string;
  scope: MScope;
  actions: Action[];
  purpose: (typeof PURPOSES)[number];
  status: 'pending' | 'approved' | 'denied';
}

class Model {
  identities = new Map<string, MIdentity>();
  orgActive = new Map<string, boolean>();
  records: MRecord[] = [];
  policies: MPolicy[] = [];
  windows: MWindow[] = [];
  requests: MRequest[] = [];

  clone(): Model {
    const copy = new Model();
    for (const [id, identity] of this.identities)
      copy.identities.set(id, { ...identity, roles: [...identity.roles] });
    copy.orgActive = new Map(this.orgActive);
    copy.records = this.records.map((r) => ({ ...r }));
    copy.policies = this.policies.map((p) => ({ ...p }));
    copy.windows = [...this.windows];
    copy.requests = this.requests.map((r) => ({ ...r }));
    return copy;
  }

  who(id: string): MIdentity {
    return this.identities.get(id)!;
  }

  /** The envelope check every transaction but a read passes: an active sender in an active organisation. */
  inactive(id: string): string | null {
    const identity = this.who(id);
    if (!identity.active) return 'IDENTITY_INACTIVE';
    if (identity.org !== null && !this.orgActive.get(identity.org)) return 'ORGANISATION_INACTIVE';
    return null;
  }

  /** Whether a grant or forbid is about this actor, action and record (revocation and expiry aside). */
  applies(p: MPolicy, actorId: string, action: Action, record: MRecord | null, contentType: string): boolean {
    const actor = this.who(actorId);
    const s = p.subject;
    const isActor =
      (s.kind === 'practitioner' && s.id === actorId) ||
      (s.kind === 'organisation' && s.id === actor.org) ||
      (s.kind === 'role' && s.organisation === actor.org && actor.roles.includes(s.role));
    const scope = p.scope;
    const covers =
      scope.kind === 'all' ||
      (scope.kind === 'types' && scope.types.includes(contentType)) ||
      (scope.kind === 'records' &&
        record !== null &&
        (scope.records.includes(record.id) || scope.records.includes(record.root)));
    return isActor && covers && p.actions.includes(action);
  }

  /**
   * Whether one of the actor's roles may use grant `p`: the role it names, else any of theirs.
   * Appends only through a clinical role; reads: never an auditor, an insurer for payment under a
   * grant naming them or their organisation, a researcher under a research grant, anyone else always.
   */
  usable(p: MPolicy, actorId: string, action: Action, purpose: string): boolean {
    const roles = p.subject.kind === 'role' ? [p.subject.role] : this.who(actorId).roles;
    return roles.some((role) => {
      if (action === 'append') return CLINICAL.includes(role);
      if (role === 'auditor') return false;
      if (role === 'insurer') return p.subject.kind !== 'role' && purpose === 'payment';
      if (role === 'researcher') return p.purpose === 'research';
      return true;
    });
  }

  /** The decision, straight from the rules: [permit, rule]. */
  decide(
    actorId: string,
    action: Action,
    patient: string,
    record: MRecord | null,
    contentType: string,
    purpose: string,
    now: number,
  ): [boolean, string] {
    if (action === 'read' && record!.erased) return [false, 'record-erased'];
    const actor = this.who(actorId);
    if (!actor.active) return [false, 'actor-inactive'];
    if (actor.kind === 'patient') {
      if (actorId !== patient) return [false, 'none'];
      // Reads of their records; new records, and amendments of those they added themselves.
      return action === 'read' || record === null || record.author === actorId
        ? [true, 'role:self']
        : [false, 'none'];
    }
    if (actor.kind !== 'practitioner') return [false, 'none'];
    if (!this.orgActive.get(actor.org!)) return [false, 'organisation-inactive'];
    const live = this.policies.filter(
      (p) => !p.revoked && p.patient === patient && this.applies(p, actorId, action, record, contentType),
    );
    const smallest = (ids: string[]) => [...ids].sort()[0];
    const forbid = smallest(live.filter((p) => p.effect === 'forbid').map((p) => p.id));
    if (forbid !== undefined) return [false, `forbid:${forbid}`];
    if (
      action === 'read' &&
      record!.author === actorId &&
      actor.roles.some((role) => !GRANT_ONLY.includes(role))
    )
      return [true, 'role:author'];
    const grant = smallest(
      live
        .filter(
          (p) =>
            p.effect === 'permit' &&
            (p.purpose === 'any' || p.purpose === purpose) &&
            now < p.expires_ms! &&
            this.usable(p, actorId, action, purpose),
        )
        .map((p) => p.id),
    );
    if (grant !== undefined) return [true, `grant:${grant}`];
    const careTeam = ['doctor', 'nurse', 'lab-technician'];
    if (
      action === 'append' &&
      actor.org === this.who(patient).home &&
      actor.roles.some((role) => careTeam.includes(role))
    )
      return [true, 'role:care-team'];
    if (action === 'read' && actor.roles.includes('emergency-staff')) {
      const open = smallest(
        this.windows
          .filter(
            (w) => w.actor === actorId && w.patient === patient && w.opened_ms <= now && now < w.expires_ms,
          )
          .map((w) => w.id),
      );
      if (open !== undefined) return [true, `emergency:${open}`];
    }
    return [false, 'none'];
  }
}

// ---------------------------------------------------------------------------------------------------
// The fixed cast and the setup every history starts from.

let base: Chain;
let baseModel: Model;
let practitioners: Party[]; // the last one is the registrar
let patients: Party[];
let readers: Party[];
let everyone: Party[];
/** The registered practitioners (indices 0 to 9; the registrar is 10). */
const CAST: [(typeof ORGS)[number], Role[]][] = [
  [HOSPITAL, ['doctor']],
  [HOSPITAL, ['nurse']],
  [HOSPITAL, ['emergency-staff']],
  [HOSPITAL, ['doctor', 'emergency-staff']],
  [LAB, ['lab-technician']],
  [INSURER, ['doctor']],
  [HOSPITAL, ['pharmacist']],
  [INSURER, ['insurer']],
  [LAB, ['researcher']],
  [HOSPITAL, ['auditor']],
];
let late: Party[];
/** The late practitioners' organisations (indices 11 and 12 of `practitioners`). */
const LATE = [[HOSPITAL], [LAB]] as const;
/** Every practitioner index: the cast, the registrar, the late ones. */
const LAST_PRACTITIONER = CAST.length + LATE.length;
/** Every reader index: the practitioners, the two patients, the network admin. */
const LAST_READER = LAST_PRACTITIONER + 3;
let baseNonces: number[];

beforeAll(() => {
  const network = makeNetwork({ emergencyAccessMaxMs: MAX_WINDOW_MS });
  base = new Chain(network, { sign: false });
  const orgParty = network.orgs;
  practitioners = CAST.map(([org, roles], i) => base.practitioner(orgParty[org], roles, `p${i}`));
  const registrar = base.practitioner(orgParty[HOSPITAL], ['registrar'], 'registrar');
  practitioners.push(registrar);
  // Two practitioners whose keys exist but who are registered only if a history does so.
  late = LATE.map(([org], i) => makeParty(`late-${org}-${i}`));
  patients = [base.patient(registrar, 'patient-a'), base.patient(registrar, 'patient-b')];

  baseModel = new Model();
  baseModel.identities.set(network.admin.id, {
    id: network.admin.id,
    kind: 'network-admin',
    org: null,
    roles: [],
    active: true,
  });
  for (const org of ORGS) {
    baseModel.orgActive.set(org, true);
    baseModel.identities.set(orgParty[org].id, {
      id: orgParty[org].id,
      kind: 'organisation',
      org,
      roles: [],
      active: true,
    });
  }
  practitioners.forEach((p, i) => {
    const [org, roles] = i < CAST.length ? CAST[i]! : [HOSPITAL, ['registrar'] as Role[]];
    baseModel.identities.set(p.id, { id: p.id, kind: 'practitioner', org, roles: [...roles], active: true });
  });
  for (const p of patients)
    baseModel.identities.set(p.id, {
      id: p.id,
      kind: 'patient',
      org: null,
      roles: [],
      active: true,
      home: HOSPITAL,
    });

  // Records: patient A has three by the hospital doctor (the first amended once), patient B two by the lab.
  const authors = [practitioners[0]!, practitioners[4]!];
  patients.forEach((patient, i) => {
    const setup = attr(
      base.ok(patient, 'consent.grant', {
        subject: { kind: 'practitioner', id: authors[i]!.id },
        scope: { kind: 'all' },
        actions: ['append'],
        purpose: 'any',
        expires_ms: base.time_ms + 10_000,
      }),
      'grant',
    )!;
    const types =
      i === 0
        ? ['Observation', 'Condition', 'application/pdf', 'Observation']
        : ['Observation', 'application/pdf'];
    let previous: MRecord | null = null;
    types.forEach((contentType, k) => {
      const amend = i === 0 && k === 3 ? baseModel.records[0]! : null;
      const tx = base.tx(
        authors[i]!,
        'record.add',
        base.recordBody(patient, { contentType, previous: amend?.id ?? null }),
      );
      const receipt = base.block([tx]).receipts[0]!;
      expect(receipt.code).toBe('OK');
      const id = createdId('record', tx);
      if (amend) amend.superseded = true;
      previous = {
        id,
        patient: patient.id,
        author: authors[i]!.id,
        contentType,
        root: amend?.root ?? id,
        superseded: false,
        erased: false,
      };
      baseModel.records.push(previous);
    });
    base.ok(patient, 'consent.revoke', { policy: setup });
  });
  practitioners.push(...late);
  readers = [...practitioners, ...patients, network.admin];
  everyone = [...readers, ...Object.values(orgParty)];
  baseNonces = everyone.map((p) => p.nonce);
});

// ---------------------------------------------------------------------------------------------------
// Histories.

// Biased towards the hospital and the roles the cast holds, so that grants and forbids often apply.
const orgArb = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(2) });
const subjectArb = fc.oneof(
  fc.record({ kind: fc.constant('practitioner' as const), who: fc.nat(LAST_PRACTITIONER) }),
  fc.record({ kind: fc.constant('organisation' as const), org: orgArb }),
  fc.record({
    kind: fc.constant('role' as const),
    org: orgArb,
    role: fc.constantFrom<Role>(
      'doctor',
      'nurse',
      'emergency-staff',
      'lab-technician',
      'registrar',
      'pharmacist',
      'insurer',
      'researcher',
      'auditor',
    ),
  }),
);
const scopeArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'all' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('types' as const),
      types: fc.subarray([...TYPES], { minLength: 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('records' as const),
      records: fc.array(fc.nat(30), { minLength: 1, maxLength: 3 }),
    }),
  },
);
const actionsArb = fc.constantFrom<Action[]>(['read'], ['read'], ['append'], ['read', 'append']);
const purposeArb = fc.constantFrom(...PURPOSES);

// Block gaps and expiries on a coarse grid, so that reads land exactly on an expiry often.
const gapArb = fc.oneof(fc.constantFrom(0, 1_000, 5_000, 30_000), fc.integer({ min: 1, max: 40_000 }));
const expiresInArb = fc.oneof(
  fc.constantFrom(-1_000, 0, 1_000, 5_000, 6_000, 30_000, 60_000),
  fc.integer({ min: -2_000, max: 90_000 }),
);

const grantArb = fc.record({
  kind: fc.constant('grant' as const),
  patient: fc.nat(1),
  subject: subjectArb,
  scope: scopeArb,
  actions: actionsArb,
  purpose: fc.constantFrom('any' as const, 'any' as const, ...PURPOSES),
  expiresIn: expiresInArb,
});
const forbidArb = fc.record({
  kind: fc.constant('forbid' as const),
  patient: fc.nat(1),
  subject: subjectArb,
  scope: scopeArb,
  actions: actionsArb,
});
const revokeArb = fc.record({ kind: fc.constant('revoke' as const), patient: fc.nat(1), pick: fc.nat(40) });
const emergencyArb = fc.record({
  kind: fc.constant('emergency' as const),
  // Mostly the two practitioners with the emergency-staff role.
  who: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(2, 3) },
    { weight: 1, arbitrary: fc.nat(LAST_PRACTITIONER) },
  ),
  patient: fc.nat(1),
  duration: fc.constantFrom(0, 1, 5_000, 30_000, MAX_WINDOW_MS, MAX_WINDOW_MS + 1),
});
const readArb = fc.record({
  kind: fc.constant('read' as const),
  // Mostly the cast (0 to 9); sometimes the registrar, the late ones, the patients or the network admin.
  who: fc.oneof(
    { weight: 5, arbitrary: fc.nat(CAST.length - 1) },
    { weight: 2, arbitrary: fc.nat(LAST_READER) },
  ),
  record: fc.nat(30),
  purpose: purposeArb,
});
const appendArb = fc.record({
  kind: fc.constant('append' as const),
  who: fc.nat(LAST_PRACTITIONER),
  patient: fc.nat(1),
  contentType: fc.constantFrom(...TYPES),
  amend: fc.option(fc.nat(30), { freq: 2 }),
  purpose: purposeArb,
});
/** A patient adds to a file: their own (role:self) or another patient's (denied). */
const selfAppendArb = fc.record({
  kind: fc.constant('self-append' as const),
  who: fc.nat(1),
  patient: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(1) }),
  contentType: fc.constantFrom(...TYPES),
  amend: fc.option(fc.nat(30), { freq: 2 }),
  purpose: purposeArb,
});
const setActiveArb = fc.record({
  kind: fc.constant('set-active' as const),
  who: fc.nat(LAST_PRACTITIONER),
  active: fc.boolean(),
});
const setRolesArb = fc.record({
  kind: fc.constant('set-roles' as const),
  // Often an emergency staff member, who may lose the role while a window is open.
  who: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(2, 3) },
    { weight: 3, arbitrary: fc.nat(LAST_PRACTITIONER) },
  ),
  roles: fc.subarray([...ROLES], { minLength: 1 }),
});
const eraseArb = fc.record({ kind: fc.constant('erase' as const), patient: fc.nat(1), record: fc.nat(30) });
const orgActiveArb = fc.record({
  kind: fc.constant('org-active' as const),
  org: fc.nat(2),
  active: fc.boolean(),
});
const requestArb = fc.record({
  kind: fc.constant('request' as const),
  who: fc.nat(LAST_PRACTITIONER),
  patient: fc.nat(1),
  scope: scopeArb,
  actions: actionsArb,
  purpose: purposeArb,
});
const registerArb = fc.record({
  kind: fc.constant('register' as const),
  late: fc.nat(1),
  roles: fc.subarray<Role>(['doctor', 'nurse', 'lab-technician', 'emergency-staff'], { minLength: 1 }),
});
const respondArb = fc.record({
  kind: fc.constant('respond' as const),
  patient: fc.nat(1),
  pick: fc.nat(5),
  approve: fc.boolean(),
  expiresIn: expiresInArb,
});

const stepArb = fc.oneof(
  { weight: 4, arbitrary: grantArb },
  { weight: 2, arbitrary: forbidArb },
  { weight: 2, arbitrary: revokeArb },
  { weight: 2, arbitrary: emergencyArb },
  { weight: 10, arbitrary: readArb },
  { weight: 3, arbitrary: appendArb },
  { weight: 1, arbitrary: selfAppendArb },
  { weight: 1, arbitrary: setActiveArb },
  { weight: 2, arbitrary: setRolesArb },
  { weight: 1, arbitrary: eraseArb },
  { weight: 1, arbitrary: orgActiveArb },
  { weight: 1, arbitrary: requestArb },
  { weight: 2, arbitrary: respondArb },
  { weight: 1, arbitrary: registerArb },
);
type Step = typeof stepArb extends fc.Arbitrary<infer S> ? S : never;

/** A first block that sets up consent (so that later reads have something to hit), then mixed blocks. */
const setupBlockArb = fc.record({
  gap_ms: gapArb,
  steps: fc.array(
    fc.oneof(
      { weight: 4, arbitrary: grantArb },
      { weight: 2, arbitrary: forbidArb },
      { weight: 1, arbitrary: emergencyArb },
      { weight: 1, arbitrary: requestArb },
      { weight: 1, arbitrary: registerArb },
    ),
    { minLength: 1, maxLength: 6 },
  ),
});
const blockArb = fc.record({ gap_ms: gapArb, steps: fc.array(stepArb, { minLength: 1, maxLength: 5 }) });
const historyArb = fc
  .tuple(setupBlockArb, fc.array(blockArb, { minLength: 1, maxLength: 5 }))
  .map(([setup, rest]) => [setup, ...rest]);

/**
 * Break-glass histories: the two emergency staff members open windows, lose and regain their role
 * or their activation, are forbidden and granted, and read, at times around the windows' ends.
 */
const medicArb = fc.constantFrom(2, 3);
const emergencyStepArb = fc.oneof(
  { weight: 3, arbitrary: emergencyArb.map((s) => ({ ...s, who: s.who % 2 === 0 ? 2 : 3 })) },
  {
    weight: 6,
    arbitrary: readArb.map((s) => ({ ...s, who: s.who % 3 === 0 ? 2 : s.who % 3 === 1 ? 3 : s.who })),
  },
  { weight: 2, arbitrary: setRolesArb.map((s) => ({ ...s, who: s.who % 2 === 0 ? 2 : 3 })) },
  { weight: 1, arbitrary: setActiveArb.chain((s) => medicArb.map((who) => ({ ...s, who }))) },
  { weight: 1, arbitrary: forbidArb },
  { weight: 1, arbitrary: grantArb },
  { weight: 1, arbitrary: revokeArb },
  { weight: 1, arbitrary: appendArb.chain((s) => medicArb.map((who) => ({ ...s, who }))) },
);
const emergencyHistoryArb = fc.array(
  fc.record({ gap_ms: gapArb, steps: fc.array(emergencyStepArb, { minLength: 1, maxLength: 4 }) }),
  { minLength: 2, maxLength: 6 },
);

/**
 * Role histories: the pharmacist, insurer, researcher and auditor (6 to 9) are granted to by name,
 * organisation or role, for every purpose, forbidden, re-roled, and read, append, ask and break
 * glass, beside patients adding to files.
 */
const roleCastArb = fc.constantFrom(6, 7, 8, 9);
const roleSubjectArb = fc.oneof(
  roleCastArb.map((who) => ({ kind: 'practitioner' as const, who })),
  fc.record({ kind: fc.constant('organisation' as const), org: fc.nat(2) }),
  fc.record({
    kind: fc.constant('role' as const),
    org: fc.nat(2),
    role: fc.constantFrom<Role>('pharmacist', 'insurer', 'researcher', 'auditor', 'doctor'),
  }),
);
const roleStepArb = fc.oneof(
  { weight: 3, arbitrary: grantArb.chain((s) => roleSubjectArb.map((subject) => ({ ...s, subject }))) },
  { weight: 1, arbitrary: forbidArb.chain((s) => roleSubjectArb.map((subject) => ({ ...s, subject }))) },
  { weight: 1, arbitrary: revokeArb },
  { weight: 6, arbitrary: readArb.chain((s) => roleCastArb.map((who) => ({ ...s, who }))) },
  { weight: 1, arbitrary: setRolesArb.chain((s) => roleCastArb.map((who) => ({ ...s, who }))) },
  { weight: 1, arbitrary: appendArb.chain((s) => roleCastArb.map((who) => ({ ...s, who }))) },
  { weight: 1, arbitrary: requestArb.chain((s) => roleCastArb.map((who) => ({ ...s, who }))) },
  { weight: 1, arbitrary: emergencyArb.chain((s) => roleCastArb.map((who) => ({ ...s, who }))) },
  { weight: 1, arbitrary: selfAppendArb },
);
const roleHistoryArb = fc.array(
  fc.record({ gap_ms: gapArb, steps: fc.array(roleStepArb, { minLength: 1, maxLength: 4 }) }),
  { minLength: 2, maxLength: 6 },
);

/** What the model predicts for one transaction: a code, and for decisions the rule. */
interface Expectation {
  code: string;
  rule?: string;
  /** Applied to the model once the engine agreed. */
  apply?: () => void;
  read?: { patient: string; record: string; actor: string; purpose: string };
  /** A refusal before any decision: its deny entry's action and rule. */
  audited?: { action: string; rule: string; actor: string };
  /** The model as it stood when a read was decided, to check the engine's permit against. */
  before?: Model;
}

/** The organisation of practitioner `who` (registered or late). */
function orgOf(who: number): (typeof ORGS)[number] {
  return who < CAST.length ? CAST[who]![0] : who === CAST.length ? HOSPITAL : LATE[who - CAST.length - 1]![0];
}

const pick = <T>(list: readonly T[], i: number): T | undefined =>
  list.length === 0 ? undefined : list[i % list.length];

function toSubject(s: Extract<Step, { kind: 'grant' }>['subject']): MSubject {
  if (s.kind === 'practitioner') return { kind: 'practitioner', id: practitioners[s.who]!.id };
  if (s.kind === 'organisation') return { kind: 'organisation', id: ORGS[s.org]! };
  return { kind: 'role', organisation: ORGS[s.org]!, role: s.role };
}

function toScope(m: Model, s: Extract<Step, { kind: 'grant' }>['scope']): MScope {
  if (s.kind === 'all') return { kind: 'all' };
  if (s.kind === 'types') return { kind: 'types', types: [...new Set(s.types)].sort() };
  return { kind: 'records', records: [...new Set(s.records.map((i) => pick(m.records, i)!.id))].sort() };
}

/** Access attempts refused before a decision are audited: the deny entry's rule for each such code. */
const EARLY_RULE: Record<string, string> = {
  IDENTITY_INACTIVE: 'actor-inactive',
  ORGANISATION_INACTIVE: 'organisation-inactive',
  WRONG_ROLE: 'wrong-role',
  NOT_PATIENT: 'not-patient',
};

/** `expect` with the deny entry a refusal before a decision leaves, when `code` is one. */
function withAudit(expect: Expectation, action: string, actor: string): Expectation {
  const rule = EARLY_RULE[expect.code];
  return rule === undefined ? expect : { ...expect, audited: { action, rule, actor } };
}

/** Builds the transaction for a step and what the model expects of it. */
function plan(chain: Chain, m: Model, step: Step, now: number): { tx: Transaction; expect: Expectation } {
  const send = <T extends TxType>(party: Party, type: T, body: TxBody<T>) => chain.tx(party, type, body);
  // A sender the registry does not know: refused before its nonce is consumed, so it is handed back.
  const stranger = (party: Party, tx: Transaction) => {
    party.nonce -= 1;
    return { tx, expect: { code: 'NOT_REGISTERED' } };
  };
  const unknownSubject = (subject: MSubject) =>
    subject.kind === 'practitioner' && !m.identities.has(subject.id);
  switch (step.kind) {
    case 'grant': {
      const patient = patients[step.patient]!;
      const subject = toSubject(step.subject);
      const scope = toScope(m, step.scope);
      const expires_ms = now + step.expiresIn;
      const tx = send(patient, 'consent.grant', {
        subject,
        scope,
        actions: step.actions,
        purpose: step.purpose,
        expires_ms,
      });
      if (unknownSubject(subject)) return { tx, expect: { code: 'UNKNOWN_PRACTITIONER' } };
      if (expires_ms <= now) return { tx, expect: { code: 'GRANT_EXPIRED' } };
      const policy: MPolicy = {
        id: createdId('grant', tx),
        patient: patient.id,
        effect: 'permit',
        subject,
        scope,
        actions: step.actions,
        purpose: step.purpose,
        expires_ms,
        revoked: false,
      };
      return { tx, expect: { code: 'OK', apply: () => m.policies.push(policy) } };
    }
    case 'forbid': {
      const patient = patients[step.patient]!;
      const subject = toSubject(step.subject);
      const scope = toScope(m, step.scope);
      const tx = send(patient, 'consent.forbid', { subject, scope, actions: step.actions });
      if (unknownSubject(subject)) return { tx, expect: { code: 'UNKNOWN_PRACTITIONER' } };
      const policy: MPolicy = {
        id: createdId('forbid', tx),
        patient: patient.id,
        effect: 'forbid',
        subject,
        scope,
        actions: step.actions,
        purpose: 'any',
        expires_ms: null,
        revoked: false,
      };
      return { tx, expect: { code: 'OK', apply: () => m.policies.push(policy) } };
    }
    case 'revoke': {
      const patient = patients[step.patient]!;
      const target = pick(m.policies, step.pick);
      const tx = send(patient, 'consent.revoke', { policy: target?.id ?? 'gr-unknown' });
      if (target === undefined || target.revoked) return { tx, expect: { code: 'UNKNOWN_POLICY' } };
      if (target.patient !== patient.id) return { tx, expect: { code: 'NOT_PATIENT' } };
      return { tx, expect: { code: 'OK', apply: () => (target.revoked = true) } };
    }
    case 'emergency': {
      const actor = practitioners[step.who]!;
      const patient = patients[step.patient]!;
      const tx = send(actor, 'emergency.open', {
        patient: patient.id,
        reason: 'unresponsive on arrival',
        duration_ms: step.duration,
      });
      if (!m.identities.has(actor.id)) return stranger(actor, tx);
      const code =
        m.inactive(actor.id) ??
        (!m.who(actor.id).roles.includes('emergency-staff')
          ? 'WRONG_ROLE'
          : step.duration < 1 || step.duration > MAX_WINDOW_MS
            ? 'BAD_DURATION'
            : 'OK');
      const window: MWindow = {
        id: createdId('window', tx),
        actor: actor.id,
        patient: patient.id,
        opened_ms: now,
        expires_ms: now + step.duration,
      };
      return { tx, expect: withAudit({ code, apply: () => m.windows.push(window) }, 'emergency', actor.id) };
    }
    case 'read': {
      const actor = readers[step.who]!;
      const record = pick(m.records, step.record)!;
      const tx = send(actor, 'record.read', { record: record.id, purpose: step.purpose });
      if (!m.identities.has(actor.id)) return stranger(actor, tx);
      const [permit, rule] = m.decide(
        actor.id,
        'read',
        record.patient,
        record,
        record.contentType,
        step.purpose,
        now,
      );
      const code = permit ? 'OK' : rule === 'record-erased' ? 'RECORD_ERASED' : 'DENIED';
      return {
        tx,
        expect: {
          code,
          rule,
          read: { patient: record.patient, record: record.id, actor: actor.id, purpose: step.purpose },
          before: m.clone(),
        },
      };
    }
    case 'append':
      return planAppend(chain, m, practitioners[step.who]!, patients[step.patient]!, step, now);
    case 'self-append': {
      const actor = patients[step.who]!;
      return planAppend(chain, m, actor, step.patient < 0 ? actor : patients[step.patient]!, step, now);
    }
    case 'set-active': {
      const party = practitioners[step.who]!;
      const target = m.identities.get(party.id);
      const admin = chain.network.orgs[orgOf(step.who)];
      const tx = send(admin, 'identity.set-active', { id: party.id, active: step.active });
      const code = m.inactive(admin.id) ?? (target === undefined ? 'UNKNOWN_IDENTITY' : 'OK');
      return { tx, expect: { code, apply: () => (target!.active = step.active) } };
    }
    case 'set-roles': {
      const party = practitioners[step.who]!;
      const target = m.identities.get(party.id);
      const admin = chain.network.orgs[orgOf(step.who)];
      const tx = send(admin, 'practitioner.set-roles', { practitioner: party.id, roles: step.roles });
      const code = m.inactive(admin.id) ?? (target === undefined ? 'UNKNOWN_PRACTITIONER' : 'OK');
      return { tx, expect: { code, apply: () => (target!.roles = [...step.roles]) } };
    }
    case 'register': {
      const party = late[step.late]!;
      const org = LATE[step.late]![0];
      const admin = chain.network.orgs[org];
      const tx = send(admin, 'practitioner.register', {
        signingKey: party.signing.publicKey,
        encryptionKey: party.encryption.publicKey,
        roles: step.roles,
      });
      const code = m.inactive(admin.id) ?? (m.identities.has(party.id) ? 'KEY_IN_USE' : 'OK');
      const identity: MIdentity = {
        id: party.id,
        kind: 'practitioner',
        org,
        roles: [...step.roles],
        active: true,
      };
      return { tx, expect: { code, apply: () => m.identities.set(party.id, identity) } };
    }
    case 'erase': {
      const patient = patients[step.patient]!;
      const record = pick(m.records, step.record)!;
      const tx = send(patient, 'record.erase', { record: record.id });
      const code = record.patient !== patient.id ? 'NOT_PATIENT' : record.erased ? 'RECORD_ERASED' : 'OK';
      return { tx, expect: withAudit({ code, apply: () => (record.erased = true) }, 'erase', patient.id) };
    }
    case 'org-active': {
      const org = ORGS[step.org]!;
      const tx = send(chain.network.admin, 'org.set-active', { id: org, active: step.active });
      return { tx, expect: { code: 'OK', apply: () => m.orgActive.set(org, step.active) } };
    }
    case 'request': {
      const actor = practitioners[step.who]!;
      const patient = patients[step.patient]!;
      const scope = toScope(m, step.scope);
      const tx = send(actor, 'access.request', {
        patient: patient.id,
        scope,
        actions: step.actions,
        purpose: step.purpose,
        reason: 'second opinion',
      });
      if (!m.identities.has(actor.id)) return stranger(actor, tx);
      const requester = m.who(actor.id).roles.some((r) => REQUESTERS.includes(r));
      const code = m.inactive(actor.id) ?? (requester ? 'OK' : 'WRONG_ROLE');
      const request: MRequest = {
        id: createdId('request', tx),
        patient: patient.id,
        requester: actor.id,
        scope,
        actions: step.actions,
        purpose: step.purpose,
        status: 'pending',
      };
      return { tx, expect: withAudit({ code, apply: () => m.requests.push(request) }, 'request', actor.id) };
    }
    case 'respond': {
      const patient = patients[step.patient]!;
      const target = pick(m.requests, step.pick);
      const id = target?.id ?? 'rq-unknown';
      const expires_ms = now + step.expiresIn;
      const tx = step.approve
        ? send(patient, 'access.approve', { request: id, expires_ms })
        : send(patient, 'access.deny', { request: id });
      if (target === undefined || target.patient !== patient.id)
        return { tx, expect: { code: 'UNKNOWN_REQUEST' } };
      if (target.status !== 'pending') return { tx, expect: { code: 'REQUEST_CLOSED' } };
      if (!step.approve) return { tx, expect: { code: 'OK', apply: () => (target.status = 'denied') } };
      if (expires_ms <= now) return { tx, expect: { code: 'GRANT_EXPIRED' } };
      const policy: MPolicy = {
        id: createdId('grant', tx),
        patient: patient.id,
        effect: 'permit',
        subject: { kind: 'practitioner', id: target.requester },
        scope: target.scope,
        actions: target.actions,
        purpose: target.purpose,
        expires_ms,
        revoked: false,
      };
      return {
        tx,
        expect: {
          code: 'OK',
          apply: () => {
            target.status = 'approved';
            m.policies.push(policy);
          },
        },
      };
    }
  }
}

/** record.add by a practitioner or a patient (the patient's own file, or not). */
function planAppend(
  chain: Chain,
  m: Model,
  actor: Party,
  patient: Party,
  step: { contentType: string; amend: number | null; purpose: (typeof PURPOSES)[number] },
  now: number,
): { tx: Transaction; expect: Expectation } {
  const previous = step.amend === null ? null : pick(m.records, step.amend)!;
  const tx = chain.tx(
    actor,
    'record.add',
    chain.recordBody(patient, {
      contentType: step.contentType,
      previous: previous?.id ?? null,
      purpose: step.purpose,
    }),
  );
  if (!m.identities.has(actor.id)) {
    actor.nonce -= 1; // not registered: refused before its nonce is consumed
    return { tx, expect: { code: 'NOT_REGISTERED' } };
  }
  const who = m.who(actor.id);
  const author = who.kind === 'patient' || who.roles.some((r) => CLINICAL.includes(r));
  const early = m.inactive(actor.id) ?? (author ? null : 'WRONG_ROLE');
  if (early !== null) return { tx, expect: withAudit({ code: early }, 'append', actor.id) };
  const refused =
    previous === null
      ? null
      : previous.patient !== patient.id
        ? 'WRONG_PATIENT'
        : previous.superseded
          ? 'RECORD_SUPERSEDED'
          : previous.erased
            ? 'RECORD_ERASED'
            : null;
  if (refused !== null) return { tx, expect: { code: refused } };
  const [permit, rule] = m.decide(
    actor.id,
    'append',
    patient.id,
    previous,
    step.contentType,
    step.purpose,
    now,
  );
  const id = createdId('record', tx);
  const apply = () => {
    if (previous) previous.superseded = true;
    m.records.push({
      id,
      patient: patient.id,
      author: actor.id,
      contentType: step.contentType,
      root: previous?.root ?? id,
      superseded: false,
      erased: false,
    });
  };
  return { tx, expect: { code: permit ? 'OK' : 'DENIED', rule, apply: permit ? apply : undefined } };
}

/** The rule a permitted read names must be a valid permit right now, by the model's account. */
function checkPermitNamesValidRule(
  m: Model,
  rule: string,
  read: NonNullable<Expectation['read']>,
  now: number,
): void {
  const record = m.records.find((r) => r.id === read.record)!;
  const [kind, id] = rule.split(':') as [string, string];
  if (rule === 'role:self') {
    expect(read.actor).toBe(record.patient);
  } else if (rule === 'role:author') {
    expect(read.actor).toBe(record.author);
  } else if (kind === 'grant') {
    const grant = m.policies.find((p) => p.id === id);
    expect(grant, `grant ${id} exists`).toBeDefined();
    expect(grant!.revoked, 'a revoked grant never permits').toBe(false);
    expect(now < grant!.expires_ms!, 'an expired grant never permits').toBe(true);
    expect(grant!.patient).toBe(record.patient);
    expect(
      m.applies(grant!, read.actor, 'read', record, record.contentType),
      'the grant covers the read',
    ).toBe(true);
    expect(m.usable(grant!, read.actor, 'read', read.purpose), 'a role of the reader may use it').toBe(true);
  } else if (kind === 'emergency') {
    const window = m.windows.find((w) => w.id === id);
    expect(
      window !== undefined &&
        window.actor === read.actor &&
        window.patient === record.patient &&
        window.opened_ms <= now &&
        now < window.expires_ms,
      'an open window of this reader on this patient',
    ).toBe(true);
  } else {
    throw new Error(`a read was permitted by ${rule}, which is not a permit rule`);
  }
}

/** Every read attempt has an audit entry with its decision under its patient, actor and record. */
function checkAudited(
  chain: Chain,
  receipt: Receipt,
  read: NonNullable<Expectation['read']>,
  now: number,
): void {
  const hash = hex(receipt.txHash);
  for (const [by, id] of [
    ['patient', read.patient],
    ['actor', read.actor],
    ['record', read.record],
  ] as const) {
    const entries = queryAudit(chain.state, { by, id, from_ms: now, to_ms: now + 1, limit: 100 }).entries;
    const entry = entries.find((e) => hex(e.txHash) === hash);
    expect(entry, `audit entry by ${by}`).toBeDefined();
    expect(entry!.decision).toBe(receipt.code === 'OK' ? 'permit' : 'deny');
    expect(entry!.rule).toBe(attr(receipt, 'rule'));
  }
}

/** An access attempt refused before a decision has its deny entry, naming why, under its actor. */
function checkRefusalAudited(
  chain: Chain,
  receipt: Receipt,
  audited: NonNullable<Expectation['audited']>,
  now: number,
): void {
  const hash = hex(receipt.txHash);
  const entries = queryAudit(chain.state, {
    by: 'actor',
    id: audited.actor,
    from_ms: now,
    to_ms: now + 1,
  }).entries;
  const entry = entries.find((e) => hex(e.txHash) === hash);
  expect(entry, `${receipt.code} audited`).toBeDefined();
  expect(entry).toMatchObject({ action: audited.action, decision: 'deny', rule: audited.rule });
  expect(entry!.emergency).toBe(audited.action === 'emergency');
}

function runHistory(history: { gap_ms: number; steps: Step[] }[]): void {
  for (const [i, party] of everyone.entries()) party.nonce = baseNonces[i]!;
  const chain = base.fork();
  const m = baseModel.clone();
  const all: Transaction[] = [];
  for (const block of history) {
    const now = chain.time_ms + block.gap_ms;
    // Plan against a model that already includes the block's earlier transactions (they run in order).
    const planned: { tx: Transaction; expect: Expectation }[] = [];
    for (const step of block.steps) {
      const p = plan(chain, m, step, now);
      planned.push(p);
      // Apply optimistically now; the engine's receipt is checked against this prediction below.
      if (p.expect.code === 'OK') p.expect.apply?.();
    }
    const txs = planned.map((p) => p.tx);
    const { receipts, writes } = chain.block(txs, block.gap_ms);
    // A transaction refused because its sender is not registered never ran: it consumed no nonce and
    // may run once its sender exists (its signer meant it to). Every other one ran, exactly once.
    all.push(...txs.filter((_, i) => receipts[i]!.code !== 'NOT_REGISTERED'));
    receipts.forEach((receipt, i) => {
      const { expect: e, tx } = planned[i]!;
      const context = `${tx.type} #${i} at ${now}: ${receipt.message}`;
      expect(receipt.code, context).toBe(e.code);
      if (e.rule !== undefined) expect(attr(receipt, 'rule'), context).toBe(e.rule);
      if (e.read) {
        if (receipt.code === 'OK') checkPermitNamesValidRule(e.before!, attr(receipt, 'rule')!, e.read, now);
        checkAudited(chain, receipt, e.read, now);
      }
      if (e.audited) checkRefusalAudited(chain, receipt, e.audited, now);
    });
    // A refused transaction alone in its block writes its nonce and nothing else (an unknown sender:
    // nothing at all); one refused before a decision also writes its deny entry, under the audit
    // indexes (time A, patient P, actor U, record D).
    const code = receipts[0]!.code;
    if (txs.length === 1 && !['OK', 'DENIED', 'RECORD_ERASED'].includes(code)) {
      const nonceKey = hex(stateKey.nonce(txs[0]!.sender));
      const keys = writes.map((w) => hex(w.key));
      const notAudit = keys.filter((k) => !['41', '50', '55', '44'].includes(k.slice(0, 2)));
      expect(notAudit).toEqual(code === 'NOT_REGISTERED' ? [] : [nonceKey]);
      const audited = planned[0]!.expect.audited !== undefined;
      // One entry under three indexes, or four when it names a record.
      expect([3, 4].includes(keys.length - notAudit.length), `${code} audited`).toBe(audited);
    }
  }
  // Replaying any transaction fails, and changes nothing.
  const replay = chain.block(all, 1);
  expect(replay.receipts.every((r) => r.code === 'NONCE_REUSED')).toBe(true);
  expect(replay.writes).toEqual([]);
}

describe('engine against the reference model', () => {
  it('the setup is what the model thinks it is', () => {
    expect(baseModel.records.map((r) => [r.contentType, r.superseded])).toEqual([
      ['Observation', true],
      ['Condition', false],
      ['application/pdf', false],
      ['Observation', false],
      ['Observation', false],
      ['application/pdf', false],
    ]);
  });

  it('same codes and same deciding rules on 2000 random histories, with the invariants', () => {
    fc.assert(
      fc.property(historyArb, (history) => runHistory(history)),
      { numRuns: 2000 },
    );
  });

  it('the same on 500 histories of the grant-only roles (pharmacist, insurer, researcher, auditor)', () => {
    fc.assert(
      fc.property(roleHistoryArb, (history) => runHistory(history)),
      { numRuns: 500 },
    );
  });

  it('the same on 500 break-glass histories', () => {
    fc.assert(
      fc.property(emergencyHistoryArb, (history) => runHistory(history)),
      { numRuns: 500 },
    );
  });
});
