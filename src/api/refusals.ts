/**
 * Refusing a signed caller a query outside their scope (scopes.ts): 403 with a stable code, and the
 * refusal kept in the node's refusal log (node/refusal-log.ts) with who asked, for whose data and
 * through which route, so that the patient and the organisation's auditors see the attempt.
 *
 *   403 API_NOT_IN_SCOPE   the caller may not see what they asked for
 */
import type { IncomingMessage } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { Identity } from '../contracts/index.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './http.ts';

export interface RefusalSubject {
  /** The patient whose data was asked for, when the query named one. */
  patient?: string | null;
  record?: string | null;
}

/** Logs the refusal and throws the 403. */
export async function refuse(
  ctx: ApiContext,
  req: IncomingMessage,
  caller: Identity,
  message: string,
  about: RefusalSubject = {},
): Promise<never> {
  const code = 'API_NOT_IN_SCOPE';
  const path = new URL(req.url ?? '/', 'http://node').pathname;
  refusalsCounter(ctx).inc({ route: path.split('/').slice(0, 3).join('/') });
  await ctx.refusals?.add({
    time_ms: Date.now(),
    actor: caller.id,
    patient: about.patient ?? null,
    record: about.record ?? null,
    route: `${req.method ?? 'GET'} ${path}`,
    code,
  });
  throw new ApiError(403, code, message);
}

const COUNTERS = new WeakMap<Registry, Counter<'route'>>();

/** medledger_api_refusals_total{route="/v1/patients"}: labelled by the route's first segments, no ids. */
function refusalsCounter(ctx: ApiContext): Counter<'route'> {
  const registry = ctx.node.metrics.registry;
  let counter = COUNTERS.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'medledger_api_refusals_total',
      help: "Signed API queries refused as outside the caller's scope (403 API_NOT_IN_SCOPE)",
      labelNames: ['route'],
      registers: [registry],
    });
    COUNTERS.set(registry, counter);
  }
  return counter;
}
