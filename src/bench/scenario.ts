/**
 * Benchmark scenarios: the types of a parsed scenario file (bench/scenarios/*.json) and its strict
 * parser. A scenario is JSON; every field is checked, and an unknown or ill-typed one is an error
 * (BENCH_SCENARIO_INVALID) that names the file and the JSON path, e.g.
 * `scenario.json: $.faults[2].at_s: expected a number >= 0`.
 *
 * A file may hold a `sweep` over the number of validators; it then expands to one scenario per n,
 * named `<name>-n<N>`.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { MedledgerError } from '../errors.ts';
import { maxFaults } from '../ledger/index.ts';
import { BYZANTINE_FAULTS, type ByzantineBehaviour } from '../sim/faults.ts';
import { type JsonObject, strictObject } from '../strict-json.ts';

/** Where a scenario runs: validator processes on this machine, or the deterministic simulator. */
export type BenchMode = 'real' | 'sim';
export const BENCH_MODES = ['real', 'sim'] as const;

/**
 * Transaction kinds the load generator makes (weights in `Load.mix`): `org.register`, a network
 * admin registering an organisation (run by the rule engine: a real state write and a key check);
 * `note`, an opaque transaction of `txBytes` bytes that consensus orders and the rule engine then
 * refuses (unknown type): ordering cost without rule-engine work. In sim mode the simulator's
 * stand-in executor runs neither, so the kinds differ only in size there.
 *
 * The clinical kinds (CLINICAL_TX_KINDS, real mode only) need the identities a setup phase registers
 * before the measured load (src/bench/clinical.ts): a hospital, its registrars and doctors, `patients`
 * patients, and records. `patient.register` (a registrar enrols a new patient, who co-signs),
 * `consent.grant` (a patient grants a doctor read access), `record.add` (a doctor adds a record's
 * metadata for a patient, naming CIDs), `record.read` (a doctor reads a setup record: an audited
 * access decision, permitted by the patient's setup grant to the hospital) and `access.request` (a
 * doctor asks a patient for access).
 */
export const ADMIN_TX_KINDS = ['org.register', 'note'] as const;
export const CLINICAL_TX_KINDS = [
  'patient.register',
  'consent.grant',
  'record.add',
  'record.read',
  'access.request',
] as const;
export const LOAD_TX_KINDS = [...ADMIN_TX_KINDS, ...CLINICAL_TX_KINDS] as const;
export type LoadTxKind = (typeof LOAD_TX_KINDS)[number];
export type ClinicalTxKind = (typeof CLINICAL_TX_KINDS)[number];

/** Whether a mix has clinical kinds, so that the run needs the clinical setup phase. */
export function hasClinicalKinds(mix: Load['mix']): boolean {
  return CLINICAL_TX_KINDS.some((kind) => (mix[kind] ?? 0) > 0);
}

/** Whether a load kind needs the clinical setup phase. */
export function isClinicalKind(kind: LoadTxKind): kind is ClinicalTxKind {
  return (CLINICAL_TX_KINDS as readonly string[]).includes(kind);
}

/**
 * The offered load. Exactly one of `rate_tps` (open loop: transactions offered per second whatever
 * happens) and `clients` (closed loop: each client keeps `batch` transactions outstanding and sends
 * the next batch when the last one committed) is set.
 */
export interface Load {
  rate_tps: number | null;
  clients: number | null;
  /** Most transactions per HTTP request (open loop), or transactions per client round (closed loop). */
  batch: number;
  /** Target encoded size of a `note` transaction, in bytes (other kinds have their natural size). */
  txBytes: number;
  /** Relative weights of transaction kinds. */
  mix: Partial<Record<LoadTxKind, number>>;
  /** Signing client keys (network admins in the genesis); each has its own nonce sequence. */
  signers: number;
  /** Patients registered in the setup phase (clinical kinds need at least one; 0 otherwise). */
  patients: number;
  /** Doctors of the setup hospital (clinical kinds). */
  practitioners: number;
  /** Records added per patient in the setup phase, read by `record.read`. */
  recordsPerPatient: number;
  /** Transactions one sender signs in a row (consecutive nonces) before the load moves to the next sender. */
  run: number;
  /** Each sender's transactions go first to one validator (sender index mod n), as one app would post them. */
  pinned: boolean;
}

