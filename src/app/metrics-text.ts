/**
 * The node's /metrics (Prometheus text format), read into numbers: each sample by its name and
 * labels as written (`name` or `name{a="b"}`). Comments and malformed lines are skipped.
 */
export type Samples = Map<string, number>;

export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (!Number.isNaN(value)) samples.set(match[1]!, value);
  }
  return samples;
}

/** The sum of every sample of `name` whatever its labels (a counter by reason, say); undefined when absent. */
export function total(samples: Samples, name: string): number | undefined {
  let sum: number | undefined;
  for (const [key, value] of samples) {
    if (key === name || key.startsWith(`${name}{`)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** One point of the commit-latency chart: the mean latency of the transactions committed since the last sample. */
export interface LatencyPoint {
  at_ms: number;
  /** Seconds; null when nothing submitted to this node committed in the interval. */
  mean_s: number | null;
  committed: number;
}

/** The mean commit latency between two scrapes, from the histogram's sum and count. */
export function latencyBetween(before: Samples | null, after: Samples, at_ms: number): LatencyPoint {
  const sum = after.get('medledger_commit_latency_seconds_sum') ?? 0;
  const count = after.get('medledger_commit_latency_seconds_count') ?? 0;
  const sum0 = before?.get('medledger_commit_latency_seconds_sum') ?? sum;
  const count0 = before?.get('medledger_commit_latency_seconds_count') ?? count;
  const n = count - count0;
  return { at_ms, mean_s: n > 0 ? (sum - sum0) / n : null, committed: n };
}
