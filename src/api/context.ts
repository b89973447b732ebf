/** What every API route works with, and the shape of a route. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErasureReceipts } from '../node/erasure-receipts.ts';
import type { RecordService } from '../node/records.ts';
import type { ValidatorNode } from '../node/validator.ts';

export interface ApiOptions {
  /** Serve PUT /v1/debug/faults, for benchmarks that inject transport faults into real processes. */
  faultInjection?: boolean;
}

export interface ApiContext {
  node: ValidatorNode;
  /** Absent on nodes run without a record store (consensus-only tests and benchmarks). */
  records?: RecordService;
  /** Absent on nodes run without erasure receipts (consensus-only tests and benchmarks). */
  erasure?: ErasureReceipts;
  version: string;
  options: ApiOptions;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  /** Matched against the whole path; capture groups become `params`. */
  path: RegExp;
  handle(
    ctx: ApiContext,
    req: IncomingMessage,
    res: ServerResponse,
    params: string[],
    url: URL,
  ): Promise<void>;
}
