/**
 * The typed HTTP client of a node's API (node's built-in fetch). Every failure becomes one
 * MedledgerError: the API's own `{error:{code,message}}`, NODE_UNREACHABLE when nothing answers,
 * NODE_TIMEOUT when the node is too slow, NODE_BAD_RESPONSE when the answer is not the contract's;
 * for an https:// node, NODE_TLS_UNTRUSTED when its certificate is not trusted and
 * NODE_TLS_FINGERPRINT_MISMATCH when it is not the pinned one (`tls`: client/tls.ts).
 */
import { fromHex, hex } from '../bytes.ts';
import { signRequest } from '../crypto/http-signature.ts';
import { MedledgerError } from '../errors.ts';
import { verifyErasureReceipt } from '../ledger/erasure-receipt.ts';
import { maxFaults } from '../ledger/quorum.ts';
import type {
  AccessRequestJson,
  AccountJson,
  AuditPageJson,
  BlobJson,
  BlockJson,
  ChainReportJson,
  CommittedTxJson,
  ErasureJson,
  ErasureReceiptJson,
  IdentityJson,
  NodeInfoJson,
  OrganisationJson,
  PolicyEntryJson,
  ReadJson,
  RecordMetaJson,
  RefusalPageJson,
  StatusJson,
  TxJson,
} from './api-types.ts';
import { blockEvents } from './block-events.ts';
import { type ClientTls, fetchWithTls, normaliseFingerprint, tlsFailure } from './tls.ts';

export const DEFAULT_NODE_URL = 'http://127.0.0.1:26700';
const DEFAULT_TIMEOUT_MS = 30_000;
/** Downloads and uploads of record ciphertext may be large. */
const TRANSFER_TIMEOUT_MS = 10 * 60_000;

export interface AuditParams {
  by: 'patient' | 'actor' | 'record' | 'time';
  id?: string;
  from_ms?: number;
  to_ms?: number;
  limit?: number;
  cursor?: string | null;
  /**
   * Mark each permitted read with the validators that released a key share for it (the node asks
   * them): a permit with fewer than the threshold was decided but not served.
   */
  served?: boolean;
}

/** Which refused queries: all the caller may see, or those about one patient or by one actor. */
export interface RefusalParams {
  by?: 'time' | 'patient' | 'actor';
  id?: string;
  limit?: number;
  cursor?: string | null;
}

/** Which part of the trail a FHIR AuditEvent export covers: everything, or one patient, actor or organisation. */
export interface FhirAuditParams {
  patient?: string;
  actor?: string;
  org?: string;
  since_ms?: number;
  /** Trail entries read per call (the node's default 1000, at most 10,000). */
  limit?: number;
  cursor?: string | null;
}

/** One call's worth of an NDJSON export, as the node wrote it, and where the next call starts. */
export interface NdjsonPage {
  /** One FHIR resource per line, each line ending in a newline; empty when the call found none. */
  ndjson: string;
  /** Pass back for the next call; null once the export is complete. */
  cursor: string | null;
}

/** A genesis validator's keys, as NodeClient.validators() gives them. */
export interface ValidatorKeys {
  name: string;
  /** Ed25519: its votes, its p2p identity. */
  publicKey: Uint8Array;
  /** X25519: its node's custodian key, which a record's key shares are sealed to. */
  encryptionKey: Uint8Array;
}

/**
 * A record's erasure receipts as NodeClient.erasure() checked them: only receipts whose signature
 * verifies against the genesis validators and the chain id are listed and counted.
 */
export interface VerifiedErasure extends ErasureJson {
  /** Receipts the node listed that were dropped: a bad signature, a non-validator, a repeat. */
  rejected: Array<{ validator: string | null; publicKey: string; reason: string }>;
}

/** What to check erasure receipts against (default: the node's own GET /v1/node). */
export interface TrustedValidators {
  chainId: string;
  validators: ReadonlyArray<{ name: string; publicKey: Uint8Array }>;
}

/** What POST /v1/txs answered: committed within the wait, or only accepted. */
export type SubmitResult =
  | { committed: true; tx: CommittedTxJson }
  | { committed: false; txHash: string; warning?: { code: string; message: string } };

interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT';
  body?: Uint8Array;
  query?: Record<string, string | number | undefined | null>;
  timeout_ms?: number;
  /** Sign the request as this identity (RFC 9421; src/crypto/http-signature.ts), else as the client's. */
  signer?: RequestSigner;
  /** A node-operator route: signed with the client's operator key. */
  operator?: boolean;
  /** An open route: sent unsigned. */
  open?: boolean;
  /** Ends the request (a stream that stays open); it replaces the timeout. */
  signal?: AbortSignal;
}

/** Who signs a request: an identity id (or `operator`) and its Ed25519 secret key. */
export interface RequestSigner {
  id: string;
  secretKey: Uint8Array;
}

export interface NodeClientOptions {
  timeout_ms?: number;
  tls?: ClientTls;
  /** Signs every request for personal data as this identity (RFC 9421). */
  signer?: RequestSigner;
  /** Signs the node-operator routes (blocks, chain verify): the key in the node's operator.key. */
  operator?: RequestSigner;
}

export class NodeClient {
  readonly url: string;
  readonly #options: NodeClientOptions;
  readonly #timeout_ms: number;
  #info: Promise<NodeInfoJson> | undefined;
  /** How an https:// node's certificate is trusted beyond the system's CAs (client/tls.ts). */
  readonly #tls: ClientTls | undefined;
  #tlsFetch: Promise<typeof fetch> | undefined;

  constructor(url: string, options: NodeClientOptions = {}) {
    this.url = normaliseUrl(url);
    this.#options = options;
    this.#timeout_ms = options.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    const tls = options.tls;
    if (tls && (tls.ca !== undefined || tls.fingerprint !== undefined)) {
      if (!this.url.startsWith('https:')) {
        throw new MedledgerError(
          'BAD_ARGUMENT',
          `--ca and --fingerprint are for a node served over HTTPS; ${this.url} is plain HTTP (an https:// URL, ` +
            "as the node's listening.json or GET /v1/node shows it, is needed)",
        );
      }
      if (tls.fingerprint !== undefined) normaliseFingerprint(tls.fingerprint);
      this.#tls = tls;
    }
  }

  /** The identity that signs this client's requests, if any. */
  get signer(): RequestSigner | undefined {
    return this.#options.signer;
  }

  /** A client of the same node whose requests `signer` signs. */
  as(signer: RequestSigner): NodeClient {
    return new NodeClient(this.url, { ...this.#options, signer });
  }

  /** A client of the same node that signs the node-operator routes with `operator`. */
  asOperator(operator: RequestSigner): NodeClient {
    return new NodeClient(this.url, { ...this.#options, operator });
  }

  /** The node's identity and chain id (asked once per client). */
  nodeInfo(): Promise<NodeInfoJson> {
    this.#info ??= this.#json<NodeInfoJson>('/v1/node', { open: true });
    this.#info.catch(() => {
      this.#info = undefined;
    });
    return this.#info;
  }

  async chainId(): Promise<string> {
    return (await this.nodeInfo()).chainId;
  }

  /**
   * The chain's validators in genesis order, with each one's Ed25519 key and its node's X25519 key
   * (a record's key shares are sealed to these), from the node's genesis (asked once per client).
   */
  async validators(): Promise<ValidatorKeys[]> {
    const listed = (await this.nodeInfo()).validators;
    const what = 'GET /v1/node';
    if (!Array.isArray(listed) || listed.length === 0) throw badResponse(this.url, what, 'no validators');
    return listed.map((v, i) => {
      if (typeof v?.name !== 'string') throw badResponse(this.url, what, `validators[${i}] has no name`);
      return {
        name: v.name,
        publicKey: keyBytes(v.publicKey, () => badResponse(this.url, what, `validators[${i}].publicKey`)),
        encryptionKey: keyBytes(v.encryptionKey, () =>
          badResponse(this.url, what, `validators[${i}].encryptionKey`),
        ),
      };
    });
  }

  status(): Promise<StatusJson> {
    return this.#json('/v1/status', { open: true });
  }

  /** Submits an encoded signed transaction and waits up to `wait_ms` for it to commit. */
  async submitTx(encoded: Uint8Array, wait_ms: number): Promise<SubmitResult> {
    const response = await this.#fetch('/v1/txs', {
      method: 'POST',
      open: true, // the transaction is signed
      body: encoded,
      query: { wait_ms },
      timeout_ms: wait_ms + this.#timeout_ms,
    });
    type Accepted = { txHash: string; warning?: { code: string; message: string } };
    const body = await this.#parse<CommittedTxJson | Accepted>(response, 'POST /v1/txs');
    if (response.status === 200 && 'receipt' in body) return { committed: true, tx: body };
    if (typeof body.txHash !== 'string') throw badResponse(this.url, 'POST /v1/txs', 'no txHash');
    const warning = 'warning' in body && body.warning ? { warning: body.warning } : {};
    return { committed: false, txHash: body.txHash, ...warning };
  }

