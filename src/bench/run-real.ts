/**
 * Real mode: runs a scenario on validator processes on this machine (libp2p over 127.0.0.1), with
 * pre-signed load over POST /v1/txs?batch=1 (open loop: every 20 ms the transactions due go to the
 * next validator in turn; closed loop: client c sends to validator c mod n), commits followed on every
 * validator through its block stream (GET /v1/blocks/stream), the fault timeline applied through the
 * processes' own hooks (SIGKILL, restart, PUT /v1/debug/faults), and each process sampled every
 * second (/proc CPU and RSS, /metrics message counters and view changes). Blocks and faults are
 * node-operator routes, signed with each validator's operator key (src/bench/cluster.ts).
 *
 * A transaction's commit time is when a follower first saw it committed at any validator. Open-loop
 * latency counts from the moment a transaction was due, not when it was sent, so a load generator
 * that falls behind cannot hide latency. Like the simulator's clients, the load generator resubmits
 * a transaction not committed within max(2 s, 2 × requestTimeout_ms) to another validator.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hex } from '../bytes.ts';
import type { BlockJson } from '../client/api-types.ts';
import { encode, list } from '../codec/index.ts';
import { describeLinkFaults, hasLinkFaults, type LinkFaults } from '../faults/link-faults.ts';
import { Transaction, txHash } from '../ledger/index.ts';
import { Prng } from '../prng.ts';
import { type ClinicalCast, makeCast, setupStages } from './clinical.ts';
import { type ProcessCluster, startProcessCluster, until } from './cluster.ts';
import { type TimedStep, walkTimeline } from './fault-timeline.ts';
import { LoadSource } from './load.ts';
import { type Observations, round3 } from './measure.ts';
import { metricValue, sampleProcess } from './probe.ts';
import type { ModeResult } from './run-sim.ts';
import { hasClinicalKinds, type LoadTxKind, type Scenario } from './scenario.ts';

const TxBatch = list(Transaction, 4096);
const SAMPLE_INTERVAL_MS = 1000;
const TICK_MS = 20;
/** Requests in flight above which the open-loop generator waits (due times still count for latency). */
const MAX_IN_FLIGHT = 64;
const MAX_ATTEMPTS = 6;
const CHAIN_ID = 'medledger-bench';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TxRecord {
  tx: Transaction;
  hash: string;
  bytes: number;
  kind: LoadTxKind;
  /** The validator its sender is pinned to (used when the load is pinned). */
  home: number;
  /** Due (open loop) or sent (closed loop) time; null until then. */
  submitted_s: number | null;
  lastSent_s: number;
  /** The validator it was last sent to. */
  lastTarget: number;
  attempts: number;
}

/** One process lifetime of a validator: first and last samples of its counters. */
interface Incarnation {
  cpuFirst_s: number;
  cpu_s: number;
  peakRss_bytes: number;
  messagesFirst: number;
  messages: number;
  bytesFirst: number;
  bytes: number;
  viewChangesFirst: number;
  viewChanges: number;
  view: number;
  /** Transactions of proposals it received by hash: held when the proposal came, and missing. */
  proposalTxs: { held: number; missing: number };
}

export interface RealRunOptions {
  log: (line: string) => void;
  /** The machine's signature bound, to size a closed loop's pre-signed pool. */
  bound_txps: number;
  /** Where to copy the validators' stderr logs (kept after the run), if anywhere. */
  logsDir?: string;
  /** Write a CPU profile of every validator process (node --cpu-prof) into this directory. */
  profileDir?: string;
}

export async function runReal(scenario: Scenario, options: RealRunOptions): Promise<ModeResult> {
  const { log } = options;
  const n = scenario.validators;
  const { load, consensus } = scenario;
  const total_s = scenario.warmup_s + scenario.duration_s;
  const notes: string[] = [];
  const clinical = hasClinicalKinds(load.mix);
  log(`starting ${n} validator processes...`);
  const cluster = await startProcessCluster({
    n,
    consensus: { ...consensus, statusInterval_ms: 250 },
    signatureThreads: scenario.signatureThreads,
    // A clinical load's setup registers the hospital with one more admin than the load's signers.
    admins: load.signers + (clinical ? 1 : 0),
    chainId: CHAIN_ID,
    faultInjection: true,
    stderr: 'file',
    ...(options.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] } : {}),
  });
  try {
    await until(async () => {
      const statuses = await Promise.all(
        Array.from({ length: n }, (_, i) => cluster.status(i).catch(() => null)),
      );
      return statuses.every((s) => s !== null && s.peers >= n - 1);
    }, 60_000);
    let cast: ClinicalCast | null = null;
    if (clinical) {
      cast = makeCast(cluster.genesis.chainId, cluster.admins[load.signers]!, load);
      await runSetup(scenario, cluster, cast, log, notes);
    }
    return await measure(scenario, cluster, options, notes, total_s, cast);
  } finally {
    if (options.logsDir) await keepLogs(cluster, n, options.logsDir);
    await cluster.close();
  }
}

