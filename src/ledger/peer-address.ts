/**
 * The p2p addresses a genesis file gives for its validators: multiaddrs that another hospital's node
 * can dial, `/ip4/A.B.C.D/tcp/PORT`, `/ip6/…/tcp/PORT` or `/dns4|dns6|dns/NAME/tcp/PORT`.
 *
 * These checks are what `genesis create`, `genesis validate` and every node on start apply, so a
 * mistake is named once, in the file, before a network is started on it: an address that does not
 * parse, one that no other host can dial (a wildcard such as 0.0.0.0, port 0), two validators
 * sharing one address, and a validator that lists only loopback while others are on other hosts.
 */
import { multiaddr } from '@multiformats/multiaddr';

export interface PeerAddress {
  /** The multiaddr as written. */
  text: string;
  /** IP literal or DNS name, lowercased. */
  host: string;
  port: number;
  /** 127.0.0.0/8, ::1 or `localhost`: reachable from the same machine only. */
  loopback: boolean;
}

const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6']);
const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);
export const ADDRESS_EXAMPLE = '/ip4/192.0.2.10/tcp/7400 or /dns4/node.st-mary.example/tcp/7400';

function isLoopback(protocol: string, host: string): boolean {
  if (protocol === 'ip4') return host.startsWith('127.');
  if (protocol === 'ip6') return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * `text` as a dialable validator address; throws an Error whose message says what is wrong with it
 * (the caller adds where it was found).
 */
export function parsePeerAddress(text: string): PeerAddress {
  let components: Array<{ name: string; value?: string }>;
  try {
    components = multiaddr(text).getComponents();
  } catch (error) {
    throw new Error(`${JSON.stringify(text)} is not a multiaddr (${(error as Error).message})`);
  }
  const [where, transport, ...rest] = components;
  if (!where || !HOST_PROTOCOLS.has(where.name) || transport?.name !== 'tcp' || rest.length > 0) {
    throw new Error(`${JSON.stringify(text)} is not a TCP address; expected ${ADDRESS_EXAMPLE}`);
  }
  const host = (where.value ?? '').toLowerCase();
  const port = Number(transport.value);
  if (WILDCARDS.has(host)) {
    throw new Error(
      `${text} is where a node listens, not an address another host can dial; give this ` +
        "validator's public IP address or DNS name",
    );
  }
  if (!Number.isInteger(port) || port < 1) throw new Error(`${text}: port ${port} cannot be dialled`);
  return { text, host, port, loopback: isLoopback(where.name, host) };
}

/** `host:port`, the key under which two addresses are the same place. */
export const addressKey = (address: PeerAddress): string => `${address.host}:${address.port}`;