  /**
   * A committed transaction with its receipt, or null while it is not committed (404). Its sender
   * may ask (the client's signer), or the node's operator (a client with only an operator key).
   */
  async tx(hash: string): Promise<TxJson | null> {
    const operator = this.#options.signer === undefined && this.#options.operator !== undefined;
    try {
      return await this.#json<TxJson>(`/v1/txs/${encodeURIComponent(hash)}`, { operator });
    } catch (error) {
      if (error instanceof MedledgerError && error.code === 'API_TX_NOT_FOUND') return null;
      throw error;
    }
  }

  block(height: number, wait_ms = 0): Promise<BlockJson> {
    return this.#json(`/v1/blocks/${height}`, { operator: true, query: { wait_ms: wait_ms || undefined } });
  }

  /**
   * Committed blocks as they commit (GET /v1/blocks/stream), from `from` (default: after the head)
   * to `to` (default: for as long as `signal` lets it run).
   */
  async *followBlocks(
    options: { from?: number; to?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<BlockJson> {
    const path = '/v1/blocks/stream';
    const query = { from: options.from, to: options.to };
    let response: Response;
    try {
      response = await this.#fetch(path, { operator: true, query, signal: options.signal });
    } catch (error) {
      if (options.signal?.aborted) return; // the caller ended it before the node answered
      throw error;
    }
    if (response.status === 204) return; // nothing after `to`
    if (!response.ok) await this.#parse(response, `GET ${path}`);
    if (response.body === null || !response.headers.get('content-type')?.startsWith('text/event-stream'))
      throw badResponse(this.url, `GET ${path}`, 'not an event stream');
    try {
      yield* blockEvents(response.body, this.url);
    } catch (error) {
      if (options.signal?.aborted) return; // the caller ended it
      if (error instanceof MedledgerError) throw error;
      throw new MedledgerError(
        'NODE_UNREACHABLE',
        `the block stream from ${this.url} broke off: ${describeCause(error)}`,
        { cause: error },
      );
    }
  }

  account(signingKeyHex: string): Promise<AccountJson> {
    return this.#json(`/v1/accounts/${encodeURIComponent(signingKeyHex)}`, { open: true });
  }

  identity(id: string): Promise<IdentityJson> {
    return this.#json(`/v1/identities/${encodeURIComponent(id)}`);
  }

  organisation(id: string): Promise<OrganisationJson> {
    return this.#json(`/v1/orgs/${encodeURIComponent(id)}`);
  }

  /** An organisation's staff, a page at a time (its overseers and network admins may ask). */
  orgMembers(
    id: string,
    params: { limit?: number; cursor?: string | null } = {},
  ): Promise<{ members: IdentityJson[]; cursor: string | null }> {
    return this.#json(`/v1/orgs/${encodeURIComponent(id)}/members`, { query: params });
  }

  record(id: string): Promise<RecordMetaJson> {
    return this.#json(`/v1/records/${encodeURIComponent(id)}`);
  }

  async patientRecords(patient: string): Promise<RecordMetaJson[]> {
    return (
      await this.#json<{ records: RecordMetaJson[] }>(`/v1/patients/${encodeURIComponent(patient)}/records`)
    ).records;
  }

  async patientPolicies(patient: string): Promise<PolicyEntryJson[]> {
    const path = `/v1/patients/${encodeURIComponent(patient)}/policies`;
    return (await this.#json<{ policies: PolicyEntryJson[] }>(path)).policies;
  }

  async patientRequests(patient: string): Promise<AccessRequestJson[]> {
    const path = `/v1/patients/${encodeURIComponent(patient)}/requests`;
    return (await this.#json<{ requests: AccessRequestJson[] }>(path)).requests;
  }

  audit(params: AuditParams): Promise<AuditPageJson> {
    const { served, ...rest } = params;
    return this.#json('/v1/audit', { query: { ...rest, served: served ? 1 : undefined } });
  }

  /** Queries for personal data this node refused (403), newest first, as the caller may see them. */
  refusals(params: RefusalParams = {}): Promise<RefusalPageJson> {
    return this.#json('/v1/audit/refusals', { query: { ...params } });
  }

  /** The audit trail as FHIR AuditEvents (NDJSON), newest first; follow `cursor` for the rest. */
  fhirAuditEvents(params: FhirAuditParams): Promise<NdjsonPage> {
    const { since_ms, ...rest } = params;
    return this.#ndjson('/v1/fhir/AuditEvent', { ...rest, since: since_ms });
  }

  /** A patient's grants and forbids as FHIR Consents (NDJSON); follow `cursor` for the rest. */
  fhirConsents(
    patient: string,
    params: { limit?: number; cursor?: string | null } = {},
  ): Promise<NdjsonPage> {
    return this.#ndjson('/v1/fhir/Consent', { patient, ...params });
  }

  /** Uploads a record's ciphertext to the node's store. */
  async putBlob(ciphertext: Uint8Array): Promise<BlobJson> {
    const response = await this.#fetch('/v1/blobs', {
      method: 'POST',
      body: ciphertext,
      timeout_ms: TRANSFER_TIMEOUT_MS,
    });
    return this.#parse<BlobJson>(response, 'POST /v1/blobs');
  }

  /** What a committed read permit releases, to its reader, who signs the request. */
  read(readTxHash: string, signer: RequestSigner): Promise<ReadJson> {
    return this.#json(`/v1/reads/${encodeURIComponent(readTxHash)}`, { signer });
  }

  /** Proves to the node that validators sent false key shares for a read; it punishes those proven. */
  reportFalseShares(
    readTxHash: string,
    proofs: Array<{ index: number; opening: Uint8Array }>,
    signer: RequestSigner,
  ): Promise<{ punished: string[]; unproven: number[] }> {
    return this.#json(`/v1/reads/${encodeURIComponent(readTxHash)}/false-shares`, {
      method: 'POST',
      signer,
      body: new TextEncoder().encode(
        JSON.stringify({
          shares: proofs.map((p) => ({ index: p.index, opening: hex(p.opening) })),
        }),
      ),
    });
  }

