/** What every API route works with, and the shape of a route. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Identity } from '../contracts/index.ts';
import type { ApiErasureReceipts, ApiNode, ApiRecords, ApiRefusals, FaultParser } from './ports.ts';

export interface ApiOptions {
  /**
   * Serve PUT /v1/debug/faults, for benchmarks that inject transport faults into real processes
   * (with the context's `parseFaults`).
   */
  faultInjection?: boolean;
  /** Transactions a second the API takes from one sender key (api.maxTxPerSenderPerSecond; limits.ts). */
  maxTxPerSenderPerSecond?: number;
  /** Largest POST /v1/blobs body (api.maxUploadBytes); the store's own record limit applies too. */
  maxUploadBytes?: number;
  /** Bytes one identity may upload to POST /v1/blobs per day (api.uploadQuotaBytesPerDay). */
  uploadQuotaBytesPerDay?: number;
  /** The node operator's Ed25519 public key (from operator.key); without it no one is the operator. */
  operatorKey?: Uint8Array;
}

export interface ApiContext {
  node: ApiNode;
  /** Absent on nodes run without a record store (consensus-only tests and benchmarks). */
  records?: ApiRecords;
  /** Absent on nodes run without erasure receipts (consensus-only tests and benchmarks). */
  erasure?: ApiErasureReceipts;
  /** Where refused queries for personal data are kept (403s); absent, they are only counted. */
  refusals?: ApiRefusals;
  /**
   * Reads a PUT /v1/debug/faults body (the daemon passes node/config.ts `parseFaults`); without
   * it, fault injection is off whatever `options.faultInjection` says.
   */
  parseFaults?: FaultParser;
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

/**
 * Who may call a route, checked before its handler runs (auth.ts): anyone (`open`: no personal
 * data); the node's operator (`operator`); any signed, active identity (`member`), whose scope the
 * handler then decides (scopes.ts); or a route whose handler checks the signature itself
 * (`in-handler`): it covers a body only the handler reads, or either an identity or the operator
 * may call.
 */
export type Access = 'open' | 'operator' | 'member' | 'in-handler';

export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  /** Matched against the whole path; capture groups become `params`. */
  path: RegExp;
  access: Access;
  handle(
    ctx: ApiContext,
    req: IncomingMessage,
    res: ServerResponse,
    params: string[],
    url: URL,
    /** The signed caller of a `member` route; null on the others. */
    caller: Identity | null,
  ): Promise<void>;
}

/** A `member` route's caller (the dispatcher guarantees one). */
export function memberOf(caller: Identity | null): Identity {
  if (caller === null) throw new Error('a member route ran without a signed caller');
  return caller;
}
