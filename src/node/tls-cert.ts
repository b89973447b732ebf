/**
 * A self-signed certificate for a node's HTTP API (`medledger init --tls`), made with @peculiar/x509:
 * an ECDSA P-256 key, SHA-256, a server-auth leaf (not a CA) whose subjectAltNames are the host names
 * and addresses the node is reached at. Clients trust it by its fingerprint (--fingerprint) or by the
 * certificate file itself (--ca). Loaded only by the command that makes one: the library is large.
 */
import 'reflect-metadata'; // @peculiar/x509 2.x needs the Reflect metadata API (its tsyringe container)
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { certificateFingerprint } from './api-tls.ts';

x509.cryptoProvider.set(webcrypto);

/** How long a certificate made here is valid. */
export const SELF_SIGNED_DAYS = 5 * 365;

export interface SelfSigned {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PKCS #8 PEM (unencrypted). */
  key: string;
  /** SHA-256 of the certificate (DER), 64 lowercase hex digits. */
  fingerprint: string;
  /** The host names and IP addresses it names (subjectAltName). */
  names: string[];
  validTo: string;
}

/** `names` without repeats or wildcard addresses (0.0.0.0 and :: name no host a client can dial). */
export function certificateNames(names: readonly string[]): string[] {
  const wildcard = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);
  const kept = names.map((n) => n.trim().toLowerCase()).filter((n) => n !== '' && !wildcard.has(n));
  return [...new Set(kept)];
}

/** A new key and a self-signed certificate naming `names` (DNS names and IP addresses). */
export async function makeSelfSigned(commonName: string, names: readonly string[]): Promise<SelfSigned> {
  const altNames = certificateNames(names);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000); // a little slack for clocks slightly behind
  const notAfter = new Date(notBefore.getTime() + SELF_SIGNED_DAYS * 86_400_000);
  const serial = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)));
  serial[0]! &= 0x7f; // a positive serial number
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: [commonName] }, { O: ['medledger'] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        altNames.map((name) => (isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const cert = certificate.toString('pem');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  }) as string;
  const parsed = new X509Certificate(cert);
  return {
    cert: cert.endsWith('\n') ? cert : `${cert}\n`,
    key,
    fingerprint: certificateFingerprint(parsed),
    names: altNames,
    validTo: notAfter.toISOString(),
  };
}
