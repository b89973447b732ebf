/**
 * Crash loop: four validator processes under a steady load of signed transactions, one of them
 * SIGKILLed again and again (never more than f = 1 out at once) and restarted after a random delay.
 * Measures what a hospital relies on through such churn: that a transaction the API accepted
 * commits, that a restarted validator is voting again soon, that commits keep coming while a quorum
 * is up, and that every node ends on one chain. The figures are computed by crash-loop-analysis.ts;
 * bench/crash-loop.ts is the command.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hex } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import { homePaths, parseSettings, readConfigFile } from '../node/config.ts';
import { renderConfig } from '../node/settings-toml.ts';
import { projectPath } from '../paths.ts';
import { Prng } from '../prng.ts';
import { type ProcessCluster, startProcessCluster } from './cluster.ts';
import {
  type CommitGap,
  headsEqual,
  type LostFigures,
  longestCommitGap,
  lostTransactions,
  type NodeHead,
  percentile,
  type Restart,
  type Target,
  targets,
} from './crash-loop-analysis.ts';
import { CommittedReader, drain, Load } from './crash-loop-load.ts';
import { ClusterWatch, F, majorityView, N, sleep } from './crash-loop-watch.ts';

/** How often the committed blocks of every validator are read during the run. */
const FOLLOW_MS = 3_000;
const LAUNCHER = projectPath('src/bench/crash-loop-launcher.ts');

export interface CrashLoopOptions {
  kills: number;
  rate_tps: number;
  downMin_ms: number;
  downMax_ms: number;
  seed: number;
  /** After the last restart, with all four up and the load stopped: the wait for stragglers. */
  drain_ms: number;
  /** The wait for a restarted validator to be ready before the next kill. */
  readyDeadline_ms: number;
  /** Steady time between a validator's being ready and the next kill. */
  settle_ms: number;
  /** p2p ports basePort + i, API ports basePort + 10 + i. */
  basePort: number;
  /** Signing keys per validator, each pinned to that validator's API (as a hospital's app is). */
  signersPerNode: number;
  /** Another medledger's bin/medledger.js to run the validators with (default: this project's). */
  cli?: string;
  /** Where to copy each validator's stderr log (kept after the cluster's homes are removed). */
  logDir?: string;
  /**
   * Transactions signed and recorded as accepted but never sent: each must come out as lost, which
   * checks the loss detection end to end (tests).
   */
  unsentAccepted?: number;
  log?: (line: string) => void;
}

export interface CrashLoopRun {
  seed: number;
  duration_ms: number;
  load: {
    offered: number;
    accepted: number;
    acceptedWithNoQuorumWarning: number;
    /** Offers not accepted, by HTTP status and code (or `unreachable`). */
    refused: Record<string, number>;
    /** Offers with no answer within the timeout (their fate unknown to the sender; not counted as accepted). */
    unanswered: number;
    /** A signer's turn came while its previous submission was still waiting for an answer. */
    skipped: number;
    load_ms: number;
  };
  lost: LostFigures;
  restarts: Restart[];
  readiness: { ready: number; never: number; p50_ms: number | null; max_ms: number | null };
  longestCommitGap: CommitGap | null;
  highestHeight: number;
  highestView: number;
  /** View changes the validators started, summed over every process incarnation. */
  viewChangesStarted: number;
  heads: NodeHead[];
  headsEqual: boolean;
  targets: Target[];
  notes: string[];
}

/** Fails with BENCH_PORTS_BUSY when one of `ports` cannot be bound on 127.0.0.1. */
async function checkPortsFree(ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (!free)
      throw new MedledgerError('BENCH_PORTS_BUSY', `port ${port} on 127.0.0.1 is in use (--base-port)`);
  }
}

