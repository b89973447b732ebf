/**
 * The erasure route: GET /v1/records/{id}/erasure lists the validators' signed erasure receipts for
 * a record (src/node/erasure-receipts.ts gathers them from this node and its connected peers) and
 * says whether n − f of them are in: then at most f key shares survive, fewer than rebuild the key.
 * Clients check every receipt's signature themselves (src/client/http.ts `erasure`).
 */
import { hex } from '../bytes.ts';
import { getRecord } from '../contracts/index.ts';
import { maxFaults } from '../ledger/quorum.ts';
import { type ApiContext, memberOf, type Route } from './context.ts';
import { ApiError, checkId, PATH_ID, send } from './http.ts';
import { refuse } from './refusals.ts';
import { isNetworkAdmin, mayDescribeRecord } from './scopes.ts';

function erasureOf(ctx: ApiContext) {
  if (!ctx.erasure) {
    throw new ApiError(503, 'API_NO_ERASURE_RECEIPTS', 'this node runs without erasure receipts');
  }
  return ctx.erasure;
}

export const erasureRoutes: Route[] = [
  {
    method: 'GET',
    path: new RegExp(`^/v1/records/${PATH_ID}/erasure$`),
    access: 'member',
    async handle(ctx, req, res, [param], _url, caller) {
      const id = checkId(param!, 'the record id');
      const state = ctx.node.store.stateReader;
      const record = getRecord(state, id);
      if (record === undefined && isNetworkAdmin(memberOf(caller))) {
        throw new ApiError(404, 'API_UNKNOWN_RECORD', `record ${id} not found`);
      }
      if (record === undefined || !mayDescribeRecord(state, memberOf(caller), record, Date.now())) {
        return refuse(ctx, req, memberOf(caller), `record ${id} is not in your scope`, {
          patient: record?.patient ?? null,
          record: id,
        });
      }
      const receipts = await erasureOf(ctx).list(id);
      const { validators } = ctx.node.store.genesis;
      const names = new Map(validators.map((v) => [hex(v.publicKey), v.name]));
      const n = validators.length;
      const needed = n - maxFaults(n);
      send(res, 200, {
        record: record.id,
        erased: record.erased_ms !== null,
        erased_ms: record.erased_ms,
        validators: n,
        needed,
        shredded: receipts.length >= needed,
        receipts: receipts.map((receipt) => ({
          validator: names.get(hex(receipt.validator))!,
          publicKey: hex(receipt.validator),
          eraseTx: hex(receipt.eraseTx),
          erased_ms: receipt.erased_ms,
          signature: hex(receipt.signature),
        })),
      });
    },
  },
];
