/**
 * How a client trusts a node's HTTPS API beyond the system's certificate authorities: `ca`, a PEM
 * certificate (a CA's, or the node's own self-signed one) to verify the node's certificate against,
 * and `fingerprint`, the SHA-256 of the node's certificate, pinned: a certificate with another
 * fingerprint is refused (NODE_TLS_FINGERPRINT_MISMATCH), and one with this fingerprint is accepted
 * even though it is self-signed (no --ca needed). With both, the certificate must pass both checks.
 *
 * Node's global fetch accepts only a dispatcher of the undici version built into Node, so requests
 * with these options go through the undici package's own fetch and Agent, which always agree. The
 * package is loaded only by a client that has such options.
 */
import type { TLSSocket } from 'node:tls';
import { MedledgerError } from '../errors.ts';

export interface ClientTls {
  /** PEM: trust the node's certificate if this certificate (or CA) signed it. */
  ca?: string | Uint8Array;
  /** The node certificate's SHA-256: 64 hex digits, colons between pairs allowed (as openssl prints it). */
  fingerprint?: string;
}

export const TLS_HINT =
  "trust it with --ca FILE (the node's certificate, HOME/tls/cert.pem, or its CA) or --fingerprint " +
  "SHA256 (medledger node info prints it on the node's machine); MEDLEDGER_CA and MEDLEDGER_FINGERPRINT " +
  'set them for every command';

/** A fingerprint as 64 lowercase hex digits, from `ab12…` or `AB:12:…`, or BAD_ARGUMENT. */
export function normaliseFingerprint(text: string): string {
  const hex = text
    .trim()
    .replace(/^sha256:/i, '')
    .replaceAll(':', '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new MedledgerError(
      'BAD_ARGUMENT',
      `--fingerprint: ${JSON.stringify(text)} is not a SHA-256 fingerprint (64 hex digits, with or without colons)`,
    );
  }
  return hex;
}

/** A fetch that trusts the node as `tls` says (the undici package's fetch, with its own Agent). */
export async function fetchWithTls(tls: ClientTls): Promise<typeof fetch> {
  const pin = tls.fingerprint === undefined ? undefined : normaliseFingerprint(tls.fingerprint);
  const ca = tls.ca === undefined ? undefined : Buffer.from(tls.ca);
  const undici = await import('undici');
  // A pinned certificate is checked here, after the handshake and before a request is sent. Without
  // a CA to verify it against, the handshake itself accepts any certificate: the pin decides. No TLS
  // session is reused, so every connection shows its certificate and is checked again.
  const base = undici.buildConnector({
    ...(ca ? { ca } : {}),
    rejectUnauthorized: ca !== undefined || pin === undefined,
    maxCachedSessions: 0,
  });
  const connect: typeof base =
    pin === undefined
      ? base
      : (options, callback) =>
          base(options, (error, socket) => {
            if (error) return callback(error, null);
            const seen = (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
            const actual = seen ? seen.replaceAll(':', '').toLowerCase() : '(none)';
            if (actual === pin) return callback(null, socket!);
            socket!.destroy();
            callback(
              new MedledgerError(
                'NODE_TLS_FINGERPRINT_MISMATCH',
                `the node at ${options.hostname}:${options.port} presented a certificate whose SHA-256 ` +
                  `fingerprint is ${actual}, not the pinned ${pin} (--fingerprint): it is another ` +
                  'server, or the node has a new certificate (medledger node info on its machine prints it)',
              ),
              null,
            );
          });
  const dispatcher = new undici.Agent({ connect });
  return ((input: string | URL, init?: RequestInit) =>
    undici.fetch(input, { ...(init as object), dispatcher } as Parameters<
      typeof undici.fetch
    >[1])) as unknown as typeof fetch;
}

/** OpenSSL's codes for a certificate that does not verify (and Node's for a name it does not list). */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The causes of a failed fetch, outermost first. */
function causes(error: unknown): unknown[] {
  const found: unknown[] = [];
  let current = error;
  for (let depth = 0; depth < 6 && current; depth++) {
    found.push(current);
    current =
      current instanceof AggregateError && current.errors.length > 0
        ? current.errors[0]
        : (current as { cause?: unknown }).cause;
  }
  return found;
}

/**
 * The error a failed fetch to `url` stands for when TLS is why it failed: a pinned fingerprint that
 * did not match, a certificate this client does not trust (NODE_TLS_UNTRUSTED, with the hint to
 * use --ca or --fingerprint), or the wrong scheme for the node (NODE_UNREACHABLE naming the other);
 * else null.
 */
export function tlsFailure(error: unknown, url: string, tls: ClientTls | undefined): MedledgerError | null {
  for (const cause of causes(error)) {
    if (cause instanceof MedledgerError) return cause;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_SSL_') && url.startsWith('https:')) {
      // A ClientHello answered in plain text (an HTTP 400): the server speaks no TLS on that port.
      return new MedledgerError(
        'NODE_UNREACHABLE',
        `cannot reach the node at ${url} over TLS (${code}): if it serves plain HTTP, its URL is ${url.replace(/^https:/, 'http:')}`,
        { cause },
      );
    }
    if (code === 'UND_ERR_SOCKET' && url.startsWith('http:')) {
      return new MedledgerError(
        'NODE_UNREACHABLE',
        `cannot reach the node at ${url} (${(cause as Error).message}): if it serves HTTPS, which closes ` +
          `plain-HTTP connections like this, its URL is ${url.replace(/^http:/, 'https:')}`,
        { cause },
      );
    }
    if (typeof code !== 'string' || !UNTRUSTED.has(code)) continue;
    const why = `${code}: ${(cause as Error).message.split(';')[0]}`;
    const fix =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? 'use a URL with a name the certificate lists, or pin it with --fingerprint SHA256'
        : tls?.ca !== undefined
          ? 'it is not signed by the --ca certificate; give the right one, or pin it with --fingerprint SHA256'
          : TLS_HINT;
    return new MedledgerError(
      'NODE_TLS_UNTRUSTED',
      `the node at ${url} presented a certificate this client does not trust (${why}): ${fix}`,
      { cause },
    );
  }
  return null;
}