async function keepLogs(cluster: ProcessCluster, n: number, logsDir: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const from = join(cluster.dir, `validator-${i}.stderr.log`);
    try {
      if ((await stat(from)).size === 0) continue;
      await mkdir(logsDir, { recursive: true });
      await copyFile(from, join(logsDir, `validator-${i}.stderr.log`));
    } catch {
      // No log: nothing was written to stderr.
    }
  }
}

/** The API's answer for one transaction of a batch (POST /v1/txs?batch=1). */
interface BatchAnswer {
  index: number;
  accepted: boolean;
  error?: { code: string };
}

/** Posts `txs` as one batch to a validator's API; its answer per transaction (throws unless 202). */
async function postBatch(
  api: string,
  txs: readonly Transaction[],
  timeout_ms: number,
): Promise<BatchAnswer[]> {
  const response = await fetch(`${api}/v1/txs?batch=1`, {
    method: 'POST',
    body: encode(TxBatch, [...txs]),
    signal: AbortSignal.timeout(timeout_ms),
  });
  if (response.status !== 202) throw new Error(`POST /v1/txs: ${response.status} ${await response.text()}`);
  const { results } = (await response.json()) as { results?: BatchAnswer[] };
  return results ?? [];
}

/** Posts transactions to validator `to` in requests of at most `batch`; the refused ones, with why. */
async function postAll(
  cluster: ProcessCluster,
  to: number,
  txs: readonly Transaction[],
  batch: number,
): Promise<string[]> {
  const refused: string[] = [];
  for (let k = 0; k < txs.length; k += batch) {
    const slice = txs.slice(k, k + batch);
    for (const r of await postBatch(cluster.api[to]!, slice, 30_000))
      if (!r.accepted) refused.push(`${slice[r.index]!.type}: ${r.error?.code ?? 'refused'}`);
  }
  return refused;
}

/**
 * The clinical setup (clinical.ts setupStages): each stage posted (each sender's transactions to
 * validator sender mod n), then followed on validator 0 until all of it committed. Anything refused,
 * by the API or the rule engine, stops the run: the measured load would be meaningless.
 */
async function runSetup(
  scenario: Scenario,
  cluster: ProcessCluster,
  cast: ClinicalCast,
  log: (line: string) => void,
  notes: string[],
): Promise<void> {
  const n = scenario.validators;
  const started = performance.now();
  const stages = setupStages(cast, scenario.load, new Prng(scenario.seed).derive('setup'), Date.now());
  const total = stages.reduce((sum, stage) => sum + stage.length, 0);
  log(
    `setup: a hospital, ${cast.registrars.length} registrars, ${cast.doctors.length} doctors, ${cast.patients.length} patients with a grant to the hospital and ${scenario.load.recordsPerPatient} record(s) each: ${total} transactions in ${stages.length} stages...`,
  );
  let height = (await cluster.status(0)).height;
  for (const stage of stages) {
    const bySender = new Map<string, number>();
    const groups: Transaction[][] = Array.from({ length: n }, () => []);
    for (const tx of stage) {
      const sender = hex(tx.sender);
      if (!bySender.has(sender)) bySender.set(sender, bySender.size);
      groups[bySender.get(sender)! % n]!.push(tx);
    }
    const refused = (await Promise.all(groups.map((group, to) => postAll(cluster, to, group, 2000)))).flat();
    if (refused.length > 0)
      throw new Error(`setup: the API refused ${refused.length} transactions (first: ${refused[0]})`);
    const waiting = new Map(stage.map((tx) => [hex(txHash(tx)), tx]));
    const deadline = performance.now() + 60_000;
    while (waiting.size > 0) {
      if (performance.now() > deadline)
        throw new Error(`setup: ${waiting.size} transactions not committed within 60 s`);
      const block = await cluster.block(0, height + 1, { wait_ms: 1000 });
      if (block === null) continue;
      height++;
      const codes = new Map(block.refusals.map((r) => [r.index, r.code]));
      block.txs.forEach((hash, index) => {
        const tx = waiting.get(hash);
        if (!tx) return;
        const code = codes.get(index);
        if (code !== undefined) throw new Error(`setup: a ${tx.type} was refused: ${code}`);
        waiting.delete(hash);
      });
    }
    // Every validator's API checks senders against its own committed state: the next stage's
    // senders must be registered there too.
    await until(async () => {
      const statuses = await Promise.all(Array.from({ length: n }, (_, i) => cluster.status(i)));
      return statuses.every((s) => s.height >= height);
    }, 60_000);
  }
  const seconds = (performance.now() - started) / 1000;
  notes.push(`setup: ${total} transactions committed in ${seconds.toFixed(1)} s before the load`);
  log(`setup done in ${seconds.toFixed(1)} s (height ${height})`);
}

