/**
 * The record service's fetch slots: at most `limit` fetches run at once, the rest in order; once
 * closed (the service stopping), nothing more starts, so a stop waits only for the running ones.
 */
import { describe, expect, it } from 'vitest';
import { FetchSlots } from '../src/node/fetch-slots.ts';

/** A fetch that ends when its test says so. */
function pending() {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { finish, fetch: () => done };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('fetch slots', () => {
  it('runs at most `limit` at once, the others in the order they asked', async () => {
    const slots = new FetchSlots(2);
    const fetches = Array.from({ length: 5 }, pending);
    const started: number[] = [];
    const runs = fetches.map((f, i) =>
      slots.run(() => {
        started.push(i);
        return f.fetch();
      }),
    );
    await turn();
    expect(started).toEqual([0, 1]);
    fetches[1]!.finish();
    await turn();
    expect(started).toEqual([0, 1, 2]);
    for (const f of fetches) f.finish();
    await Promise.all(runs);
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('a freed slot goes to the longest waiting, not to one asking at that moment', async () => {
    const slots = new FetchSlots(1);
    const first = pending();
    const started: string[] = [];
    const runs = [slots.run(first.fetch), slots.run(async () => void started.push('waiting'))];
    await turn();
    first.finish();
    runs.push(slots.run(async () => void started.push('newcomer')));
    await Promise.all(runs);
    expect(started).toEqual(['waiting', 'newcomer']);
  });

  it('once closed, starts nothing: the waiting and later ones are refused NODE_STOPPED, the running end', async () => {
    const slots = new FetchSlots(1);
    const running = pending();
    let startedAfterClose = 0;
    const first = slots.run(running.fetch);
    const queued = Array.from({ length: 100 }, () =>
      slots.run(async () => {
        startedAfterClose++;
      }),
    );
    await turn();
    slots.close();
    for (const run of queued) await expect(run).rejects.toMatchObject({ code: 'NODE_STOPPED' });
    await expect(slots.run(async () => 'late')).rejects.toMatchObject({ code: 'NODE_STOPPED' });
    running.finish();
    await expect(first).resolves.toBeUndefined();
    expect(startedAfterClose).toBe(0);
  });
});