  /** The ciphertext a committed, permitted read released, as a stream. */
  async readContent(readTxHash: string, signer: RequestSigner): Promise<AsyncIterable<Uint8Array>> {
    const path = `/v1/reads/${encodeURIComponent(readTxHash)}/content`;
    const response = await this.#fetch(path, { timeout_ms: TRANSFER_TIMEOUT_MS, signer });
    if (!response.ok) await this.#parse(response, `GET ${path}`);
    if (response.body === null) throw badResponse(this.url, `GET ${path}`, 'no body');
    return this.#guardStream(response.body, path);
  }

  /**
   * The validators' signed erasure receipts for a record. Each receipt is checked here, not taken on
   * the node's word: signed by a genesis validator over this chain id and this record, one per
   * validator. Those that fail are dropped and listed in `rejected`; `validators`, `needed` and
   * `shredded` are recomputed from the validator set. The keys are the node's (GET /v1/node) unless
   * `trusted` gives them, e.g. from a genesis.json the caller holds.
   */
  async erasure(recordId: string, trusted?: TrustedValidators): Promise<VerifiedErasure> {
    const what = `GET /v1/records/${recordId}/erasure`;
    const body = await this.#json<ErasureJson>(`/v1/records/${encodeURIComponent(recordId)}/erasure`);
    if (body?.record !== recordId || !Array.isArray(body.receipts))
      throw badResponse(this.url, what, 'not an erasure');
    const chainId = trusted?.chainId ?? (await this.chainId());
    const validators = trusted?.validators ?? (await this.validators());
    const keys = validators.map((v) => v.publicKey);
    const indexOf = new Map(validators.map((v, i) => [hex(v.publicKey), i]));
    const accepted = new Map<number, ErasureReceiptJson>();
    const rejected: VerifiedErasure['rejected'] = [];
    for (const listed of body.receipts as unknown[]) {
      const receipt = (listed ?? {}) as Partial<Record<keyof ErasureReceiptJson, unknown>>;
      const publicKey = typeof receipt.publicKey === 'string' ? receipt.publicKey : '';
      const index = indexOf.get(publicKey);
      const reject = (reason: string) =>
        rejected.push({ validator: index === undefined ? null : validators[index]!.name, publicKey, reason });
      if (index === undefined) {
        reject('not signed by a genesis validator');
        continue;
      }
      const erased_ms = receipt.erased_ms;
      const fields = [receipt.eraseTx, receipt.signature];
      if (
        typeof erased_ms !== 'number' ||
        !Number.isSafeInteger(erased_ms) ||
        erased_ms < 0 ||
        !fields.every((f) => typeof f === 'string' && /^([0-9a-f]{2})*$/.test(f))
      ) {
        reject('malformed');
        continue;
      }
      const [eraseTx, signature] = fields.map((f) => fromHex(f as string));
      const signed = { chainId, record: recordId, eraseTx: eraseTx!, erased_ms, signature: signature! };
      if (!verifyErasureReceipt({ ...signed, validator: keys[index]! }, chainId, keys)) {
        reject('the signature does not verify');
        continue;
      }
      if (accepted.has(index)) {
        reject('a second receipt from this validator');
        continue;
      }
      accepted.set(index, {
        validator: validators[index]!.name,
        publicKey,
        eraseTx: receipt.eraseTx as string,
        erased_ms,
        signature: receipt.signature as string,
      });
    }
    const receipts = [...accepted.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
    const n = validators.length;
    const needed = n - maxFaults(n);
    return {
      record: recordId,
      erased: body.erased === true,
      erased_ms: typeof body.erased_ms === 'number' ? body.erased_ms : null,
      validators: n,
      needed,
      shredded: receipts.length >= needed,
      receipts,
      rejected,
    };
  }

  chainVerify(): Promise<ChainReportJson> {
    return this.#json('/v1/chain/verify', { operator: true, timeout_ms: TRANSFER_TIMEOUT_MS });
  }

  /** Sets the node's transport faults (PUT /v1/debug/faults, benchmarks; the operator's). */
  setFaults(faults: unknown): Promise<{ faults: unknown }> {
    return this.#json('/v1/debug/faults', {
      method: 'PUT',
      operator: true,
      body: new TextEncoder().encode(JSON.stringify(faults)),
    });
  }

  /** Node's global fetch, or for --ca and --fingerprint one that trusts the node as they say. */
  #transport(): Promise<typeof fetch> {
    if (!this.#tls) return Promise.resolve(fetch);
    this.#tlsFetch ??= fetchWithTls(this.#tls);
    return this.#tlsFetch;
  }

  async #json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.#fetch(path, options);
    return this.#parse<T>(response, `${options.method ?? 'GET'} ${path}`);
  }

  async #ndjson(path: string, query: RequestOptions['query']): Promise<NdjsonPage> {
    const response = await this.#fetch(path, { query });
    if (!response.ok) await this.#parse(response, `GET ${path}`); // throws the node's error
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('application/fhir+ndjson')) {
      await response.body?.cancel();
      throw badResponse(this.url, `GET ${path}`, `content type ${type || 'none'}`);
    }
    let ndjson: string;
    try {
      ndjson = await response.text();
    } catch (error) {
      throw this.#transportError(error, this.#timeout_ms);
    }
    return { ndjson, cursor: nextCursor(response.headers.get('link')) };
  }

  async #fetch(path: string, options: RequestOptions): Promise<Response> {
    const url = new URL(`${this.url}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const timeout_ms = options.timeout_ms ?? this.#timeout_ms;
    const method = options.method ?? 'GET';
    let headers: Record<string, string> = options.body ? { 'content-type': 'application/octet-stream' } : {};
    const signer = options.open
      ? undefined
      : (options.signer ?? (options.operator ? this.#options.operator : this.#options.signer));
    if (signer) {
      const { id, secretKey } = signer;
      headers = await signRequest(
        { method, url: url.toString(), headers, body: options.body },
        id,
        secretKey,
      );
    }
    try {
      return await (await this.#transport())(url, {
        method,
        headers,
        // Typed for the browser's fetch too (the web portal bundles this client), whose BodyInit
        // takes only views of an ArrayBuffer: every body here is one.
        body: options.body as Uint8Array<ArrayBuffer> | undefined,
        signal: options.signal ?? AbortSignal.timeout(timeout_ms),
      });
    } catch (error) {
      throw this.#transportError(error, timeout_ms);
    }
  }

  async #parse<T>(response: Response, what: string): Promise<T> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.#transportError(error, this.#timeout_ms);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw badResponse(this.url, what, `HTTP ${response.status}, not JSON`);
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof error?.code === 'string' && typeof error.message === 'string') {
        throw new MedledgerError(error.code, error.message);
      }
      throw badResponse(this.url, what, `HTTP ${response.status}`);
    }
    return body as T;
  }

  async *#guardStream(body: AsyncIterable<Uint8Array>, path: string): AsyncGenerator<Uint8Array> {
    try {
      for await (const piece of body) yield piece;
    } catch (error) {
      if (error instanceof MedledgerError) throw error;
      throw new MedledgerError(
        'NODE_UNREACHABLE',
        `the download of ${path} from ${this.url} broke off: ${describeCause(error)}`,
        { cause: error },
      );
    }
  }

  #transportError(error: unknown, timeout_ms: number): MedledgerError {
    const tls = tlsFailure(error, this.url, this.#tls);
    if (tls) return tls;
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      return new MedledgerError(
        'NODE_TIMEOUT',
        `the node at ${this.url} did not answer within ${Math.round(timeout_ms / 1000)} s`,
        { cause: error },
      );
    }
    return new MedledgerError(
      'NODE_UNREACHABLE',
      `cannot reach the node at ${this.url} (${describeCause(error)})`,
      { cause: error },
    );
  }
}

/** The cursor of a `Link: <…?cursor=C>; rel="next"` header, or null when there is no next page. */
function nextCursor(link: string | null): string | null {
  const target = link === null ? undefined : /<([^>]*)>\s*;\s*rel="next"/.exec(link)?.[1];
  if (target === undefined) return null;
  return new URL(target, 'http://node').searchParams.get('cursor');
}

function normaliseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MedledgerError(
      'BAD_ARGUMENT',
      `--node: ${JSON.stringify(url)} is not a URL (e.g. ${DEFAULT_NODE_URL})`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MedledgerError('BAD_ARGUMENT', `--node: ${url} is not an http:// or https:// URL`);
  }
  return parsed.toString().replace(/\/+$/, '');
}

/** The system error code (ECONNREFUSED, ENOTFOUND, …) or else the innermost message of a failure. */
function describeCause(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    if (current instanceof Error && current.message) message = current.message;
    if (current instanceof AggregateError && current.errors.length > 0) current = current.errors[0];
    else current = (current as { cause?: unknown }).cause;
  }
  return message;
}

/** A 32-byte key from 64 lowercase hex digits, or the error `bad` makes. */
function keyBytes(text: unknown, bad: () => MedledgerError): Uint8Array {
  if (typeof text !== 'string' || !/^[0-9a-f]{64}$/.test(text)) throw bad();
  return fromHex(text);
}

function badResponse(url: string, what: string, why: string): MedledgerError {
  return new MedledgerError('NODE_BAD_RESPONSE', `the node at ${url} answered ${what} unexpectedly (${why})`);
}