/** Rewrites every home's config.toml to listen on fixed ports (startProcessCluster picks free ones). */
async function pinPorts(cluster: ProcessCluster, basePort: number): Promise<void> {
  const p2p = (i: number) => basePort + i;
  for (const [i, home] of cluster.homes.entries()) {
    const settings = parseSettings(await readConfigFile(home));
    settings.listen = [`/ip4/127.0.0.1/tcp/${p2p(i)}`];
    settings.peers = cluster.validators
      .map((v, j) => ({ publicKey: hex(v.signing.publicKey), addresses: [`/ip4/127.0.0.1/tcp/${p2p(j)}`] }))
      .filter((_, j) => j !== i);
    settings.api.port = basePort + 10 + i;
    await writeFile(homePaths(home).settings, renderConfig(settings));
    cluster.p2pPorts[i] = p2p(i);
  }
}

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopRun> {
  const log = options.log ?? (() => {});
  const prng = new Prng(options.seed);
  const victims = prng.derive('victims');
  const delays = prng.derive('delays');
  const txPrng = prng.derive('txs');
  const notes: string[] = [];
  const ports = Array.from({ length: N }, (_, i) => [options.basePort + i, options.basePort + 10 + i]).flat();
  await checkPortsFree(ports);

  const signers = N * options.signersPerNode;
  const cluster = await startProcessCluster({
    n: N,
    admins: signers,
    running: [],
    chainId: 'crash-loop',
    stderr: 'file',
    ...(options.cli ? { nodeArgs: [LAUNCHER, options.cli] } : {}),
  });
  const started = performance.now();
  const now = () => performance.now() - started;
  try {
    await pinPorts(cluster, options.basePort);
    await Promise.all(Array.from({ length: N }, (_, i) => cluster.start(i)));
    const state = new ClusterWatch(cluster, now);
    state.start();
    await state.waitAllReady(60_000);
    log(`4 validators up at ${options.basePort}..${options.basePort + 13}; load ${options.rate_tps} tx/s`);

    const reader = new CommittedReader(cluster);
    reader.follow(FOLLOW_MS);
    const load = new Load(cluster, options.rate_tps, txPrng, now);
    const loadStart_ms = now();
    load.start();
    state.up(N);
    const restarts: Restart[] = [];
    for (let k = 1; k <= options.kills; k++) {
      await sleep(options.settle_ms);
      await state.ensureAllRunning(notes);
      // A validator not ready after its restart counts as down: only it may be killed next.
      const stranded = restarts.findLast((r) => !r.ready);
      const drawn = victims.int(N);
      const node = stranded && !state.ready(stranded.node) ? stranded.node : drawn;
      const down_ms = delays.intBetween(options.downMin_ms, options.downMax_ms);
      const view = majorityView(state.statuses);
      const wasPrimary = view !== null && view % N === node;
      const killedAt_ms = now();
      await cluster.kill(node);
      state.down(node);
      await sleep(down_ms);
      const restart = await state.restart(node, options.readyDeadline_ms);
      restarts.push({ kill: k, node, wasPrimary, killedAt_ms: Math.round(killedAt_ms), down_ms, ...restart });
      log(
        `kill ${k}/${options.kills}: validator ${node}${wasPrimary ? ' (primary)' : ''} down ${down_ms} ms, ` +
          (restart.ready
            ? `ready ${restart.ready_ms} ms after restart`
            : `NOT ready: ${restart.notReadyWhy ?? restart.startError}`),
      );
    }
    await state.ensureAllRunning(notes);
    if (
      !(await state.waitAllReady(options.readyDeadline_ms).then(
        () => true,
        () => false,
      ))
    )
      notes.push('not every validator was ready when the load stopped');
    await sleep(options.settle_ms);
    const loadEnd_ms = now();
    await load.stop();
    log(
      `load stopped after ${(loadEnd_ms / 1000).toFixed(0)} s; draining up to ${options.drain_ms / 1000} s...`,
    );

    const accepted = [...load.unsent(options.unsentAccepted ?? 0), ...load.accepted];
    reader.stop();
    const committed = await drain(reader, accepted, options.drain_ms, notes);
    state.stop();
    const heads = await finalHeads(cluster);
    const lost = lostTransactions(accepted, committed);
    const gap = longestCommitGap(state.sightings, state.upChanges, N - F, {
      start_ms: loadStart_ms,
      end_ms: loadEnd_ms,
    });
    const readyTimes = restarts.flatMap((r) => (r.ready_ms === null ? [] : [r.ready_ms]));
    const equal = headsEqual(heads);
    if (cluster.throttled > 0)
      notes.push(`${cluster.throttled} block requests were refused 429 and waited out`);
    for (const tx of load.unanswered) {
      if (committed.some((set) => set?.has(tx.hash)))
        notes.push(`an unanswered submission (${tx.hash.slice(0, 12)}) committed`);
    }
    return {
      seed: options.seed,
      duration_ms: Math.round(now()),
      load: { ...load.figures(), load_ms: Math.round(loadEnd_ms - loadStart_ms) },
      lost,
      restarts,
      readiness: {
        ready: readyTimes.length,
        never: restarts.length - readyTimes.length,
        p50_ms: percentile(readyTimes, 0.5),
        max_ms: readyTimes.length === 0 ? null : Math.max(...readyTimes),
      },
      longestCommitGap: gap,
      highestHeight: state.highestHeight,
      highestView: state.highestView,
      viewChangesStarted: state.viewChangesStarted(),
      heads,
      headsEqual: equal,
      targets: targets({ lost: lost.count, restarts, longestGap: gap, headsEqual: equal }),
      notes,
    };
  } finally {
    if (options.logDir) {
      await cluster.stopAll().catch(() => {});
      for (let i = 0; i < N; i++) {
        await copyFile(
          join(cluster.dir, `validator-${i}.stderr.log`),
          join(options.logDir, `validator-${i}.stderr.log`),
        ).catch(() => {});
      }
    }
    await cluster.close();
  }
}

async function finalHeads(cluster: ProcessCluster): Promise<NodeHead[]> {
  return Promise.all(
    Array.from({ length: N }, async (_, node) => {
      try {
        const s = await cluster.status(node);
        return { node, height: s.height, hash: s.hash, stateRoot: s.stateRoot, view: s.view };
      } catch (error) {
        return {
          node,
          height: null,
          hash: null,
          stateRoot: null,
          view: null,
          error: (error as Error).message,
        };
      }
    }),
  );
}
