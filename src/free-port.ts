/**
 * Ports for processes started later: a validator's p2p port must be written into the genesis before
 * the validator runs, so it is chosen free now and bound by another process seconds later.
 *
 * Asking the kernel for port 0 gives an ephemeral port, and the kernel hands the same range to every
 * outgoing connection: on a busy host one of them takes the port before the validator binds it
 * (EADDRINUSE). These ports are therefore picked below the ephemeral range, where only listeners
 * live, checked by binding them on loopback, and never handed out twice by one process.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST_PORT = 15_000;
/** Linux's default ip_local_port_range starts here; other systems start higher. */
const DEFAULT_EPHEMERAL_LOW = 32_768;
const ATTEMPTS = 200;

const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > LOWEST_PORT + 1_000 ? port : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A base port B such that B + offset is free on 127.0.0.1 for every offset, e.g. `[0, 1, 2, 3, 100,
 * 101, 102, 103]` for four p2p ports and four API ports. Free when asked: another process may still
 * bind one before it is used, but not an outgoing connection.
 */
export async function freePortBase(offsets: readonly number[]): Promise<number> {
  const span = Math.max(0, ...offsets) + 1;
  const high = ephemeralLow() - span;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const base = LOWEST_PORT + Math.floor(Math.random() * (high - LOWEST_PORT));
    const ports = offsets.map((offset) => base + offset);
    if (ports.some((port) => handedOut.has(port))) continue;
    // Claimed before the check, so concurrent calls in this process never pick the same port.
    for (const port of ports) handedOut.add(port);
    if ((await Promise.all(ports.map(bindable))).every(Boolean)) return base;
    for (const port of ports) handedOut.delete(port);
  }
  throw new Error(`no free ports found below ${high + span} after ${ATTEMPTS} attempts`);
}

/** One free port on 127.0.0.1, below the ephemeral range (see the top of this file). */
export function freePort(): Promise<number> {
  return freePortBase([0]);
}

/** `count` free ports, not necessarily consecutive. */
export function freePorts(count: number): Promise<number[]> {
  return Promise.all(Array.from({ length: count }, () => freePort()));
}
