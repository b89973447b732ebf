/** The one interpreter of a scenario's fault timeline, as both benchmark modes call it. */
import { describe, expect, it } from 'vitest';
import { type TimedStep, walkTimeline } from '../src/bench/fault-timeline.ts';
import { simSchedule } from '../src/bench/run-sim.ts';
import { parseScenarioText } from '../src/bench/scenario.ts';

const scenario = parseScenarioText(
  JSON.stringify({
    name: 'timeline',
    validators: 4,
    mode: 'sim',
    load: { rate_tps: 10 },
    duration_s: 5,
    warmup_s: 0,
    faults: [
      { at_s: 2, kind: 'heal' },
      { at_s: 0.5, kind: 'drop', from: [1], rate: 0.2 },
      { at_s: 1, kind: 'partition', groups: [[0, 1]] },
      { at_s: 1, kind: 'delay', from: [1, 3], to: [0], delay_ms: 30 },
      { at_s: 1.5, kind: 'crash', node: 'primary', restart_after_s: 1 },
    ],
  }),
  's.json',
)[0]!;

describe('the fault timeline', () => {
  it('walks the events in time order, keeping every validator’s link faults, and answers in file order', () => {
    // As a caller might build it: not in time order (a parsed scenario is).
    const unsorted = { ...scenario, faults: [scenario.faults[4]!, ...scenario.faults.slice(0, 4)] };
    const seen: Array<[number, string]> = [];
    const record = (step: TimedStep): TimedStep => {
      seen.push([step.index, step.kind]);
      return step;
    };
    const steps = walkTimeline<TimedStep>(unsorted, {
      crash: record,
      restart: record,
      partition: record,
      heal: record,
      links: record,
      byzantine: record,
    });
    expect(seen).toEqual([
      [1, 'links'],
      [2, 'partition'],
      [3, 'links'],
      [4, 'crash'],
      [0, 'heal'],
    ]);
    expect(steps.map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
    expect(steps[1]!.links).toEqual([{}, { dropRate: 0.2 }, {}, {}]);
    expect(steps[2]!.links).toEqual([
      { partitionedFrom: [2, 3] },
      { dropRate: 0.2, partitionedFrom: [2, 3] },
      { partitionedFrom: [0, 1] },
      { partitionedFrom: [0, 1] },
    ]);
    expect(steps[3]).toMatchObject({ kind: 'links', from: [1, 3], faults: { delay_ms: 30, to: [0] } });
    expect(steps[3]!.links[3]).toEqual({ partitionedFrom: [0, 1], delay_ms: 30 });
    expect(steps[4]!.links).toEqual(steps[3]!.links);
    expect(steps[0]!.links).toEqual([{}, {}, {}, {}]);
  });

  it('is what the simulator is scheduled with in sim mode', () => {
    expect(simSchedule(scenario)).toEqual([
      { kind: 'links', at_ms: 500, from: [1], faults: { dropRate: 0.2, to: [0, 1, 2, 3] } },
      {
        kind: 'partition',
        at_ms: 1000,
        groups: [
          [0, 1],
          [2, 3],
        ],
      },
      { kind: 'links', at_ms: 1000, from: [1, 3], faults: { delay_ms: 30, to: [0] } },
      { kind: 'crash', at_ms: 1500, node: 'primary', restartAfter_ms: 1000 },
      { kind: 'heal', at_ms: 2000 },
    ]);
  });
});
