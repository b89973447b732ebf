/**
 * Sim mode: runs a scenario in the deterministic simulator, in virtual time. The scenario's fault
 * timeline becomes the simulator's explicit schedule, its load the clients' workload (open loop: the
 * transactions at uniformly random times over the load period; closed loop: the simulator's loops),
 * and the run is checked by the simulator's checkers, whose findings go into the result.
 *
 * Virtual time charges nothing for CPU: throughput here is what the protocol allows (batch size,
 * window, network delays and timeouts), latency what the simulated network (1-4 ms per message)
 * and the protocol's rounds make it; neither says how fast this machine is.
 */
import { encode } from '../codec/index.ts';
import { Transaction } from '../ledger/index.ts';
import { checkRun } from '../sim/checkers.ts';
import { SIM_CONSENSUS_PARAMS, simOptions } from '../sim/options.ts';
import type { ScheduledFault } from '../sim/schedule.ts';
import { Simulator } from '../sim/simulator.ts';
import { walkTimeline } from './fault-timeline.ts';
import { simTxMaker } from './load.ts';
import type { Observations } from './measure.ts';
import type { BenchResult } from './result.ts';
import type { Scenario } from './scenario.ts';

/** What a mode's runner measures; the caller adds what both modes share (versions, machine, bound). */
export type ModeResult = Pick<
  BenchResult,
  | 'viewChanges'
  | 'maxView'
  | 'messages'
  | 'validators'
  | 'committedBlocks'
  | 'refusedTxs'
  | 'blocks'
  | 'violations'
  | 'notes'
> & { observations: Observations };

const CHECKPOINT_INTERVAL = 8;

/** The simulator's schedule for a scenario's fault timeline (in the timeline's order). */
export function simSchedule(scenario: Scenario): ScheduledFault[] {
  const at = (at_s: number) => at_s * 1000;
  return walkTimeline<ScheduledFault>(scenario, {
    crash: (step) => ({
      kind: 'crash',
      at_ms: at(step.at_s),
      node: step.node,
      restartAfter_ms: step.restartAfter_s === null ? null : step.restartAfter_s * 1000,
    }),
    restart: (step) => ({ kind: 'restart', at_ms: at(step.at_s), node: step.node }),
    partition: (step) => ({ kind: 'partition', at_ms: at(step.at_s), groups: step.groups }),
    heal: (step) => ({ kind: 'heal', at_ms: at(step.at_s) }),
    links: (step) => ({ kind: 'links', at_ms: at(step.at_s), from: step.from, faults: step.faults }),
    byzantine: (step) => ({
      kind: 'byzantine',
      at_ms: at(step.at_s),
      nodes: step.nodes,
      behaviours: step.behaviours,
    }),
  });
}

export async function runSim(scenario: Scenario, log: (line: string) => void): Promise<ModeResult> {
  const total_s = scenario.warmup_s + scenario.duration_s;
  const { consensus, load } = scenario;
  const options = simOptions({
    seed: scenario.seed,
    nodes: scenario.validators,
    faults: [],
    txs: Math.round((load.rate_tps ?? 0) * total_s),
    ...(load.clients === null ? {} : { closedLoop: { loops: load.clients, batch: load.batch } }),
    clients: load.signers,
    faultPeriod_ms: total_s * 1000,
    livenessBound_ms: scenario.drain_s * 1000,
    grace_ms: 100,
    clientRetry_ms: Math.max(1000, 2 * consensus.requestTimeout_ms),
    params: {
      ...SIM_CONSENSUS_PARAMS,
      ...consensus,
      maxBlockTxs: consensus.batchMaxTxs, // the network's block limit: the scenario's batch size
      statusInterval_ms: 250,
      checkpointInterval: CHECKPOINT_INTERVAL,
      logSize: consensus.window + 2 * CHECKPOINT_INTERVAL,
      mempoolMaxTxs: 1_000_000,
      fetchMaxBlocks: 256,
    },
    schedule: simSchedule(scenario),
  });
  const what = load.clients === null ? `${options.txs} transactions` : `${load.clients} closed-loop clients`;
  log(`simulating ${what} on ${scenario.validators} replicas (${total_s} virtual s of load)...`);
  const started = performance.now();
  const result = await new Simulator(options, { makeTx: simTxMaker(load) }).run();
  const simulated_ms = performance.now() - started;
  log(`checking the run (agreement, validity, certificates, liveness)...`);
  const report = checkRun(result);

  const firstCommit = new Map<string, number>();
  for (const i of result.honest) {
    for (const [id, at_ms] of result.commitTimes[i]!) {
      const seen = firstCommit.get(id);
      if (seen === undefined || at_ms < seen) firstCommit.set(id, at_ms);
    }
  }
  const observations: Observations = {
    txs: result.workload.map((planned) => {
      const committed = firstCommit.get(planned.id);
      return {
        submitted_s: planned.at_ms / 1000,
        committed_s: committed === undefined ? null : committed / 1000,
        bytes: encode(Transaction, planned.tx).length,
      };
    }),
    failedSubmissions: 0,
    faults: result.applied.map((applied) => ({
      at_s: applied.at_ms / 1000,
      kind: scenario.faults[applied.index]!.kind,
      description: applied.description,
    })),
  };
  const { stats } = result;
  const blocks = stats.committedBlocks;
  return {
    observations,
    viewChanges: stats.viewChanges,
    maxView: stats.maxView,
    messages: {
      perBlock: blocks === 0 ? 0 : Math.round((stats.network.messagesSent / blocks) * 10) / 10,
      bytesPerBlock: blocks === 0 ? 0 : Math.round(stats.network.bytesSent / blocks),
      total: stats.network.messagesSent,
      totalBytes: stats.network.bytesSent,
    },
    validators: [],
    committedBlocks: blocks,
    violations: report.violations.map((v) => ({ checker: v.checker, detail: v.detail })),
    notes: [
      'virtual time: the simulator charges no CPU time, so throughput and latency reflect the protocol and the simulated network (1-4 ms per message), not this machine',
      `simulated ${stats.events} events in ${(simulated_ms / 1000).toFixed(1)} wall s; ended at ${(result.end_ms / 1000).toFixed(3)} virtual s`,
      ...(stats.clientResubmissions > 0
        ? [
            `clients resubmitted ${stats.clientResubmissions} transactions not committed within ${options.clientRetry_ms} ms`,
          ]
        : []),
    ],
  };
}
