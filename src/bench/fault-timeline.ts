/**
 * The one interpreter of a scenario's fault timeline, for both modes. It walks the timeline in time
 * order and turns each event into a step that says what the event means: a crash or restart, a
 * partition (with the links each validator then has cut), a heal, new link faults (in the link-fault
 * model of `faults/link-faults.ts`, the one the node's transport and the simulator apply) or
 * Byzantine replicas. Each step carries every validator's link faults once it is applied, so a mode
 * that sets faults per validator (real mode, through PUT /v1/debug/faults) and one that sets them per
 * link (the simulator) apply the same thing.
 *
 * The modes differ only in their hooks: real mode's carry the step out on processes when its time
 * comes; sim mode's turn it into the simulator's schedule, which runs in virtual time.
 */
import type { LinkFaults } from '../faults/link-faults.ts';
import type { ByzantineBehaviour } from '../sim/faults.ts';
import type { FaultEvent, Scenario } from './scenario.ts';

export type LinkFaultEvent = Extract<FaultEvent, { kind: 'delay' | 'drop' | 'duplicate' }>;

/** The faults a delay, drop or duplicate event puts on the links from each of its senders. */
export function linkFaultsOf(fault: LinkFaultEvent): LinkFaults {
  switch (fault.kind) {
    case 'delay':
      return { delay_ms: fault.delay_ms };
    case 'drop':
      return { dropRate: fault.rate };
    case 'duplicate':
      return { duplicateRate: fault.rate };
  }
}

/** What one timeline event does, resolved against the timeline before it. */
export type FaultStep =
  | { kind: 'crash'; node: number | 'primary'; restartAfter_s: number | null }
  | { kind: 'restart'; node: number | 'all' }
  /** `groups` cover every validator once. */
  | { kind: 'partition'; groups: number[][] }
  | { kind: 'heal' }
  /** The links from each of `from` to each of `faults.to` get `faults` (a delay, drop or duplicate). */
  | { kind: 'links'; from: number[]; faults: LinkFaults }
  | { kind: 'byzantine'; nodes: number[]; behaviours: ByzantineBehaviour[] };

/** A step with where it stands: the event's index and time, and every validator's link faults after it. */
export type TimedStep<S extends FaultStep = FaultStep> = S & {
  index: number;
  at_s: number;
  /** Link faults per validator once the step is applied (a crash or restart leaves them as they were). */
  links: readonly LinkFaults[];
};

/** How a mode carries out each kind of step. */
export type FaultHooks<R> = {
  [K in FaultStep['kind']]: (step: TimedStep<Extract<FaultStep, { kind: K }>>) => R;
};

/** The step an event means, and the validators' link faults after it. */
function interpret(
  event: FaultEvent,
  n: number,
  before: readonly LinkFaults[],
): { step: FaultStep; links: LinkFaults[] } {
  const all = Array.from({ length: n }, (_, i) => i);
  const links = before.map((faults) => ({ ...faults }));
  switch (event.kind) {
    case 'crash':
      return { step: { kind: 'crash', node: event.node, restartAfter_s: event.restart_after_s }, links };
    case 'restart':
      return { step: { kind: 'restart', node: event.node }, links };
    case 'partition':
      for (const group of event.groups) {
        for (const i of group) links[i]!.partitionedFrom = all.filter((j) => !group.includes(j));
      }
      return { step: { kind: 'partition', groups: event.groups }, links };
    case 'heal':
      return { step: { kind: 'heal' }, links: all.map(() => ({})) };
    case 'delay':
    case 'drop':
    case 'duplicate': {
      const faults = linkFaultsOf(event);
      for (const i of event.from) Object.assign(links[i]!, faults);
      return { step: { kind: 'links', from: event.from, faults: { ...faults, to: event.to ?? all } }, links };
    }
    case 'byzantine':
      return { step: { kind: 'byzantine', nodes: event.nodes, behaviours: event.behaviours }, links };
  }
}

/**
 * Walks `scenario`'s fault timeline in time order (events at one time in file order) and hands each
 * step to its hook; the results come back in the timeline's own order, one per event.
 */
export function walkTimeline<R>(scenario: Scenario, hooks: FaultHooks<R>): R[] {
  const order = scenario.faults.map((event, index) => ({ event, index }));
  order.sort((a, b) => a.event.at_s - b.event.at_s || a.index - b.index);
  let links: LinkFaults[] = Array.from({ length: scenario.validators }, () => ({}));
  const results = new Array<R>(scenario.faults.length);
  for (const { event, index } of order) {
    const next = interpret(event, scenario.validators, links);
    links = next.links;
    const timed = { ...next.step, index, at_s: event.at_s, links };
    results[index] = (hooks[timed.kind] as (step: TimedStep) => R)(timed);
  }
  return results;
}