/** One entry of the fault timeline; `at_s` counts from the start of the load (t = 0). */
export type FaultEvent =
  | {
      kind: 'crash';
      at_s: number;
      /** A validator index, or the primary of the current view at `at_s`. */
      node: number | 'primary';
      /** Restart the crashed validator this long after the crash; null: it stays down (until a `restart`). */
      restart_after_s: number | null;
    }
  /** Restart a crashed validator, or every crashed validator. */
  | { kind: 'restart'; at_s: number; node: number | 'all' }
  /** Groups that cannot reach each other; validators not listed form one more group. Parsed: complete. */
  | { kind: 'partition'; at_s: number; groups: number[][] }
  /** Ends every partition and every delay, drop and duplicate fault. */
  | { kind: 'heal'; at_s: number }
  /** Messages sent by `from` to `to` get `delay_ms` more delay (until a heal). */
  | { kind: 'delay'; at_s: number; from: number[]; to: number[] | null; delay_ms: number }
  /** Messages sent by `from` to `to` are dropped, or sent twice, with probability `rate` (until a heal). */
  | { kind: 'drop' | 'duplicate'; at_s: number; from: number[]; to: number[] | null; rate: number }
  /** Sim mode only: these validators (at most f in all) turn Byzantine with these behaviours. */
  | { kind: 'byzantine'; at_s: number; nodes: number[]; behaviours: ByzantineBehaviour[] };

export type FaultEventKind = FaultEvent['kind'];
export const FAULT_EVENT_KINDS: readonly FaultEventKind[] = [
  'crash',
  'restart',
  'partition',
  'heal',
  'delay',
  'drop',
  'duplicate',
  'byzantine',
];

export interface ConsensusSettings {
  /** Most transactions per block. */
  batchMaxTxs: number;
  /** Heights in flight beyond the last executed one (pipelining depth). */
  window: number;
  /** How long a primary waits for a full batch. */
  batchDelay_ms: number;
  requestTimeout_ms: number;
  viewChangeTimeout_ms: number;
}

export interface Scenario {
  name: string;
  description: string;
  mode: BenchMode;
  /** Validators (n). */
  validators: number;
  /** Derived: floor((n - 1) / 3), the faults tolerated. */
  f: number;
  load: Load;
  consensus: ConsensusSettings;
  /**
   * Real mode: every validator's signatureThreads setting. 0 (the default): signatures are verified
   * on each validator's event loop, as suits validators sharing one machine's cores.
   */
  signatureThreads: number;
  /** Measured seconds, after the warm-up. */
  duration_s: number;
  /** Seconds of load before measurement starts (in the throughput chart, not in the statistics). */
  warmup_s: number;
  /** Seconds after the load stops to wait for outstanding transactions to commit. */
  drain_s: number;
  seed: number;
  /** In time order (stable for equal times). */
  faults: FaultEvent[];
}

export const DEFAULT_CONSENSUS: ConsensusSettings = {
  batchMaxTxs: 500,
  window: 4,
  batchDelay_ms: 5,
  requestTimeout_ms: 1000,
  viewChangeTimeout_ms: 1000,
};

const MAX_VALIDATORS = { real: 16, sim: 64 } as const;
/** Network admins a genesis may list (ledger/genesis.ts): the real-mode load's signers are admins. */
const MAX_NETWORK_ADMINS = 64;
const SCENARIO_FIELDS = [
  'name',
  'description',
  'mode',
  'validators',
  'sweep',
  'load',
  'consensus',
  'signatureThreads',
  'duration_s',
  'warmup_s',
  'drain_s',
  'seed',
  'faults',
] as const;

