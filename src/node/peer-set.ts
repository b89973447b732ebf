/**
 * Whom a node dials, and where: every other validator at the addresses its genesis entry lists,
 * except where config.toml's `[[peers]]` names the same key (an override: for example the address
 * a hospital's node has inside its own network, behind NAT). A `[[peers]]` key that is not a validator
 * adds an observer. Also the checks a node makes of its own entry before it starts.
 */
import { fromHex, hex } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import { type Genesis, parsePeerAddress } from '../ledger/index.ts';
import type { PeerEntry } from '../p2p/host.ts';
import type { NodeSettings } from './config.ts';

export function peerSet(genesis: Genesis, selfKey: string, configured: NodeSettings['peers']): PeerEntry[] {
  const overrides = new Map(configured.map((p) => [p.publicKey, p.addresses]));
  if (overrides.has(selfKey)) {
    throw new MedledgerError('CONFIG_INVALID', `[[peers]] lists this node's own key ${selfKey}`);
  }
  const validatorKeys = new Set(genesis.validators.map((v) => hex(v.publicKey)));
  const validators = genesis.validators
    .filter((v) => hex(v.publicKey) !== selfKey)
    .map((v) => ({
      publicKey: v.publicKey,
      name: v.name,
      addresses: overrides.get(hex(v.publicKey)) ?? v.addresses,
    }));
  const observers = configured
    .filter((p) => !validatorKeys.has(p.publicKey))
    .map((p) => ({
      publicKey: fromHex(p.publicKey),
      name: `observer ${p.publicKey.slice(0, 16)}`,
      addresses: p.addresses,
    }));
  return [...validators, ...observers];
}

/** The TCP ports of listen multiaddrs (`/ip4/0.0.0.0/tcp/7400` → 7400). */
function listenPorts(listen: string[]): Set<number> {
  return new Set(listen.map((a) => Number(/\/tcp\/(\d+)/.exec(a)?.[1])).filter(Number.isInteger));
}

/**
 * What an operator should hear about this node's own genesis entry: not where config.toml's
 * `advertise` says, no address (the others cannot dial it; it dials them), or an address whose port
 * it does not listen on (only right behind a port forward). Returned as log lines, not errors: both can be deliberate.
 */
export function selfReachabilityNotes(
  genesis: Genesis,
  selfKey: string,
  settings: Pick<NodeSettings, 'listen' | 'advertise'>,
): string[] {
  const self = genesis.validators.find((v) => hex(v.publicKey) === selfKey);
  if (!self) return [];
  const unlisted = settings.advertise.filter((a) => !self.addresses.includes(a));
  const advertised =
    unlisted.length === 0
      ? []
      : [
          `this node advertises ${unlisted.join(', ')} (config.toml), but genesis.json lists it at ` +
            `${self.addresses.join(', ') || 'no address'}: the others dial what genesis.json says`,
        ];
  if (self.addresses.length === 0) {
    return [
      ...advertised,
      'the genesis lists no address for this validator: the others cannot dial it, so it only ' +
        'reaches those it can dial itself',
    ];
  }
  const ports = listenPorts(settings.listen);
  if (ports.has(0)) return advertised;
  const unheard = self.addresses
    .map(parsePeerAddress)
    .filter((a) => !ports.has(a.port))
    .map(
      (a) =>
        `the genesis lists this validator at ${a.text}, but it listens on port ${[...ports].join(', ')}: ` +
        'the others reach it only if a port forward maps one to the other',
    );
  return [...advertised, ...unheard];
}
