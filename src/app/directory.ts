/**
 * Who is who, asked of the node once per id (a signed GET /v1/identities/{id}): the audit trail and
 * the record list name people by id, the portal shows their roles and organisation.
 */
import { useEffect, useState } from 'preact/hooks';
import type { IdentityJson } from '../client/api-types.ts';
import type { NodeClient } from '../client/http.ts';

const cache = new WeakMap<NodeClient, Map<string, Promise<IdentityJson | null>>>();

export function lookUp(client: NodeClient, id: string): Promise<IdentityJson | null> {
  const known = cache.get(client) ?? new Map<string, Promise<IdentityJson | null>>();
  cache.set(client, known);
  let found = known.get(id);
  if (!found) {
    found = client.identity(id).catch(() => null);
    known.set(id, found);
  }
  return found;
}

/** The directory entry of `id`, once the node has answered (null: unknown, or not visible). */
export function useIdentity(client: NodeClient, id: string): IdentityJson | null | undefined {
  const [identity, setIdentity] = useState<IdentityJson | null | undefined>(undefined);
  useEffect(() => {
    let current = true;
    lookUp(client, id).then((found) => current && setIdentity(found));
    return () => {
      current = false;
    };
  }, [client, id]);
  return identity;
}
