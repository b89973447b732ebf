/**
 * Cost per operation on four validator processes on this machine: for each kind of operation, N run
 * back-to-back (each waits for its commit, so each is alone in its block) after one unmeasured
 * warm-up, in a few equal batches, measuring
 *
 * - CPU µs per validator: each process's CPU counter (`medledger_process_process_cpu_seconds_total`,
 *   process.cpuUsage, every thread) read from its /metrics before and after a batch, minus what
 *   reading /metrics costs and what the validator spends idle over the same time, ÷ the batch's
 *   size; the median of the batches;
 * - consensus bytes each validator sent, the same way;
 * - bytes added to the chain store, exactly, from the stopped store (ops-chain.ts);
 * - blob store growth per node (the files: ciphertext chunks, the key blob, their manifests), once
 *   replication settled;
 * - latency: submit → committed as the client sees it, and the client's own stage around it (record
 *   add: encrypt, split the key, upload the ciphertext and the key blob before the submit; read: key
 *   shares, ciphertext, decryption and the file written after the read permit committed).
 *
 * Roles: validator 0 is the primary (view 0); hospital A's node is validator 1 (the network admin,
 * A's staff and the patients, who registered at A, send through it; A is the records' custodian);
 * hospital B's node is validator 2 (B's doctor reads, requests and B's emergency nurse breaks the
 * glass through it; for a read it gathers a key share from every validator, each re-sealed to the
 * reader); validator 3 is a plain backup. One read runs with validator 1 killed (DOWN): the key
 * still opens with the other validators' shares; that validator's CPU is then NaN (null in JSON).
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProcessCluster, startProcessCluster, until } from '../src/bench/cluster.ts';
import { machine, versions } from '../src/bench/measure.ts';
import {
  addRecord,
  type Committed,
  checkRecordContent,
  createdIdOf,
  NodeClient,
  type NodeClientOptions,
  type RecordContent,
  type RequestSigner,
  readRecord,
  type SubmitResult,
  submitAndWait,
} from '../src/client/index.ts';
import { identityId, signPatientRegistration, type TxBody, type TxType } from '../src/contracts/index.ts';
import { generateIdentityKeys, type IdentityKeys, randomBytes } from '../src/crypto/index.ts';
import { type BlockBytes, blockBytes } from './ops-chain.ts';

export const OPERATIONS = [
  'org.register',
  'practitioner.register',
  'patient.register',
  'record.add 1 KiB',
  'record.add 1 MiB',
  'consent.grant',
  'record.read 1 KiB',
  'record.read 1 MiB',
  'record.read 1 KiB custodian down',
  'consent.revoke',
  'access.request',
  'access.approve',
  'emergency.open',
  'record.erase',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const LABELS: Record<Operation, string> = {
  'org.register': 'register organisation (lab)',
  'practitioner.register': 'register practitioner (doctor)',
  'patient.register': 'register patient (co-signed)',
  'record.add 1 KiB': 'add record, 1 KiB',
  'record.add 1 MiB': 'add record, 1 MiB',
  'consent.grant': 'grant',
  'record.read 1 KiB': 'read record, 1 KiB',
  'record.read 1 MiB': 'read record, 1 MiB',
  'record.read 1 KiB custodian down': "read record, 1 KiB, custodian's node (v1) down",
  'consent.revoke': 'revoke',
  'access.request': 'request access',
  'access.approve': 'approve request',
  'emergency.open': 'emergency (break-glass open)',
  'record.erase': 'erase record',
};

/** What each operation needs done first (run unmeasured when it is not itself measured). */
const NEEDS: Partial<Record<Operation, Operation[]>> = {
  'record.add 1 KiB': ['patient.register'],
  'record.add 1 MiB': ['patient.register'],
  'consent.grant': ['patient.register'],
  'record.read 1 KiB': ['consent.grant', 'record.add 1 KiB'],
  'record.read 1 MiB': ['consent.grant', 'record.add 1 MiB'],
  'record.read 1 KiB custodian down': ['consent.grant', 'record.add 1 KiB'],
  'consent.revoke': ['consent.grant'],
  'access.request': ['patient.register'],
  'access.approve': ['access.request'],
  'emergency.open': ['patient.register'],
  'record.erase': ['record.add 1 KiB'],
};