type Fail = (path: string, why: string) => MedledgerError;

/** The scenarios in a scenario file's text (one, or one per n of a sweep). */
export function parseScenarioText(text: string, file: string, seedOverride?: number): Scenario[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MedledgerError(
      'BENCH_SCENARIO_INVALID',
      `${file}: not valid JSON (scenario files are JSON): ${(error as Error).message}`,
    );
  }
  return parseScenarios(json, file, seedOverride);
}

/** Reads and parses a scenario file. */
export async function loadScenarioFile(path: string, seedOverride?: number): Promise<Scenario[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new MedledgerError('BENCH_SCENARIO_NOT_FOUND', `cannot read scenario file ${path}`, {
      cause: error,
    });
  }
  return parseScenarioText(text, basename(path), seedOverride);
}

/** The scenarios a parsed scenario document describes. */
export function parseScenarios(json: unknown, file: string, seedOverride?: number): Scenario[] {
  const fail: Fail = (path, why) => new MedledgerError('BENCH_SCENARIO_INVALID', `${file}: ${path}: ${why}`);
  const doc = strictObject(json, '$', SCENARIO_FIELDS, fail);
  let sizes: number[];
  if (doc.sweep !== undefined) {
    const sweep = strictObject(doc.sweep, '$.sweep', ['validators'], fail);
    if (!Array.isArray(sweep.validators) || sweep.validators.length === 0)
      throw fail('$.sweep.validators', 'expected a non-empty list of validator counts');
    if (doc.validators !== undefined)
      throw fail('$.validators', 'give validators or sweep.validators, not both');
    sizes = sweep.validators.map((v, i) => integer(v, `$.sweep.validators[${i}]`, 1, 64, fail));
  } else {
    sizes = [integer(required(doc, 'validators', '$', fail), '$.validators', 1, 64, fail)];
  }
  const swept = doc.sweep !== undefined;
  return sizes.map((n) => {
    const scenario = parseOne(doc, n, swept ? '$.sweep.validators' : '$.validators', fail);
    if (swept) scenario.name = `${scenario.name}-n${n}`;
    if (seedOverride !== undefined) scenario.seed = seedOverride;
    return scenario;
  });
}

function parseOne(doc: JsonObject, n: number, nPath: string, fail: Fail): Scenario {
  const name = required(doc, 'name', '$', fail);
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/.test(name))
    throw fail('$.name', 'expected a name of letters, digits, ".", "_" and "-" (at most 80)');
  const description = doc.description ?? '';
  if (typeof description !== 'string') throw fail('$.description', 'expected a string');
  const mode = required(doc, 'mode', '$', fail);
  if (mode !== 'real' && mode !== 'sim') throw fail('$.mode', 'expected "real" or "sim"');
  if (n > MAX_VALIDATORS[mode])
    throw fail(nPath, `at most ${MAX_VALIDATORS[mode]} validators in ${mode} mode (got ${n})`);
  const f = maxFaults(n);
  const duration_s = positive(required(doc, 'duration_s', '$', fail), '$.duration_s', 3600, fail);
  const warmup_s = nonNegative(doc.warmup_s ?? 0, '$.warmup_s', 3600, fail);
  const drain_s = nonNegative(doc.drain_s ?? 5, '$.drain_s', 600, fail);
  const seed = integer(doc.seed ?? 1, '$.seed', 0, 0xffff_ffff, fail);
  const load = parseLoad(required(doc, 'load', '$', fail), mode, fail);
  const consensus = parseConsensus(doc.consensus ?? {}, fail);
  const signatureThreads = integer(doc.signatureThreads ?? 0, '$.signatureThreads', 0, 63, fail);
  const faultsJson = doc.faults ?? [];
  if (!Array.isArray(faultsJson)) throw fail('$.faults', 'expected a list of fault events');
  const end_s = warmup_s + duration_s;
  const faults = faultsJson.map((json, i) => parseFault(json, `$.faults[${i}]`, { n, mode, end_s }, fail));
  const byzantine = new Set<number>();
  faults.forEach((fault, i) => {
    if (fault.kind !== 'byzantine') return;
    for (const node of fault.nodes) byzantine.add(node);
    if (byzantine.size > f)
      throw fail(`$.faults[${i}].nodes`, `at most f = ${f} of ${n} validators may be Byzantine`);
  });
  const order = faults.map((fault, i) => ({ fault, i }));
  order.sort((a, b) => a.fault.at_s - b.fault.at_s || a.i - b.i);
  return {
    name,
    description,
    mode,
    validators: n,
    f,
    load,
    consensus,
    signatureThreads,
    duration_s,
    warmup_s,
    drain_s,
    seed,
    faults: order.map((o) => o.fault),
  };
}

