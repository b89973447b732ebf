/** What every API route works with, and the shape of a route. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErasureReceipts } from '../node/erasure-receipts.ts';
import type { RecordService } from '../node/records.ts';
import type { ValidatorNode } from '../node/validator.ts';

export interface ApiOptions {
  /** Serve PUT /v1/debug/faults, for benchmarks that inject transport faults into real processes. */
  faultInjection?: boolean;
  /** Transactions a second the API takes from one sender key (api.maxTxPerSenderPerSecond; limits.ts). */
  maxTxPerSenderPerSecond?: number;
  /** Largest POST /v1/blobs body (api.maxUploadBytes); the store's own record limit applies too. */
  maxUploadBytes?: number;
}

export interface ApiContext {
  node: ValidatorNode;
  /** Absent on nodes run without a record store (consensus-only tests and benchmarks). */
  records?: RecordService;
  /** Absent on nodes run without erasure receipts (consensus-only tests and benchmarks). */
  erasure?: ErasureReceipts;
  version: string;
  options: ApiOptions;
  /** Where the API listens, once it does (GET /v1/node): its URL, and its certificate's fingerprint. */
  endpoint?: ApiEndpoint;
}

export interface ApiEndpoint {
  /** `https://…` with TLS, else `http://…`. */
  url: string;
  /** SHA-256 of the API's certificate (64 lowercase hex digits), or null for plain HTTP. */
  fingerprint: string | null;
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