const VALIDATORS = 4;
const HOSPITAL_A = 1;
const HOSPITAL_B = 2;
const DAY_MS = 86_400_000;
/** Operations run with a validator killed: hospital A's node, the custodian of every record. */
const DOWN: Partial<Record<Operation, number>> = { 'record.read 1 KiB custodian down': HOSPITAL_A };
/** A 1 KiB record: a FHIR R4 Observation, its note padded to exactly 1,024 bytes. */
export const OBSERVATION_1KIB = observation(1024);
const MIB = 1024 * 1024;

export interface Latency {
  p50_ms: number;
  p90_ms: number;
  min_ms: number;
  max_ms: number;
}

export interface OperationCost {
  operation: Operation;
  label: string;
  /** Operations measured (after one warm-up). */
  n: number;
  /** The N operations ran as this many equal batches; per-operation figures are their median. */
  batches: number;
  /** Per validator (index = validator); NaN (null in JSON) for a validator that was down. */
  cpu_us_per_op: number[];
  /** Each batch's figure, per validator. */
  cpu_us_per_op_by_batch: number[][];
  /** The user-mode part of cpu_us_per_op (the rest is the kernel's: syscalls, fsync, TCP). */
  cpu_user_us_per_op: number[];
  /** The same from /proc/PID/stat (10 ms ticks: a coarse cross-check). */
  proc_cpu_us_per_op: number[];
  consensus_sent_bytes_per_op: number[];
  chain: {
    /** The encoded, signed transaction. */
    tx_bytes: number;
    /** Keys and values the execution wrote to state. */
    state_write_bytes: number;
    /** Everything the chain store grew by (logical bytes; one operation per block). */
    chain_store_bytes: number;
    /** chain_store_bytes by part. */
    parts: Omit<BlockBytes, 'height' | 'txs' | 'tx_bytes' | 'total_bytes'>;
    /** Most transactions seen in one of these blocks (1: each operation had its block). */
    max_txs_per_block: number;
  } | null;
  /** Blob files' growth per operation on each node (ciphertext, key blob, manifests); null when none. */
  blob_store_bytes_per_op: number[] | null;
  /** The blob store's LevelDB index, on disk (compressed, coarse). */
  blob_index_disk_bytes_per_op: number[] | null;
  latency: {
    submit_to_commit: Latency;
    /** Record add: before the submit (encrypt, upload); read: after the permit (fetch, decrypt, write). */
    client_stage: Latency | null;
    client_stage_is: string | null;
    /** Record add: commit → the blobs on every node; erase: commit → deleted on every node. */
    blobs_settled: Latency | null;
    blobs_settled_is: string | null;
  };
  /** Wall time of the measured batches, readings and settling included. */
  wall_ms: number;
}

export interface OpsResult {
  benchmark: 'ops';
  n: number;
  batches: number;
  wall_s: number;
  versions: ReturnType<typeof versions>;
  machine: ReturnType<typeof machine>;
  cluster: { validators: number; roles: string[]; checkpointInterval: number };
  calibration: {
    /** Per validator: what one reading costs it (median of back-to-back readings; CPU from /metrics). */
    per_reading: Reading[];
    /** Per validator: what it spends per second while nothing is submitted. */
    idle_per_s: Reading[];
    /** The same measured again after the batches (not used: a check that the idle rate held). */
    idle_at_end_per_s?: Reading[];
  };
  /** View changes any validator started during the run (0: validator 0 was primary throughout). */
  view_changes: number;
  chain_store: { logical_bytes_added: number; disk_bytes: number; blocks: number };
  operations: OperationCost[];
}

export interface OpsOptions {
  n: number;
  /** Batches the N operations of a kind run in (default 4, at most N). */
  batches?: number;
  /** Length of each of the three idle windows measured at the start and at the end (default 1 s). */
  idleWindow_ms?: number;
  operations?: readonly Operation[];
  log?: (line: string) => void;
}

interface Sample {
  txHash: string;
  height: number;
  submit_to_commit_ms: number;
  client_stage_ms: number | null;
  /** Record add or erase: from the commit to every node's blob files updated. */
  blobs_settled_ms: number | null;
}

/** One validator's counters at one moment. */
export interface Reading {
  /** process.cpuUsage (user + system, every thread), from /metrics: 1 µs resolution. */
  cpu_us: number;
  /** Its user-mode part. */
  cpu_user_us: number;
  /** utime + stime from /proc/PID/stat: the kernel's count, 10 ms ticks; a cross-check. */
  proc_cpu_us: number;
  /** Consensus message bytes sent to other validators, from /metrics. */
  sent_bytes: number;
}

