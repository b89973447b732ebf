import { describe, expect, it } from 'vitest';
import {
  IntakeLag,
  LAG_SAMPLES,
  LATENCY_SAMPLES,
  MAX_LAG_PERIODS,
  MAX_STRETCH,
  RequestTimeout,
} from '../src/consensus/request-timeout.ts';

describe('the request timeout', () => {
  it('is the configured one while blocks commit within a STATUS period', () => {
    const timeout = new RequestTimeout(1000, 250);
    expect(timeout.timeout_ms).toBe(1000);
    for (let h = 1; h <= 5; h++) {
      timeout.accepted(h, h);
      timeout.committed(h, h);
    }
    expect(timeout.timeout_ms).toBe(1000);
  });

  it('is not stretched by fast commits that happen to cross a STATUS tick', () => {
    const timeout = new RequestTimeout(1000, 500);
    for (let h = 1; h <= 5; h++) {
      timeout.accepted(h, h);
      timeout.committed(h, h + 1);
    }
    expect(timeout.timeout_ms).toBe(1000);
  });

  it('stretches to twice the typical (median) recent commit latency, and shrinks once blocks are fast again', () => {
    const timeout = new RequestTimeout(1000, 250);
    timeout.accepted(1, 10);
    timeout.committed(1, 16); // 6 periods: 1.5 to 1.75 s
    expect(timeout.timeout_ms).toBe(2 * 6 * 250);
    for (let h = 2; h <= LATENCY_SAMPLES + 1; h++) {
      timeout.accepted(h, 20 + h);
      timeout.committed(h, 20 + h);
    }
    expect(timeout.timeout_ms).toBe(1000);
  });

  it('is not stretched by one block slowed by a lost message', () => {
    const timeout = new RequestTimeout(1000, 250);
    for (let h = 1; h <= 10; h++) {
      timeout.accepted(h, h);
      timeout.committed(h, h === 5 ? h + 20 : h);
    }
    expect(timeout.timeout_ms).toBe(1000);
  });

  it('never exceeds its ceiling, however slow the primary makes its blocks', () => {
    const timeout = new RequestTimeout(1000, 500);
    timeout.accepted(1, 0);
    timeout.committed(1, 100);
    expect(timeout.timeout_ms).toBe(MAX_STRETCH * 1000);
  });

  it('does not count blocks it never saw proposed (state transfer) or a proposal accepted twice', () => {
    const timeout = new RequestTimeout(1000, 250);
    timeout.committed(7, 50);
    expect(timeout.timeout_ms).toBe(1000);
    timeout.accepted(8, 50);
    timeout.accepted(8, 52); // a re-proposal in a later view: the wait began at the first
    timeout.committed(8, 55);
    expect(timeout.timeout_ms).toBe(2 * 5 * 250);
  });
});

describe("the primary's intake lag", () => {
  it('is 0 while proposals carry what waited here at most across one period boundary', () => {
    const lag = new IntakeLag();
    expect(lag.periods).toBe(0);
    lag.proposed([0, 1, 0]);
    lag.proposed([]); // a proposal of transactions we never held tells nothing
    expect(lag.periods).toBe(0);
  });

  it('follows the slowest recent proposal, so a growing backlog is not trailed', () => {
    const lag = new IntakeLag();
    for (const wait of [1, 2, 2, 3]) lag.proposed([0, wait]);
    expect(lag.periods).toBe(2);
    for (let i = 0; i < LAG_SAMPLES; i++) lag.proposed([0]);
    expect(lag.periods).toBe(0);
  });

  it('never exceeds its ceiling, and starts afresh with a new primary', () => {
    const lag = new IntakeLag();
    lag.proposed([40]);
    expect(lag.periods).toBe(MAX_LAG_PERIODS);
    lag.reset();
    expect(lag.periods).toBe(0);
  });
});
