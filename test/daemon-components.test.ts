/** node/daemon.ts: components start in order, stop in reverse, and a failed start unwinds. */
import { describe, expect, it } from 'vitest';
import { type Component, startComponents, stopComponents } from '../src/node/daemon.ts';

function recorder() {
  const events: string[] = [];
  const component = (name: string, fails = false): Component => ({
    name,
    async start() {
      if (fails) throw new Error(`${name} would not start`);
      events.push(`start ${name}`);
    },
    async stop() {
      events.push(`stop ${name}`);
    },
  });
  return { events, component };
}

describe('daemon components', () => {
  it('start in order and stop in reverse', async () => {
    const { events, component } = recorder();
    const started = await startComponents([component('node'), component('records'), component('api')]);
    await stopComponents(started);
    expect(events).toEqual([
      'start node',
      'start records',
      'start api',
      'stop api',
      'stop records',
      'stop node',
    ]);
  });

  it('a failed start stops those already started, newest first, and fails with its error', async () => {
    const { events, component } = recorder();
    const components = [component('node'), component('records'), component('api', true), component('file')];
    await expect(startComponents(components)).rejects.toThrow('api would not start');
    expect(events).toEqual(['start node', 'start records', 'stop records', 'stop node']);
  });
});
