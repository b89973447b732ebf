/**
 * Which raw inbound TCP connections the host takes on, before any handshake proves who is calling.
 *
 * Only allowed peers get past the Noise handshake (the gater checks the proven key), but a socket
 * that never finishes the handshake holds one of libp2p's pending-upgrade slots until the upgrade
 * timeout. A few idle sockets from anywhere could so keep a restarting validator out. Three bounds:
 *
 * - The peers' own IPs (their configured addresses, DNS names resolved once at start) go on
 *   libp2p's connection-manager `allow` list: their connections skip the pending-upgrade bound and
 *   the per-IP rate limit, so they get in however many strangers' sockets are pending.
 * - Every other IP may hold at most `maxPerIp` inbound connections at once (pending or not), so one
 *   address cannot take all of the pending slots.
 * - The handshake must finish within `HANDSHAKE_TIMEOUT_MS` (libp2p's `inboundUpgradeTimeout`):
 *   a socket that stays silent is closed after that, not after libp2p's default 10 s.
 */
import { lookup } from 'node:dns/promises';
import type { MultiaddrConnection } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';

/** How long an inbound connection may take to finish Noise and Yamux negotiation. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** Inbound connections from non-allowed addresses that may be mid-handshake at once (libp2p's). */
export const MAX_PENDING_HANDSHAKES = 32;
/** Inbound connections one non-allowed IP may hold open at once. */
export const MAX_INBOUND_PER_IP = 8;
/** How long start waits for a peer's DNS name to resolve for the allow list. */
const RESOLVE_TIMEOUT_MS = 1000;

/** The IP of an /ip4 or /ip6 multiaddr; undefined for any other (DNS names, unix sockets). */
export function ipOf(address: Multiaddr): string | undefined {
  const [first] = address.getComponents();
  return first && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined;
}

/** The host part of a textual /ip4, /ip6 or /dns* multiaddr, and whether it is a name. */
function hostOf(address: string): { host: string; name: boolean } | undefined {
  const match = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(address);
  return match ? { host: match[2]!, name: match[1]!.startsWith('dns') } : undefined;
}

/**
 * The IPs of `addresses`: literal ones as written, DNS names as they resolve now. Best effort: a
 * name that does not resolve within a second is left out (its peer then waits in line like any
 * other caller, but is still let in once the handshake proves its key).
 */
export async function ipsOf(addresses: string[]): Promise<string[]> {
  const ips = await Promise.all(
    addresses.map(async (address) => {
      const parsed = hostOf(address);
      if (!parsed) return [];
      if (!parsed.name) return [parsed.host];
      const timeout = new Promise<[]>((resolve) => setTimeout(() => resolve([]), RESOLVE_TIMEOUT_MS).unref());
      const resolved = lookup(parsed.host, { all: true }).then(
        (found) => found.map((f) => f.address),
        () => [],
      );
      return Promise.race([resolved, timeout]);
    }),
  );
  return [...new Set(ips.flat())];
}

/** Counts inbound connections per remote IP and refuses those over the bound (the gater's hook). */
export class InboundAdmission {
  readonly #allowedIps: Set<string>;
  readonly #maxPerIp: number;
  readonly #open = new Map<string, number>();
  readonly #onRefused: () => void;

  /** `onRefused` is called for each connection refused because its IP already held `maxPerIp`. */
  constructor(allowedIps: Iterable<string>, maxPerIp = MAX_INBOUND_PER_IP, onRefused = () => {}) {
    this.#allowedIps = new Set(allowedIps);
    this.#maxPerIp = maxPerIp;
    this.#onRefused = onRefused;
  }

  /** Exempts more IPs from the bound (a peer's address was set after start). */
  allow(ips: Iterable<string>): void {
    for (const ip of ips) this.#allowedIps.add(ip);
  }

  /** True to refuse `connection`; otherwise counts it against its IP until it closes. */
  deny(connection: MultiaddrConnection): boolean {
    const ip = ipOf(connection.remoteAddr);
    if (ip === undefined || this.#allowedIps.has(ip)) return false;
    const open = this.#open.get(ip) ?? 0;
    if (open >= this.#maxPerIp) {
      this.#onRefused();
      return true;
    }
    this.#open.set(ip, open + 1);
    connection.addEventListener(
      'close',
      () => {
        const left = (this.#open.get(ip) ?? 1) - 1;
        if (left > 0) this.#open.set(ip, left);
        else this.#open.delete(ip);
      },
      { once: true },
    );
    return false;
  }
}