function parseLoad(json: unknown, mode: BenchMode, fail: Fail): Load {
  const load = strictObject(
    json,
    '$.load',
    [
      'rate_tps',
      'clients',
      'batch',
      'txBytes',
      'mix',
      'signers',
      'patients',
      'practitioners',
      'recordsPerPatient',
      'run',
      'pinned',
    ],
    fail,
  );
  if ((load.rate_tps === undefined) === (load.clients === undefined))
    throw fail('$.load', 'give exactly one of rate_tps (open loop) and clients (closed loop)');
  const rate_tps = load.rate_tps === undefined ? null : positive(load.rate_tps, '$.load.rate_tps', 1e6, fail);
  const clients = load.clients === undefined ? null : integer(load.clients, '$.load.clients', 1, 4096, fail);
  const batch = integer(load.batch ?? (clients === null ? 500 : 100), '$.load.batch', 1, 4096, fail);
  const txBytes = integer(load.txBytes ?? 200, '$.load.txBytes', 128, 65_536, fail);
  // The genesis holds at most MAX_NETWORK_ADMINS; a clinical load's setup takes one of them.
  const signers = integer(
    load.signers ?? 32,
    '$.load.signers',
    1,
    mode === 'real' ? MAX_NETWORK_ADMINS : 1024,
    fail,
  );
  const mixJson = strictObject(load.mix ?? { 'org.register': 1 }, '$.load.mix', LOAD_TX_KINDS, fail);
  const mix: Partial<Record<LoadTxKind, number>> = {};
  let total = 0;
  for (const kind of LOAD_TX_KINDS) {
    if (mixJson[kind] === undefined) continue;
    mix[kind] = nonNegative(mixJson[kind], `$.load.mix["${kind}"]`, 1e6, fail);
    total += mix[kind];
  }
  if (total <= 0)
    throw fail('$.load.mix', `expected a positive weight for at least one of ${LOAD_TX_KINDS.join(', ')}`);
  const clinical = hasClinicalKinds(mix);
  if (clinical && mode === 'sim')
    throw fail('$.load.mix', `${CLINICAL_TX_KINDS.join(', ')} are real mode only (they need a setup phase)`);
  if (clinical && signers >= MAX_NETWORK_ADMINS)
    throw fail(
      '$.load.signers',
      `at most ${MAX_NETWORK_ADMINS - 1} with clinical kinds (the setup registers the hospital with one more network admin)`,
    );
  const patients = integer(load.patients ?? 0, '$.load.patients', 0, 10_000, fail);
  if (clinical && patients === 0)
    throw fail('$.load.patients', 'the clinical kinds in the mix need patients (at least 1)');
  if (!clinical && patients > 0)
    throw fail('$.load.patients', 'patients are registered only for a mix with clinical kinds');
  const practitioners = integer(load.practitioners ?? 8, '$.load.practitioners', 1, 250, fail);
  const recordsPerPatient = integer(load.recordsPerPatient ?? 1, '$.load.recordsPerPatient', 0, 16, fail);
  if ((mix['record.read'] ?? 0) > 0 && recordsPerPatient === 0)
    throw fail('$.load.recordsPerPatient', 'record.read needs records to read (at least 1 per patient)');
  const run = integer(load.run ?? 1, '$.load.run', 1, 200, fail);
  const pinned = load.pinned ?? false;
  if (typeof pinned !== 'boolean') throw fail('$.load.pinned', 'expected true or false');
  if (pinned && mode === 'sim') throw fail('$.load.pinned', 'real mode only');
  return {
    rate_tps,
    clients,
    batch,
    txBytes,
    mix,
    signers,
    patients,
    practitioners,
    recordsPerPatient,
    run,
    pinned,
  };
}

