/**
 * Named liveness scenarios: sustained partial faults under load, each a fault timeline made from
 * the seed (so one seed is still one run), with the options it needs. Clients are pinned to one
 * replica each, as a hospital's clients are, and the per-replica progress checkers run.
 *
 * - churn: random validators crash and restart, one at a time, again and again, under load;
 * - restart-behind: a validator is down long enough to be far behind (past the other replicas'
 *   logs), then restarts and must catch up (executing each block it fetches takes a few ms) and
 *   vote again;
 * - lossy-minority: f validators cut off and 10% loss on every other link, for a long period;
 * - cut-off: f validators cut off for most of the period while their clients keep sending to them,
 *   then the network heals: they must rejoin, vote again, and get what they admitted committed;
 * - slow: f CPU-starved validators that take extra time to handle each message and execute each block;
 * - backlog: the primary's intake falls ever further behind the backups' (what they send it arrives
 *   100 ms later every 200 ms, up to about 2 s), as when transactions queue behind its consensus work:
 *   it proposes what it has, in blocks with room, while the backups' oldest transactions wait, and
 *   they must not take that for censorship. A deeper pipeline (window 32) keeps its late votes from
 *   stalling its proposals, as a node that serves consensus messages first would.
 */
import type { ConsensusParams } from '../consensus/types.ts';
import { MedledgerError } from '../errors.ts';
import { maxFaults } from '../ledger/index.ts';
import { Prng } from '../prng.ts';
import type { ScheduledFault } from './schedule.ts';

export const SCENARIOS = ['churn', 'restart-behind', 'lossy-minority', 'cut-off', 'slow', 'backlog'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * The run options a scenario changes from the defaults (the caller may still override them); `params`
 * replace those of the simulator's consensus parameters they name.
 */
export const SCENARIO_DEFAULTS: Record<
  ScenarioName,
  { faultPeriod_ms: number; txs: number; params?: Partial<ConsensusParams> }
> = {
  churn: { faultPeriod_ms: 4_000, txs: 120 },
  'restart-behind': { faultPeriod_ms: 4_000, txs: 160 },
  'lossy-minority': { faultPeriod_ms: 6_000, txs: 120 },
  'cut-off': { faultPeriod_ms: 4_000, txs: 120 },
  slow: { faultPeriod_ms: 3_000, txs: 100 },
  backlog: { faultPeriod_ms: 4_000, txs: 200, params: { window: 32, logSize: 60 } },
};

export function parseScenario(text: string): ScenarioName {
  const name = text.trim();
  if ((SCENARIOS as readonly string[]).includes(name)) return name as ScenarioName;
  throw new MedledgerError('SIM_BAD_SCENARIO', `unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);
}

/** CPU starvation: these replicas take extra time for each message, block executed and block fetched. */
export interface SlowReplicas {
  nodes: number[];
  /** Per message handled (they are handled one at a time). */
  message_ms: number;
  /** Per block built or executed. */
  execute_ms: number;
  /** Per block fetched by state transfer that the replica did not have (applied before use). */
  fetch_ms: number;
}

export interface ScenarioPlan {
  schedule: ScheduledFault[];
  slow: SlowReplicas | null;
}

/** The scenario's fault timeline for this seed and network size, drawn from its own PRNG stream. */
export function planScenario(
  name: ScenarioName,
  seed: number,
  nodes: number,
  period_ms: number,
): ScenarioPlan {
  const prng = new Prng(seed).derive(`scenario/${name}`);
  const f = maxFaults(nodes);
  const all = Array.from({ length: nodes }, (_, i) => i);
  switch (name) {
    case 'churn': {
      // One replica down at a time, so n - f stay up: the network must keep deciding throughout.
      const schedule: ScheduledFault[] = [];
      let at_ms = prng.between(100, 300);
      while (at_ms < period_ms - 600) {
        const down_ms = prng.between(150, 700);
        schedule.push({ kind: 'crash', at_ms, node: prng.pick(all), restartAfter_ms: down_ms });
        at_ms += down_ms + prng.between(150, 600);
      }
      return { schedule, slow: null };
    }
    case 'restart-behind': {
      // Down for most of the period: the others move far past their logs (logSize 32 blocks).
      const node = 1 + prng.int(nodes - 1);
      const at_ms = prng.between(200, 400);
      const down_ms = period_ms * prng.between(0.45, 0.5);
      // Catching up takes time, as on a real node: each block fetched is applied, a few ms each.
      const slow = { nodes: [node], message_ms: 0, execute_ms: 0, fetch_ms: prng.between(2, 5) };
      return { schedule: [{ kind: 'crash', at_ms, node, restartAfter_ms: down_ms }], slow };
    }
    case 'lossy-minority': {
      const cut = prng.shuffle(all).slice(0, f);
      const rest = all.filter((i) => !cut.includes(i));
      return {
        schedule: [
          { kind: 'partition', at_ms: 0, groups: cut.length > 0 ? [cut, rest] : [rest] },
          { kind: 'links', at_ms: 0, from: all, faults: { dropRate: 0.1 } },
        ],
        slow: null,
      };
    }
    case 'cut-off': {
      const cut = prng.shuffle(all).slice(0, Math.max(1, f));
      const rest = all.filter((i) => !cut.includes(i));
      const from_ms = prng.between(100, 400);
      const until_ms = period_ms * prng.between(0.45, 0.6);
      return {
        schedule: [
          { kind: 'partition', at_ms: from_ms, groups: [cut, rest] },
          { kind: 'heal', at_ms: until_ms },
        ],
        slow: null,
      };
    }
    case 'backlog':
      return { schedule: laggingIntake(prng, 0, all, period_ms), slow: null };
    case 'slow': {
      const execute_ms = prng.between(2, 8);
      return {
        schedule: [],
        slow: {
          nodes: prng.shuffle(all).slice(0, Math.max(1, f)),
          message_ms: prng.between(0.2, 1),
          execute_ms,
          fetch_ms: execute_ms,
        },
      };
    }
  }
}

/** Step of the backlog scenario's lag: every this many ms, messages into the primary take longer. */
const BACKLOG_STEP_MS = 200;

/**
 * Messages from the other replicas into `primary` delayed more and more: a link rule per step, each
 * adding to the delay of those before (the link rules of a run combine), up to `final_ms` or so.
 */
function laggingIntake(prng: Prng, primary: number, all: number[], period_ms: number): ScheduledFault[] {
  const steps = Math.floor(period_ms / BACKLOG_STEP_MS);
  const final_ms = prng.between(1_500, 2_500);
  const from = all.filter((i) => i !== primary);
  return Array.from({ length: steps }, (_, k) => ({
    kind: 'links',
    at_ms: k * BACKLOG_STEP_MS,
    from,
    faults: { delay_ms: final_ms / steps, ...(k === 0 ? { jitter_ms: 20 } : {}), to: [primary] },
  }));
}
