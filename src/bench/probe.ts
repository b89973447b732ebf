/**
 * Sampling validator processes during a real-mode run: CPU time and peak RSS from
 * /proc/<pid>/stat and /proc/<pid>/status (Linux), and counters from a validator's Prometheus text.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

let clockTicks: number | undefined;

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 when it cannot be asked). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    clockTicks = 100;
    try {
      const out = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
      if (Number.isInteger(out) && out > 0) clockTicks = out;
    } catch {
      // No getconf: Linux's USER_HZ is 100 almost everywhere.
    }
  }
  return clockTicks;
}

export interface ProcessSample {
  /** User + system CPU seconds since the process started. */
  cpu_s: number;
  /** Peak resident set size so far (VmHWM), and the current one (VmRSS). */
  peakRss_bytes: number;
  rss_bytes: number;
}

/** A process's CPU time and memory from /proc, or null where /proc is not available (or it exited). */
export async function sampleProcess(pid: number): Promise<ProcessSample | null> {
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ]);
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14, 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const kib = (name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return match ? Number(match[1]) * 1024 : 0;
    };
    return { cpu_s: ticks / clockTicksPerSecond(), peakRss_bytes: kib('VmHWM'), rss_bytes: kib('VmRSS') };
  } catch {
    return null;
  }
}

/**
 * The value of a metric in Prometheus text format: the sum over its series whose labels include
 * `labels` (e.g. 'direction="sent"'), or undefined when no series matches.
 */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let value: string;
    if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      if (labels && !rest.slice(1, close).split(',').includes(labels)) continue;
      value = rest.slice(close + 1).trim();
    } else if (rest.startsWith(' ')) {
      if (labels) continue;
      value = rest.trim();
    } else continue;
    const number = Number(value.split(' ')[0]);
    if (Number.isFinite(number)) total = (total ?? 0) + number;
  }
  return total;
}