function parseConsensus(json: unknown, fail: Fail): ConsensusSettings {
  const c = strictObject(json, '$.consensus', Object.keys(DEFAULT_CONSENSUS), fail);
  return {
    batchMaxTxs: integer(
      c.batchMaxTxs ?? DEFAULT_CONSENSUS.batchMaxTxs,
      '$.consensus.batchMaxTxs',
      1,
      10_000,
      fail,
    ),
    window: integer(c.window ?? DEFAULT_CONSENSUS.window, '$.consensus.window', 1, 64, fail),
    batchDelay_ms: nonNegative(
      c.batchDelay_ms ?? DEFAULT_CONSENSUS.batchDelay_ms,
      '$.consensus.batchDelay_ms',
      10_000,
      fail,
    ),
    requestTimeout_ms: positive(
      c.requestTimeout_ms ?? DEFAULT_CONSENSUS.requestTimeout_ms,
      '$.consensus.requestTimeout_ms',
      600_000,
      fail,
    ),
    viewChangeTimeout_ms: positive(
      c.viewChangeTimeout_ms ?? DEFAULT_CONSENSUS.viewChangeTimeout_ms,
      '$.consensus.viewChangeTimeout_ms',
      600_000,
      fail,
    ),
  };
}

const FAULT_FIELDS: Record<FaultEventKind, readonly string[]> = {
  crash: ['node', 'restart_after_s'],
  restart: ['node'],
  partition: ['groups'],
  heal: [],
  delay: ['from', 'to', 'delay_ms'],
  drop: ['from', 'to', 'rate'],
  duplicate: ['from', 'to', 'rate'],
  byzantine: ['nodes', 'behaviour'],
};