const FIELDS = ['cpu_us', 'cpu_user_us', 'proc_cpu_us', 'sent_bytes'] as const;
/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** When a client last submitted a transaction and last asked for a read's release. */
interface Times {
  submitted_ms: number;
  released_ms: number;
}

/**
 * A client that notes when it submitted the last transaction and when it asked for a read's
 * release. The client flows sign by making a signing client of it (`as`: the sender polls for its
 * transaction, the author uploads): those note their times here too.
 */
class TimedClient extends NodeClient {
  readonly #options: NodeClientOptions;
  readonly #times: Times;
  constructor(
    url: string,
    options: NodeClientOptions = {},
    times: Times = { submitted_ms: 0, released_ms: 0 },
  ) {
    super(url, options);
    this.#options = options;
    this.#times = times;
  }
  get submitted_ms(): number {
    return this.#times.submitted_ms;
  }
  get released_ms(): number {
    return this.#times.released_ms;
  }
  override as(signer: RequestSigner): TimedClient {
    return new TimedClient(this.url, { ...this.#options, signer }, this.#times);
  }
  override asOperator(operator: RequestSigner): TimedClient {
    return new TimedClient(this.url, { ...this.#options, operator }, this.#times);
  }
  override submitTx(encoded: Uint8Array, wait_ms: number): Promise<SubmitResult> {
    this.#times.submitted_ms = performance.now();
    return super.submitTx(encoded, wait_ms);
  }
  override read(...args: Parameters<NodeClient['read']>): ReturnType<NodeClient['read']> {
    this.#times.released_ms = performance.now();
    return super.read(...args);
  }
}

/** Runs the benchmark on a fresh four-validator cluster and returns every measurement. */
export async function measureOps(options: OpsOptions): Promise<OpsResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const measured = new Set<Operation>(options.operations ?? OPERATIONS);
  const run = closure(measured);
  const n = options.n;
  const batches = Math.max(1, Math.min(n, options.batches ?? 4));
  const idleWindow_ms = options.idleWindow_ms ?? 1000;
  const work = await mkdtemp(join(tmpdir(), 'medledger-ops-'));
  const files = { kib: join(work, 'observation.json'), mib: join(work, 'image.bin'), out: join(work, 'out') };
  await writeFile(files.kib, OBSERVATION_1KIB);
  await writeFile(files.mib, randomBytes(MIB));

  const cluster = await startProcessCluster({ n: VALIDATORS, admins: 1, stderr: 'file' });
  try {
    await until(async () => (await statuses(cluster)).every((s) => s.peers === VALIDATORS - 1), 30_000);
    const world = await setUp(cluster, files);
    log(`cluster up, hospitals registered (${Math.round(performance.now() - started)} ms)`);
    const calibration = await calibrate(cluster, idleWindow_ms);
    const costs: OperationCost[] = [];
    const samples = new Map<Operation, Sample[]>();
    for (const operation of OPERATIONS) {
      if (!run.has(operation)) continue;
      const down = DOWN[operation];
      if (down !== undefined) await cluster.kill(down);
      if (!measured.has(operation)) {
        for (let i = 0; i <= n; i++) await perform(world, operation, i);
        if (down !== undefined) await restart(world, down);
        continue;
      }
      const { cost, batch } = await measureOperation(world, operation, n, batches, calibration);
      if (down !== undefined) await restart(world, down);
      costs.push(cost);
      samples.set(operation, batch);
      const round = (xs: number[]) => xs.map((x) => (Number.isNaN(x) ? '—' : Math.round(x))).join(' / ');
      log(
        `${operation}: CPU ${round(cost.cpu_us_per_op)} µs (/proc: ${round(cost.proc_cpu_us_per_op)}), ` +
          `p50 ${cost.latency.submit_to_commit.p50_ms.toFixed(1)} ms` +
          (cost.latency.blobs_settled
            ? `, blobs settled p50 ${Math.round(cost.latency.blobs_settled.p50_ms)} ms`
            : '') +
          ` (${Math.round(cost.wall_ms)} ms)`,
      );
    }
    calibration.idle_at_end_per_s = (await calibrate(cluster, idleWindow_ms)).idle_per_s;
    const final = await statuses(cluster);
    const view_changes = final.reduce((sum, s) => sum + s.viewChanges, 0);
    const head = Math.min(...final.map((s) => s.height));

    await cluster.stopAll();
    const home = join(cluster.dir, 'validator-0');
    const all = await blockBytes(home, new Set(range(1, head)));
    const byHeight = new Map(all.map((b) => [b.height, b]));
    for (const cost of costs) cost.chain = chainCost(samples.get(cost.operation)!, byHeight);
    return {
      benchmark: 'ops',
      n,
      batches,
      wall_s: (performance.now() - started) / 1000,
      versions: versions(),
      machine: machine(),
      cluster: {
        validators: VALIDATORS,
        roles: [
          'primary (view 0)',
          "hospital A's node: the network admin, A's staff and the patients send through it; A is the records' custodian",
          "hospital B's node: B's doctor and emergency nurse send and read through it; it gathers the key shares",
          'backup',
        ],
        checkpointInterval: cluster.genesis.params.checkpointInterval,
      },
      calibration,
      view_changes,
      chain_store: {
        logical_bytes_added: all.reduce((sum, b) => sum + b.total_bytes, 0),
        disk_bytes: await directoryBytes(join(home, 'data', 'chain')),
        blocks: all.length,
      },
      operations: costs,
    };
  } finally {
    await cluster.close();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * One warm-up, then N operations in `batches` equal batches, each framed by readings of every
 * validator's counters once the chain settled. Per-operation figures are the median of the batches'.
 */
async function measureOperation(
  world: World,
  operation: Operation,
  n: number,
  batches: number,
  calibration: OpsResult['calibration'],
): Promise<{ cost: OperationCost; batch: Sample[] }> {
  const { cluster } = world;
  const blobs = BLOB_OPERATIONS.has(operation);
  await perform(world, operation, 0);
  await settle(cluster);
  const blobsBefore = blobs ? await blobSizes(cluster) : null;
  const started = performance.now();
  const samples: Sample[] = [];
  const perBatch: Reading[][] = [];
  for (let b = 0; b < batches; b++) {
    const first = 1 + Math.round((b * n) / batches);
    const last = Math.round(((b + 1) * n) / batches);
    const before = await readAll(cluster);
    const t0 = performance.now();
    for (let i = first; i <= last; i++) samples.push(await perform(world, operation, i));
    await settle(cluster);
    const after = await readAll(cluster);
    const seconds = (performance.now() - t0) / 1000;
    perBatch.push(
      after.map((r, v) => {
        const idle = calibration.idle_per_s[v]!;
        const cost = calibration.per_reading[v]!;
        const out = difference(r, before[v]!, cost, last - first + 1);
        for (const field of FIELDS) out[field] -= (idle[field] * seconds) / (last - first + 1);
        return out;
      }),
    );
  }
  const blobsAfter = blobs ? await blobSizes(cluster) : null;
  const perOp = (field: (typeof FIELDS)[number]) =>
    range(0, VALIDATORS - 1).map((v) => median(perBatch.map((readings) => readings[v]![field])));
  const clientStage = samples.map((s) => s.client_stage_ms).filter((x): x is number => x !== null);
  const settled = samples.map((s) => s.blobs_settled_ms).filter((x): x is number => x !== null);
  const cost: OperationCost = {
    operation,
    label: LABELS[operation],
    n,
    batches,
    cpu_us_per_op: perOp('cpu_us'),
    cpu_us_per_op_by_batch: perBatch.map((readings) => readings.map((r) => r.cpu_us)),
    cpu_user_us_per_op: perOp('cpu_user_us'),
    proc_cpu_us_per_op: perOp('proc_cpu_us'),
    consensus_sent_bytes_per_op: perOp('sent_bytes'),
    chain: null,
    blob_store_bytes_per_op:
      blobsAfter && blobsBefore ? diffPerOp(blobsAfter.files, blobsBefore.files, n) : null,
    blob_index_disk_bytes_per_op:
      blobsAfter && blobsBefore ? diffPerOp(blobsAfter.index, blobsBefore.index, n) : null,
    latency: {
      submit_to_commit: latency(samples.map((s) => s.submit_to_commit_ms)),
      client_stage: clientStage.length ? latency(clientStage) : null,
      client_stage_is: CLIENT_STAGE[operation] ?? null,
      blobs_settled: settled.length ? latency(settled) : null,
      blobs_settled_is: blobs ? (BLOBS_SETTLED[operation] ?? null) : null,
    },
    wall_ms: performance.now() - started,
  };
  return { cost, batch: samples };
}

/** Everything set up before the batches: two hospitals and their staff. */
interface World {
  cluster: ProcessCluster;
  a: TimedClient;
  b: TimedClient;
  chainId: string;
  admin: IdentityKeys;
  adminA: IdentityKeys;
  registrar: IdentityKeys;
  doctor: IdentityKeys;
  doctorB: IdentityKeys;
  nurse: IdentityKeys;
  files: { kib: string; mib: string; out: string };
  /**
   * The two records' contents, checked on first use (the FHIR validation is the client's, once per
   * file, in the unmeasured warm-up).
   */
  contents: { kib?: RecordContent; mib?: RecordContent };
  patients: IdentityKeys[];
  records1k: string[];
  records1m: string[];
  grants: string[];
  requests: string[];
}

async function setUp(cluster: ProcessCluster, files: World['files']): Promise<World> {
  const a = new TimedClient(cluster.api[HOSPITAL_A]!);
  const b = new TimedClient(cluster.api[HOSPITAL_B]!);
  const admin = { signing: cluster.admins[0]!, encryption: generateIdentityKeys().encryption };
  const [adminA, adminB, registrar, doctor, doctorB, nurse] = Array.from({ length: 6 }, generateIdentityKeys);
  const org = (id: string, key: IdentityKeys, node: number) =>
    submitAndWait(a, admin, 'org.register', {
      id,
      kind: 'hospital',
      adminKey: key.signing.publicKey,
      encryptionKey: cluster.validators[node]!.encryption.publicKey,
    });
  const staff = (
    orgAdmin: IdentityKeys,
    keys: IdentityKeys,
    role: 'registrar' | 'doctor' | 'emergency-staff',
  ) =>
    submitAndWait(a, orgAdmin, 'practitioner.register', {
      signingKey: keys.signing.publicKey,
      encryptionKey: keys.encryption.publicKey,
      roles: [role],
    });
  await org('hospital-a', adminA!, HOSPITAL_A);
  await org('hospital-b', adminB!, HOSPITAL_B);
  await staff(adminA!, registrar!, 'registrar');
  await staff(adminA!, doctor!, 'doctor');
  await staff(adminB!, doctorB!, 'doctor');
  await staff(adminB!, nurse!, 'emergency-staff');
  return {
    cluster,
    a,
    b,
    chainId: await a.chainId(),
    admin,
    adminA: adminA!,
    registrar: registrar!,
    doctor: doctor!,
    doctorB: doctorB!,
    nurse: nurse!,
    files,
    contents: {},
    patients: [],
    records1k: [],
    records1m: [],
    grants: [],
    requests: [],
  };
}

const BLOB_OPERATIONS = new Set<Operation>(['record.add 1 KiB', 'record.add 1 MiB', 'record.erase']);
const CLIENT_STAGE: Partial<Record<Operation, string>> = {
  'record.add 1 KiB': 'encrypt, split the key, upload both, before the submit',
  'record.add 1 MiB': 'encrypt, split the key, upload both, before the submit',
  'record.read 1 KiB': 'permit committed → plaintext written',
  'record.read 1 MiB': 'permit committed → plaintext written',
  'record.read 1 KiB custodian down': 'permit committed → plaintext written',
};

const BLOBS_SETTLED: Partial<Record<Operation, string>> = {
  'record.add 1 KiB': 'commit → ciphertext and key blob on every node',
  'record.add 1 MiB': 'commit → ciphertext and key blob on every node',
  'record.erase': 'commit → ciphertext and key blob deleted on every node',
};

type Step = (world: World, i: number) => Promise<Sample>;

/** Submits one transaction and times it from the POST to the commit. */
async function timed<T extends TxType>(
  client: TimedClient,
  keys: IdentityKeys,
  type: T,
  body: TxBody<T>,
): Promise<Sample & { committed: Committed }> {
  const committed = await submitAndWait(client, keys, type, body);
  return {
    committed,
    txHash: committed.txHash,
    height: committed.height,
    submit_to_commit_ms: performance.now() - client.submitted_ms,
    client_stage_ms: null,
    blobs_settled_ms: null,
  };
}

function addStep(size: 'kib' | 'mib'): Step {
  return async (w, i) => {
    w.contents[size] ??= await (size === 'kib'
      ? checkRecordContent(w.files.kib, 'Observation', { fhir: true })
      : checkRecordContent(w.files.mib, 'application/octet-stream', { fhir: false }));
    const start = performance.now();
    const added = await addRecord(w.a, w.doctor, {
      patient: identityId(w.patients[i]!.signing.publicKey),
      content: w.contents[size],
      previous: null,
      purpose: 'treatment',
    });
    const end = performance.now();
    (size === 'kib' ? w.records1k : w.records1m)[i] = added.record;
    return {
      txHash: added.txHash,
      height: added.height,
      submit_to_commit_ms: end - w.a.submitted_ms,
      client_stage_ms: w.a.submitted_ms - start,
      blobs_settled_ms: null,
    };
  };
}

function readStep(size: 'kib' | 'mib'): Step {
  return async (w, i) => {
    const record = (size === 'kib' ? w.records1k : w.records1m)[i]!;
    const read = await readRecord(w.b, w.doctorB, { record, purpose: 'treatment', out: w.files.out });
    const end = performance.now();
    await rm(w.files.out, { force: true });
    return {
      txHash: read.txHash,
      height: read.height,
      submit_to_commit_ms: w.b.released_ms - w.b.submitted_ms,
      client_stage_ms: end - w.b.released_ms,
      blobs_settled_ms: null,
    };
  };
}

const STEPS: Record<Operation, Step> = {
  'org.register': (w, i) =>
    timed(w.a, w.admin, 'org.register', {
      id: `lab-${i}`,
      kind: 'diagnostic-lab',
      adminKey: generateIdentityKeys().signing.publicKey,
      encryptionKey: w.cluster.validators[i % VALIDATORS]!.encryption.publicKey,
    }),
  'practitioner.register': (w) => {
    const keys = generateIdentityKeys();
    return timed(w.a, w.adminA, 'practitioner.register', {
      signingKey: keys.signing.publicKey,
      encryptionKey: keys.encryption.publicKey,
      roles: ['doctor'],
    });
  },
  'patient.register': async (w, i) => {
    const patient = generateIdentityKeys();
    const keys = { signingKey: patient.signing.publicKey, encryptionKey: patient.encryption.publicKey };
    const registrarId = identityId(w.registrar.signing.publicKey);
    const coSignature = signPatientRegistration(w.chainId, registrarId, keys, patient.signing.secretKey);
    w.patients[i] = patient;
    return timed(w.a, w.registrar, 'patient.register', { ...keys, coSignature });
  },
  'record.add 1 KiB': addStep('kib'),
  'record.add 1 MiB': addStep('mib'),
  'consent.grant': async (w, i) => {
    const sample = await timed(w.a, w.patients[i]!, 'consent.grant', {
      subject: { kind: 'practitioner', id: identityId(w.doctorB.signing.publicKey) },
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'any',
      expires_ms: Date.now() + 30 * DAY_MS,
    });
    w.grants[i] = createdIdOf('grant', sample.committed);
    return sample;
  },
  'record.read 1 KiB': readStep('kib'),
  'record.read 1 MiB': readStep('mib'),
  'record.read 1 KiB custodian down': readStep('kib'),
  'consent.revoke': (w, i) => timed(w.a, w.patients[i]!, 'consent.revoke', { policy: w.grants[i]! }),
  'access.request': async (w, i) => {
    const sample = await timed(w.b, w.doctorB, 'access.request', {
      patient: identityId(w.patients[i]!.signing.publicKey),
      scope: { kind: 'all' },
      actions: ['read'],
      purpose: 'treatment',
      reason: 'follow-up visit after discharge',
    });
    w.requests[i] = createdIdOf('request', sample.committed);
    return sample;
  },
  'access.approve': (w, i) =>
    timed(w.a, w.patients[i]!, 'access.approve', {
      request: w.requests[i]!,
      expires_ms: Date.now() + DAY_MS,
    }),
  'emergency.open': (w, i) =>
    timed(w.b, w.nurse, 'emergency.open', {
      patient: identityId(w.patients[i]!.signing.publicKey),
      reason: 'unconscious on arrival',
      duration_ms: 3_600_000,
    }),
  'record.erase': (w, i) => timed(w.a, w.patients[i]!, 'record.erase', { record: w.records1k[i]! }),
};

/** The operations to run: the measured ones and everything they need. */
function closure(measured: Set<Operation>): Set<Operation> {
  const out = new Set<Operation>();
  const add = (operation: Operation) => {
    if (out.has(operation)) return;
    out.add(operation);
    for (const need of NEEDS[operation] ?? []) add(need);
  };
  for (const operation of measured) add(operation);
  return out;
}

/** The running validators' statuses. */
function statuses(cluster: ProcessCluster) {
  return Promise.all(
    range(0, VALIDATORS - 1)
      .filter((i) => cluster.running(i))
      .map((i) => cluster.status(i)),
  );
}

/**
 * Restarts validator `v` after a DOWN operation and waits until it is ready (/readyz: a quorum of
 * peers), connected to every peer and caught up; its API moved, so hospital A's client follows it.
 */
async function restart(world: World, v: number): Promise<void> {
  const { cluster } = world;
  await cluster.start(v);
  await until(
    async () => (await fetch(`${cluster.api[v]}/readyz`).catch(() => null))?.status === 200,
    30_000,
  );
  await until(async () => (await cluster.status(v)).peers === VALIDATORS - 1, 30_000);
  await settle(cluster);
  if (v === HOSPITAL_A) world.a = new TimedClient(cluster.api[v]!);
}

/** Every validator's CPU time and consensus bytes sent, from its /metrics and /proc; NaN when down. */
async function readAll(cluster: ProcessCluster): Promise<Reading[]> {
  return Promise.all(
    range(0, VALIDATORS - 1).map(async (v) => {
      if (!cluster.running(v)) return { cpu_us: NaN, cpu_user_us: NaN, proc_cpu_us: NaN, sent_bytes: NaN };
      const text = await cluster.metrics(v);
      return {
        cpu_us: metric(text, 'medledger_process_process_cpu_seconds_total') * 1e6,
        cpu_user_us: metric(text, 'medledger_process_process_cpu_user_seconds_total') * 1e6,
        proc_cpu_us: await procCpu_us(cluster.pid(v)),
        sent_bytes: metric(text, 'medledger_consensus_message_bytes_total{direction="sent"}'),
      };
    }),
  );
}

function metric(text: string, name: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  throw new Error(`no ${name} in /metrics`);
}

/** utime + stime of process `pid` in µs (NaN where there is no /proc). */
async function procCpu_us(pid: number | null): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

const zero = (): Reading => ({ cpu_us: 0, cpu_user_us: 0, proc_cpu_us: 0, sent_bytes: 0 });
const medianOf = (readings: Reading[]): Reading => {
  const out = zero();
  for (const field of FIELDS) out[field] = median(readings.map((r) => r[field]));
  return out;
};

/**
 * What one reading costs each validator (median of seven back-to-back pairs) and what it spends per
 * second idle (median of three windows of `window_ms`, the reading's cost removed).
 */
async function calibrate(cluster: ProcessCluster, window_ms: number): Promise<OpsResult['calibration']> {
  const validators = range(0, VALIDATORS - 1);
  const pairs: Reading[][] = validators.map(() => []);
  for (let k = 0; k < 7; k++) {
    const first = await readAll(cluster);
    const second = await readAll(cluster);
    for (const [v, r] of second.entries()) pairs[v]!.push(difference(r, first[v]!, zero(), 1));
  }
  const per_reading = pairs.map(medianOf);
  const windows: Reading[][] = validators.map(() => []);
  for (let k = 0; k < 3; k++) {
    const before = await readAll(cluster);
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, window_ms));
    const after = await readAll(cluster);
    const s = (performance.now() - t0) / 1000;
    for (const [v, r] of after.entries()) windows[v]!.push(difference(r, before[v]!, per_reading[v]!, s));
  }
  return { per_reading, idle_per_s: windows.map(medianOf) };
}

/** (after − before − cost) ÷ divisor, field by field. */
function difference(after: Reading, before: Reading, cost: Reading, divisor: number): Reading {
  const out = zero();
  for (const field of FIELDS) out[field] = (after[field] - before[field] - cost[field]) / divisor;
  return out;
}

interface BlobSizes {
  files: number[];
  index: number[];
}

const blobDir = (cluster: ProcessCluster, v: number) => join(cluster.dir, `validator-${v}`, 'data', 'blobs');

/** Each node's blob files (ciphertext chunks and manifests), in bytes. */
function blobFiles(cluster: ProcessCluster): Promise<number[]> {
  return Promise.all(
    range(0, VALIDATORS - 1).map((v) => directoryBytes(join(blobDir(cluster, v), 'blobs'), '.tmp-')),
  );
}

async function blobSizes(cluster: ProcessCluster): Promise<BlobSizes> {
  return {
    files: await blobFiles(cluster),
    index: await Promise.all(
      range(0, VALIDATORS - 1).map((v) => directoryBytes(join(blobDir(cluster, v), 'index'))),
    ),
  };
}

/** Waits until every validator reached the highest height any has, then a little longer. */
async function settle(cluster: ProcessCluster): Promise<void> {
  const target = Math.max(...(await statuses(cluster)).map((s) => s.height));
  await until(async () => (await statuses(cluster)).every((s) => s.height >= target), 30_000);
  await new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * Runs step i of `operation`; for a record add or erase, then waits (reading the nodes' directories,
 * not asking the nodes) until every node's blob files changed and agree, and notes how long after
 * the commit that was.
 */
async function perform(world: World, operation: Operation, i: number): Promise<Sample> {
  if (!BLOB_OPERATIONS.has(operation)) return STEPS[operation](world, i);
  const before = await blobFiles(world.cluster);
  const sample = await STEPS[operation](world, i);
  const committed = performance.now();
  await until(async () => {
    const files = await blobFiles(world.cluster);
    return files.every((x, v) => x === files[0] && x !== before[v]);
  }, 60_000);
  return { ...sample, blobs_settled_ms: performance.now() - committed };
}

/** Total size of the files under `dir` (recursively), skipping names that start with `skip`. */
export async function directoryBytes(dir: string, skip?: string): Promise<number> {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (skip && entry.name.startsWith(skip)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path, skip);
    else if (entry.isFile())
      total += await stat(path).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

function chainCost(samples: Sample[], byHeight: Map<number, BlockBytes>): OperationCost['chain'] {
  const blocks = samples.map((s) => byHeight.get(s.height)!);
  const mean = (f: (b: BlockBytes, s: Sample) => number) =>
    samples.reduce((sum, s, k) => sum + f(blocks[k]!, s) / blocks[k]!.txs, 0) / samples.length;
  return {
    tx_bytes: samples.reduce((sum, s, k) => sum + blocks[k]!.tx_bytes.get(s.txHash)!, 0) / samples.length,
    state_write_bytes: mean((b) => b.state_write_bytes),
    chain_store_bytes: mean((b) => b.total_bytes),
    parts: {
      header_bytes: mean((b) => b.header_bytes),
      certificate_bytes: mean((b) => b.certificate_bytes),
      receipts_bytes: mean((b) => b.receipts_bytes),
      state_write_bytes: mean((b) => b.state_write_bytes),
      writes_history_bytes: mean((b) => b.writes_history_bytes),
      index_bytes: mean((b) => b.index_bytes),
      state_net_bytes: mean((b) => b.state_net_bytes),
    },
    max_txs_per_block: Math.max(...blocks.map((b) => b.txs)),
  };
}

function diffPerOp(after: number[], before: number[], n: number): number[] {
  return after.map((x, v) => (x - before[v]!) / n);
}

function latency(values_ms: number[]): Latency {
  const sorted = [...values_ms].sort((x, y) => x - y);
  return {
    p50_ms: percentile(sorted, 50),
    p90_ms: percentile(sorted, 90),
    min_ms: sorted[0]!,
    max_ms: sorted.at(-1)!,
  };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

/** A valid FHIR R4 Observation of exactly `bytes` bytes (its note's text is the padding). */
function observation(bytes: number): string {
  const resource = (note: string) =>
    JSON.stringify({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] },
      subject: { display: 'benchmark patient' },
      effectiveDateTime: '2026-01-15T09:30:00Z',
      valueQuantity: { value: 7.2, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
      note: [{ text: note }],
    });
  const padding = bytes - Buffer.byteLength(resource(''));
  if (padding < 0) throw new Error(`an Observation does not fit in ${bytes} bytes`);
  return resource('x'.repeat(padding));
}