async function measure(
  scenario: Scenario,
  cluster: ProcessCluster,
  options: RealRunOptions,
  notes: string[],
  total_s: number,
  cast: ClinicalCast | null,
): Promise<ModeResult> {
  const { log } = options;
  const n = scenario.validators;
  const { load, consensus } = scenario;
  const retry_s = Math.max(2, (2 * consensus.requestTimeout_ms) / 1000);

  // ---- the load, signed before the clock starts ----
  const source = new LoadSource(
    cluster.genesis.chainId,
    cluster.admins,
    load,
    new Prng(scenario.seed).derive('load'),
    cast,
  );
  const planned =
    load.rate_tps !== null
      ? Math.ceil(load.rate_tps * total_s)
      : Math.min(200_000, Math.ceil(Math.max(1000, options.bound_txps) * total_s * 0.75));
  log(`signing ${planned} transactions...`);
  const signStart = performance.now();
  const records: TxRecord[] = [];
  const make = (): TxRecord => {
    const { tx, kind, signer } = source.next();
    return {
      tx,
      hash: hex(txHash(tx)),
      bytes: encode(Transaction, tx).length,
      kind,
      home: signer % n,
      submitted_s: null,
      lastSent_s: 0,
      lastTarget: -1,
      attempts: 0,
    };
  };
  for (let k = 0; k < planned; k++) records.push(make());
  notes.push(
    `pre-signed ${planned} transactions in ${((performance.now() - signStart) / 1000).toFixed(1)} s`,
  );
  const byHash = new Map(records.map((r, i) => [r.hash, i]));

  // ---- state shared by the followers, the load and the faults ----
  const heights = await Promise.all(
    Array.from({ length: n }, (_, i) => cluster.status(i).then((s) => s.height)),
  );
  const baseHeight = Math.max(...heights);
  const committedAt = new Map<string, number>();
  /** Receipt codes of committed transactions the rule engine refused, by hash. */
  const refusedCode = new Map<string, string>();
  const waiters = new Map<string, () => void>();
  let maxHeight = baseHeight;
  let committedSubmitted = 0;
  let submittedCount = 0;
  let failedSubmissions = 0;
  let inFlight = 0;
  let maxBehind_s = 0;
  const intendedDown = new Set<number>();
  const restarting = new Set<number>();
  const faultState: LinkFaults[] = Array.from({ length: n }, () => ({}));
  const applied: Array<{ at_s: number; kind: string; description: string }> = [];
  let running = true;
  const stopFollowing = new AbortController();
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  /** The load's start on the wall clock, which block timestamps (the proposer's clock) are on. */
  const wallT0 = Date.now();
  /** Each block followed, as first seen committed. */
  const blockSeen = new Map<number, NonNullable<ModeResult['blocks']>[number]>();
  const now_s = () => (performance.now() - t0) / 1000;

  /** `preferred`, or the next validator after it that is up (and is not `avoid`). */
  const target = (preferred: number, avoid = -1): number => {
    for (let k = 0; k < n; k++) {
      const c = (preferred + k) % n;
      if (c !== avoid && cluster.running(c) && !restarting.has(c)) return c;
    }
    return preferred % n;
  };
  let nextTarget = 0;

  const post = async (to: number, indexes: number[]): Promise<void> => {
    inFlight++;
    try {
      const results = await postBatch(
        cluster.api[to]!,
        indexes.map((k) => records[k]!.tx),
        10_000,
      );
      // Transactions the API refused one by one (e.g. API_RATE_LIMITED): failed, and resent soon.
      for (const result of results) {
        if (result.accepted) continue;
        failedSubmissions++;
        records[indexes[result.index]!]!.lastSent_s = -Infinity;
      }
    } catch {
      failedSubmissions += indexes.length;
      // Picked up by the resubmission scan, sooner than the usual retry.
      for (const k of indexes) records[k]!.lastSent_s = -Infinity;
    } finally {
      inFlight--;
    }
  };

  /**
   * Sends transactions (by index) to one validator, `preferred` or the next one up, in requests of
   * at most load.batch; a resent transaction goes to another validator than last time.
   */
  const send = (indexes: number[], preferred: number): void => {
    const groups = new Map<number, number[]>();
    const t = now_s();
    for (const k of indexes) {
      const record = records[k]!;
      const first = load.pinned ? record.home : preferred;
      const to = record.attempts === 0 ? target(first) : target(record.lastTarget + 1, record.lastTarget);
      record.lastSent_s = t;
      record.lastTarget = to;
      record.attempts++;
      const group = groups.get(to);
      if (group) group.push(k);
      else groups.set(to, [k]);
    }
    for (const [to, group] of groups) {
      for (let k = 0; k < group.length; k += load.batch) void post(to, group.slice(k, k + load.batch));
    }
  };

  // ---- followers: every validator's commits, first sighting wins ----
  const sawBlock = (block: BlockJson) => {
    const t = now_s();
    for (const { index, code } of block.refusals ?? []) refusedCode.set(block.txs[index]!, code);
    for (const hash of block.txs) {
      if (committedAt.has(hash)) continue;
      committedAt.set(hash, t);
      const k = byHash.get(hash);
      if (k !== undefined && records[k]!.submitted_s !== null) committedSubmitted++;
      waiters.get(hash)?.();
    }
    if (!blockSeen.has(block.height)) {
      blockSeen.set(block.height, {
        height: block.height,
        view: block.view,
        proposed_s: round3((block.timestamp - wallT0) / 1000),
        committed_s: round3(t),
        txs: block.txs.length,
        refused: block.refused,
      });
    }
    maxHeight = Math.max(maxHeight, block.height);
  };
  // Each validator's block stream (one signed request, as its operator), opened again from the
  // next height when it breaks (a validator killed or restarted by a fault).
  const follow = async (i: number) => {
    let height = baseHeight + 1;
    while (running) {
      if (!cluster.running(i) || restarting.has(i)) {
        await sleep(100);
        continue;
      }
      try {
        for await (const block of cluster.blocks(i, height, stopFollowing.signal)) {
          sawBlock(block);
          height = block.height + 1;
        }
      } catch {
        await sleep(100);
      }
    }
  };

  // ---- samples of every validator process ----
  const incarnations: Array<Map<number, Incarnation>> = Array.from({ length: n }, () => new Map());
  const sampleAll = async (first: boolean) => {
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const pid = cluster.pid(i);
        if (pid === null || restarting.has(i)) return;
        const start = cluster.starts(i);
        const [proc, text] = await Promise.all([sampleProcess(pid), cluster.metrics(i).catch(() => null)]);
        let inc = incarnations[i]!.get(start);
        if (!inc) {
          inc = {
            cpuFirst_s: 0,
            cpu_s: 0,
            peakRss_bytes: 0,
            messagesFirst: 0,
            messages: 0,
            bytesFirst: 0,
            bytes: 0,
            viewChangesFirst: 0,
            viewChanges: 0,
            view: 0,
            proposalTxs: { held: 0, missing: 0 },
          };
          incarnations[i]!.set(start, inc);
        }
        const messages =
          text === null
            ? undefined
            : metricValue(text, 'medledger_consensus_messages_total', 'direction="sent"');
        const bytes =
          text === null
            ? undefined
            : metricValue(text, 'medledger_consensus_message_bytes_total', 'direction="sent"');
        const viewChanges = text === null ? undefined : metricValue(text, 'medledger_view_changes');
        const view = text === null ? undefined : metricValue(text, 'medledger_view');
        const cpu_s =
          proc?.cpu_s ??
          (text === null ? undefined : metricValue(text, 'medledger_process_process_cpu_seconds_total'));
        const rss =
          proc?.peakRss_bytes ??
          (text === null ? undefined : metricValue(text, 'medledger_process_process_resident_memory_bytes'));
        if (cpu_s !== undefined) {
          if (first) inc.cpuFirst_s = cpu_s;
          inc.cpu_s = cpu_s;
        }
        if (rss !== undefined) inc.peakRss_bytes = Math.max(inc.peakRss_bytes, rss);
        if (messages !== undefined) {
          if (first) inc.messagesFirst = messages;
          inc.messages = messages;
        }
        if (bytes !== undefined) {
          if (first) inc.bytesFirst = bytes;
          inc.bytes = bytes;
        }
        if (viewChanges !== undefined) {
          if (first) inc.viewChangesFirst = viewChanges;
          inc.viewChanges = viewChanges;
        }
        if (view !== undefined) inc.view = Math.max(inc.view, view);
        for (const found of ['held', 'missing'] as const) {
          const count =
            text === null
              ? undefined
              : metricValue(text, 'medledger_proposal_transactions_total', `found="${found}"`);
          if (count !== undefined) inc.proposalTxs[found] = count;
        }
      }),
    );
  };
  await sampleAll(true);
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling.then(() => sampleAll(false)).catch(() => {});
  }, SAMPLE_INTERVAL_MS);

  // ---- the fault timeline ----
  const timers: NodeJS.Timeout[] = [];
  const putFaults = async (i: number) => {
    if (!cluster.running(i) || restarting.has(i)) return;
    try {
      await cluster.setFaults(i, faultState[i]!);
    } catch (error) {
      notes.push(`could not set validator ${i}'s transport faults: ${(error as Error).message}`);
    }
  };
  const restart = async (i: number) => {
    if (cluster.running(i) || restarting.has(i)) return false;
    restarting.add(i);
    try {
      await cluster.start(i);
      intendedDown.delete(i);
    } finally {
      restarting.delete(i);
    }
    if (Object.keys(faultState[i]!).length > 0) await putFaults(i);
    return true;
  };
  const currentPrimary = async (): Promise<{ node: number; view: number }> => {
    const views = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        cluster.running(i)
          ? cluster.status(i).then(
              (s) => s.view,
              () => null,
            )
          : null,
      ),
    );
    const votes = new Map<number, number>();
    for (const v of views) if (v !== null) votes.set(v, (votes.get(v) ?? 0) + 1);
    let view = 0;
    let most = 0;
    for (const [v, count] of votes)
      if (count > most || (count === most && v > view)) [view, most] = [v, count];
    return { node: view % n, view };
  };
  const note = (kind: string, description: string, at_s = now_s()) => {
    applied.push({ at_s, kind, description });
    log(`  t=${at_s.toFixed(2)} s: ${description}`);
  };
  /**
   * Sets every validator's transport faults as `step` leaves them and sends them to `nodes`, each
   * seeded from the scenario's seed, the validator and the step: a run's fault decisions replay.
   */
  const faultSeeds = new Prng(scenario.seed).derive('link-faults');
  const setLinks = async (step: TimedStep, nodes: readonly number[]): Promise<number> => {
    step.links.forEach((faults, i) => {
      const seed = faultSeeds.derive(`${i} ${step.index}`).seed;
      faultState[i] = hasLinkFaults(faults) ? { ...faults, seed } : {};
    });
    const at_s = now_s();
    await Promise.all(nodes.map((i) => putFaults(i)));
    return at_s;
  };
  const everyone = Array.from({ length: n }, (_, i) => i);
  const actions = walkTimeline<() => Promise<void>>(scenario, {
    crash: (step) => async () => {
      let node: number;
      let what: string;
      if (step.node === 'primary') {
        const primary = await currentPrimary();
        node = primary.node;
        what = `validator ${node} (primary of view ${primary.view})`;
      } else {
        node = step.node;
        what = `validator ${node}`;
      }
      if (!cluster.running(node)) {
        note('crash', `crash ${what}: already down`);
        return;
      }
      const at_s = now_s();
      intendedDown.add(node);
      await cluster.kill(node);
      note(
        'crash',
        `crash ${what} (SIGKILL)${step.restartAfter_s === null ? '' : `, restart after ${step.restartAfter_s} s`}`,
        at_s,
      );
      if (step.restartAfter_s !== null) {
        const timer = setTimeout(() => {
          void restart(node).catch((error) => notes.push(`restart of validator ${node} failed: ${error}`));
        }, step.restartAfter_s * 1000);
        timers.push(timer);
      }
    },
    restart: (step) => async () => {
      const nodes = step.node === 'all' ? everyone : [step.node];
      const down = nodes.filter((i) => !cluster.running(i) && !restarting.has(i));
      const at_s = now_s();
      const started = await Promise.all(down.map((i) => restart(i)));
      const list = down.filter((_, k) => started[k]);
      note(
        'restart',
        list.length === 0
          ? `restart ${step.node === 'all' ? 'crashed validators' : `validator ${step.node}`}: none down`
          : `restart validator${list.length > 1 ? 's' : ''} ${list.join(', ')} (up after ${(now_s() - at_s).toFixed(2)} s)`,
        at_s,
      );
    },
    partition: (step) => async () => {
      const at_s = await setLinks(step, everyone);
      note('partition', `partition ${step.groups.map((g) => `{${g.join(',')}}`).join(' | ')}`, at_s);
    },
    heal: (step) => async () => {
      const at_s = await setLinks(step, everyone);
      note('heal', 'heal partitions and link faults', at_s);
    },
    links: (step) => async () => {
      const at_s = await setLinks(step, step.from);
      note(
        scenario.faults[step.index]!.kind,
        `${describeLinkFaults(step.faults)} on every message sent by validator${step.from.length > 1 ? 's' : ''} ${step.from.join(', ')}`,
        at_s,
      );
    },
    byzantine: () => async () => {
      // The scenario parser rejects these in real mode.
      throw new Error('Byzantine behaviours are only in sim mode');
    },
  });
  let faultChain = Promise.resolve();
  scenario.faults.forEach((fault, k) => {
    timers.push(
      setTimeout(() => {
        faultChain = faultChain.then(actions[k]!).catch((error) => {
          notes.push(`fault ${fault.kind} at ${fault.at_s} s failed: ${(error as Error).message}`);
        });
      }, fault.at_s * 1000),
    );
  });

  // ---- go ----
  log(
    `load: ${load.rate_tps !== null ? `${load.rate_tps} tx/s offered` : `${load.clients} closed-loop clients of ${load.batch}`} for ${total_s} s (${scenario.warmup_s} s warm-up)...`,
  );
  const followers = Array.from({ length: n }, (_, i) => follow(i));
  const resubmitter = setInterval(() => {
    const t = now_s();
    const again: number[] = [];
    for (let k = 0; k < records.length; k++) {
      const r = records[k]!;
      if (r.submitted_s === null || r.attempts === 0 || committedAt.has(r.hash)) continue;
      if (t - r.lastSent_s >= retry_s && r.attempts < MAX_ATTEMPTS) again.push(k);
    }
    if (again.length > 0) send(again, 0);
  }, 250);

  let nextIndex = 0;
  const take = (): number => {
    if (nextIndex >= records.length) {
      records.push(make());
      byHash.set(records[records.length - 1]!.hash, records.length - 1);
    }
    return nextIndex++;
  };
  if (load.rate_tps !== null) {
    const rate = load.rate_tps;
    while (now_s() < total_s) {
      const t = now_s();
      const due = Math.min(records.length, Math.floor(t * rate) + 1);
      if (due > nextIndex && inFlight < MAX_IN_FLIGHT) {
        const batch: number[] = [];
        for (let k = nextIndex; k < due; k++) {
          records[k]!.submitted_s = k / rate;
          batch.push(k);
        }
        maxBehind_s = Math.max(maxBehind_s, t - nextIndex / rate);
        nextIndex = due;
        submittedCount += batch.length;
        // Like clients spread over the validators: each slice of due transactions to the next one.
        send(batch, nextTarget++ % n);
      }
      await sleep(TICK_MS);
    }
  } else {
    const end = sleep(total_s * 1000);
    let ended = false;
    void end.then(() => {
      ended = true;
    });
    const client = async (c: number) => {
      while (!ended) {
        const batch = Array.from({ length: load.batch }, () => take());
        const t = now_s();
        for (const k of batch) records[k]!.submitted_s = t;
        submittedCount += batch.length;
        const all = new Promise<void>((resolve) => {
          let left = batch.length;
          for (const k of batch) {
            const hash = records[k]!.hash;
            waiters.set(hash, () => {
              waiters.delete(hash);
              if (--left === 0) resolve();
            });
          }
        });
        send(batch, c % n);
        await Promise.race([all, end]);
      }
    };
    await Promise.all(Array.from({ length: load.clients ?? 1 }, (_, c) => client(c)));
  }
  const loadEnd_s = now_s();
  log(`load stopped at t=${loadEnd_s.toFixed(1)} s; draining (up to ${scenario.drain_s} s)...`);
  while (committedSubmitted < submittedCount && now_s() < total_s + scenario.drain_s) await sleep(50);
  const end_s = now_s();
  running = false;
  stopFollowing.abort();
  for (const timer of timers) clearTimeout(timer);
  clearInterval(resubmitter);
  clearInterval(sampler);
  await Promise.all(followers);
  await faultChain;
  await sampling;
  await sampleAll(false);
  const cpu = process.cpuUsage(cpuStart);

  // ---- what was seen ----
  if (maxBehind_s > 0.25)
    notes.push(
      `the load generator fell up to ${maxBehind_s.toFixed(2)} s behind its schedule (latency counts from the due time)`,
    );
  if (records.length > planned)
    notes.push(
      `signed ${records.length - planned} transactions during the run (the pre-signed pool ran out)`,
    );
  notes.push(
    `load generator and followers used ${((cpu.user + cpu.system) / 1e6).toFixed(1)} CPU s in ${end_s.toFixed(1)} s (this process shares the machine with the validators)`,
  );
  for (let i = 0; i < n; i++) {
    if (!cluster.running(i) && !intendedDown.has(i))
      notes.push(`validator ${i} exited on its own during the run`);
  }
  if (cluster.throttled > 0)
    notes.push(
      `the validators refused ${cluster.throttled} of the followers' signed block requests for their bound on one signer's requests (429), each waited out: commits were seen late by up to that wait`,
    );
  const observations: Observations = {
    txs: records
      .filter((r) => r.submitted_s !== null)
      .map((r) => ({
        submitted_s: r.submitted_s!,
        committed_s: committedAt.get(r.hash) ?? null,
        bytes: r.bytes,
        kind: r.kind,
        refused: refusedCode.get(r.hash) ?? null,
      })),
    failedSubmissions,
    faults: applied,
  };
  let messages = 0;
  let bytes = 0;
  let viewChanges = 0;
  let maxView = 0;
  const validators = incarnations.map((map, index) => {
    let cpu_s = 0;
    let peak = 0;
    for (const inc of map.values()) {
      cpu_s += inc.cpu_s - inc.cpuFirst_s;
      peak = Math.max(peak, inc.peakRss_bytes);
      messages += inc.messages - inc.messagesFirst;
      bytes += inc.bytes - inc.bytesFirst;
      viewChanges += inc.viewChanges - inc.viewChangesFirst;
      maxView = Math.max(maxView, inc.view);
    }
    return {
      index,
      cpu_percent: Math.round((cpu_s / end_s) * 1000) / 10,
      cpu_s: Math.round(cpu_s * 100) / 100,
      maxRss_bytes: peak,
      restarts: Math.max(0, cluster.starts(index) - 1),
    };
  });
  const blocks = maxHeight - baseHeight;
  const byHashTotal = { held: 0, missing: 0 };
  for (const map of incarnations)
    for (const { proposalTxs } of map.values()) {
      byHashTotal.held += proposalTxs.held;
      byHashTotal.missing += proposalTxs.missing;
    }
  const received = byHashTotal.held + byHashTotal.missing;
  if (received > 0)
    notes.push(
      `proposals by hash: backups held ${((100 * byHashTotal.held) / received).toFixed(1)}% of their ` +
        `${received} transactions when the proposal came; the rest they asked for or took from late gossip`,
    );
  return {
    observations,
    viewChanges,
    maxView,
    messages: {
      perBlock: blocks === 0 ? 0 : Math.round((messages / blocks) * 10) / 10,
      bytesPerBlock: blocks === 0 ? 0 : Math.round(bytes / blocks),
      total: messages,
      totalBytes: bytes,
    },
    validators,
    committedBlocks: blocks,
    refusedTxs: [...blockSeen.values()].reduce((sum, b) => sum + b.refused, 0),
    blocks: [...blockSeen.values()].sort((a, b) => a.height - b.height),
    violations: [],
    notes,
  };
}