function parseFault(
  json: unknown,
  path: string,
  ctx: { n: number; mode: BenchMode; end_s: number },
  fail: Fail,
): FaultEvent {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw fail(path, 'expected an object');
  const kind = (json as JsonObject).kind;
  if (typeof kind !== 'string' || !(FAULT_EVENT_KINDS as readonly string[]).includes(kind))
    throw fail(`${path}.kind`, `expected one of ${FAULT_EVENT_KINDS.join(', ')}`);
  const k = kind as FaultEventKind;
  const event = strictObject(json, path, ['at_s', 'kind', ...FAULT_FIELDS[k]], fail);
  const at_s = nonNegative(required(event, 'at_s', path, fail), `${path}.at_s`, 3600, fail);
  if (at_s >= ctx.end_s)
    throw fail(`${path}.at_s`, `expected a time before the load ends (warmup_s + duration_s = ${ctx.end_s})`);
  const { n } = ctx;
  const node = (value: unknown, at: string) => integer(value, at, 0, n - 1, fail);
  const nodes = (value: unknown, at: string) => {
    if (!Array.isArray(value) || value.length === 0)
      throw fail(at, 'expected a non-empty list of validator indexes');
    const list = value.map((v, i) => node(v, `${at}[${i}]`));
    if (new Set(list).size !== list.length) throw fail(at, 'a validator is listed twice');
    return list;
  };
  switch (k) {
    case 'crash': {
      const target = required(event, 'node', path, fail);
      return {
        kind: k,
        at_s,
        node: target === 'primary' ? 'primary' : node(target, `${path}.node`),
        restart_after_s:
          event.restart_after_s === undefined
            ? null
            : positive(event.restart_after_s, `${path}.restart_after_s`, 3600, fail),
      };
    }
    case 'restart': {
      const target = required(event, 'node', path, fail);
      return { kind: k, at_s, node: target === 'all' ? 'all' : node(target, `${path}.node`) };
    }
    case 'partition': {
      const groupsJson = required(event, 'groups', path, fail);
      if (!Array.isArray(groupsJson) || groupsJson.length === 0)
        throw fail(`${path}.groups`, 'expected a non-empty list of groups (lists of validator indexes)');
      const seen = new Set<number>();
      const groups = groupsJson.map((g, i) => {
        const group = nodes(g, `${path}.groups[${i}]`);
        for (const v of group) {
          if (seen.has(v)) throw fail(`${path}.groups[${i}]`, `validator ${v} is in two groups`);
          seen.add(v);
        }
        return group;
      });
      const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
      if (rest.length > 0) groups.push(rest);
      if (groups.length < 2) throw fail(`${path}.groups`, 'a partition needs at least two groups');
      return { kind: k, at_s, groups };
    }
    case 'heal':
      return { kind: k, at_s };
    case 'delay':
    case 'drop':
    case 'duplicate': {
      const from = nodes(required(event, 'from', path, fail), `${path}.from`);
      let to: number[] | null = null;
      if (event.to !== undefined) {
        if (ctx.mode === 'real')
          throw fail(
            `${path}.to`,
            `per-link ${k} is only in sim mode (in real mode a ${k} applies to every message a validator sends: omit "to")`,
          );
        to = nodes(event.to, `${path}.to`);
      }
      if (k === 'delay')
        return {
          kind: k,
          at_s,
          from,
          to,
          delay_ms: positive(required(event, 'delay_ms', path, fail), `${path}.delay_ms`, 60_000, fail),
        };
      const rate = required(event, 'rate', path, fail);
      if (typeof rate !== 'number' || !(rate > 0 && rate <= 1))
        throw fail(`${path}.rate`, 'expected a probability in (0, 1]');
      return { kind: k, at_s, from, to, rate };
    }
    case 'byzantine': {
      if (ctx.mode === 'real')
        throw fail(
          `${path}.kind`,
          'Byzantine behaviours are only in sim mode (validator processes are honest)',
        );
      const list = nodes(required(event, 'nodes', path, fail), `${path}.nodes`);
      const behaviourJson = required(event, 'behaviour', path, fail);
      const names = Array.isArray(behaviourJson) ? behaviourJson : [behaviourJson];
      const why = `expected one of ${BYZANTINE_FAULTS.join(', ')} (or a list of them)`;
      if (names.length === 0) throw fail(`${path}.behaviour`, why);
      const behaviours = names.map((b, i) => {
        if (typeof b !== 'string' || !(BYZANTINE_FAULTS as readonly string[]).includes(b))
          throw fail(Array.isArray(behaviourJson) ? `${path}.behaviour[${i}]` : `${path}.behaviour`, why);
        return b as ByzantineBehaviour;
      });
      return { kind: k, at_s, nodes: list, behaviours };
    }
  }
}

function required(obj: JsonObject, field: string, path: string, fail: Fail): unknown {
  if (obj[field] === undefined) throw fail(`${path}.${field}`, 'required');
  return obj[field];
}

function integer(value: unknown, path: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw fail(path, `expected an integer from ${min} to ${max}`);
  return value;
}

function nonNegative(value: unknown, path: string, max: number, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw fail(path, 'expected a number ≥ 0');
  if (value > max) throw fail(path, `expected a number ≤ ${max}`);
  return value;
}

function positive(value: unknown, path: string, max: number, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw fail(path, 'expected a number > 0');
  if (value > max) throw fail(path, `expected a number ≤ ${max}`);
  return value;
}
