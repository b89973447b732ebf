/**
 * The rule engine's state at height 0, from the genesis file: the network admins and the initial
 * organisations (each with its admin identity) as registry entries, beside the ledger's own genesis
 * document.
 */
import { MedledgerError } from '../errors.ts';
import { type Genesis, genesisWrites } from '../ledger/genesis.ts';
import type { StateWrite } from '../ledger/types.ts';
import { identityId } from './ids.ts';
import { bytesToKey } from './keys.ts';
import type { Identity } from './model.ts';
import { BlockOverlay, TxScope } from './overlay.ts';
import { putIdentity, putOrganisation } from './state.ts';

/**
 * The state at height 0: the ledger's genesis document plus the network admins and the initial
 * organisations (each with its admin identity) as registry entries. A superset of the ledger's
 * genesisWrites, to be used in their place.
 */
export function genesisState(genesis: Genesis): StateWrite[] {
  const overlay = new BlockOverlay({ get: () => undefined });
  const scope = new TxScope(overlay);
  const taken = new Set<string>();
  const add = (identity: Identity, what: string) => {
    if (taken.has(identity.id)) {
      throw new MedledgerError(
        'GENESIS_INVALID',
        `genesis.json: ${what}: the key already belongs to another identity`,
      );
    }
    taken.add(identity.id);
    putIdentity(scope, identity);
  };
  const base = {
    roles: [],
    active: true,
    registered_ms: genesis.genesisTime,
    registeredBy: null,
  };
  genesis.networkAdmins.forEach((admin, i) => {
    add(
      {
        ...base,
        id: identityId(admin.publicKey),
        kind: 'network-admin',
        organisation: null,
        signingKey: admin.publicKey,
        encryptionKey: admin.encryptionKey,
      },
      `networkAdmins[${i}]`,
    );
  });
  genesis.organisations.forEach((org, i) => {
    const admin: Identity = {
      ...base,
      id: identityId(org.adminKey),
      kind: 'organisation',
      organisation: org.id,
      signingKey: org.adminKey,
      encryptionKey: org.encryptionKey,
    };
    add(admin, `organisations[${i}]`);
    putOrganisation(scope, {
      id: org.id,
      kind: org.kind,
      admin: admin.id,
      active: true,
      registered_ms: genesis.genesisTime,
    });
  });
  for (const write of genesisWrites(genesis)) scope.putBytes(bytesToKey(write.key), write.value!);
  scope.commit();
  return overlay.writes();
}
