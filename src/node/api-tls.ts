/**
 * Whether and how the node's HTTP API may be served: HTTPS with the certificate and key that
 * `api.tls.cert` and `api.tls.key` name, or plain HTTP, which is allowed only on a loopback
 * `api.host` (127.0.0.0/8, ::1, localhost) unless `api.insecure` is true. Everything is checked
 * before the node starts, and every failure is a MedledgerError with a code:
 *
 *   CONFIG_API_INSECURE      plain HTTP on an address that is not loopback, without api.insecure
 *   CONFIG_TLS_INCOMPLETE    api.tls.cert without api.tls.key, or the other way round
 *   CONFIG_TLS_UNREADABLE    a certificate or key file that cannot be read
 *   CONFIG_TLS_INVALID       a file that is not a PEM certificate, or not an unencrypted PEM key
 *   CONFIG_TLS_KEY_MISMATCH  a key that is not the certificate's
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { MedledgerError } from '../errors.ts';
import type { NodeSettings } from './config.ts';

/** The API's certificate and key, loaded and checked. */
export interface ApiTls {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
  /** SHA-256 of the certificate (DER), 64 lowercase hex digits: what clients pin with --fingerprint. */
  fingerprint: string;
  /** When the certificate expires (ISO 8601). */
  validTo: string;
}

/** How the API will be served, and what the node logs about it at every start. */
export interface ApiSecurity {
  tls: ApiTls | null;
  warnings: string[];
}

/** 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and localhost. */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6)
    return name === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(name) || /^::ffff:127\./.test(name);
  return false;
}

/** SHA-256 of a certificate, as 64 lowercase hex digits (Node prints it as colon-separated pairs). */
export function certificateFingerprint(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(':', '').toLowerCase();
}

/** The certificate in a PEM file, or the error naming the setting and the file. */
export async function readCertificate(
  file: string,
  setting = 'api.tls.cert',
): Promise<{ pem: Buffer; cert: X509Certificate }> {
  const pem = await readTlsFile(file, setting);
  try {
    return { pem, cert: new X509Certificate(pem) };
  } catch (error) {
    throw new MedledgerError(
      'CONFIG_TLS_INVALID',
      `${setting}: ${file} is not a PEM certificate (${(error as Error).message})`,
      { cause: error },
    );
  }
}

async function readTlsFile(file: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).message;
    throw new MedledgerError('CONFIG_TLS_UNREADABLE', `${setting}: cannot read ${file} (${code})`, {
      cause: error,
    });
  }
}

/** A setting's file: relative paths are relative to the home. */
export function homeFile(home: string, path: string): string {
  return resolve(home, path);
}

/** The certificate and key the settings name, read and checked against each other; null: none set. */
export async function loadApiTls(home: string, settings: NodeSettings): Promise<ApiTls | null> {
  const { cert: certPath, key: keyPath } = settings.api.tls ?? {};
  if (certPath === undefined && keyPath === undefined) return null;
  if (certPath === undefined || keyPath === undefined) {
    const [given, missing] = certPath === undefined ? ['key', 'cert'] : ['cert', 'key'];
    throw new MedledgerError(
      'CONFIG_TLS_INCOMPLETE',
      `api.tls.${given} is set but api.tls.${missing} is not: HTTPS needs both the certificate and its ` +
        'key (medledger init --tls writes both), or neither for plain HTTP on loopback',
    );
  }
  const certFile = homeFile(home, certPath);
  const keyFile = homeFile(home, keyPath);
  const { pem: cert, cert: x509 } = await readCertificate(certFile);
  const key = await readTlsFile(keyFile, 'api.tls.key');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    const encrypted = /passphrase/i.test((error as Error).message);
    throw new MedledgerError(
      'CONFIG_TLS_INVALID',
      encrypted
        ? `api.tls.key: ${keyFile} is encrypted; the node needs it unencrypted (readable by its user alone)`
        : `api.tls.key: ${keyFile} is not a PEM private key (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new MedledgerError(
      'CONFIG_TLS_KEY_MISMATCH',
      `api.tls.key: ${keyFile} is not the key of the certificate ${certFile}: give the key the certificate was made for`,
    );
  }
  return {
    cert,
    key,
    certFile,
    keyFile,
    fingerprint: certificateFingerprint(x509),
    validTo: new Date(x509.validTo).toISOString(),
  };
}

/**
 * How the API will be served: with TLS if the settings give a certificate; else plain HTTP, refused
 * (CONFIG_API_INSECURE) on an address that is not loopback unless api.insecure is true, which the
 * node then warns about at every start.
 */
export async function apiSecurity(home: string, settings: NodeSettings): Promise<ApiSecurity> {
  const tls = await loadApiTls(home, settings);
  const warnings: string[] = [];
  if (tls) {
    const expires = Date.parse(tls.validTo);
    if (expires <= Date.now()) {
      warnings.push(
        `the API's certificate ${tls.certFile} expired on ${tls.validTo}: clients that check it (--ca) refuse it`,
      );
    }
    const mode = (await stat(tls.keyFile)).mode;
    if ((mode & 0o077) !== 0) {
      warnings.push(
        `the API's private key ${tls.keyFile} can be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
    return { tls, warnings };
  }
  const problem = insecureApi(settings);
  if (problem !== null) {
    if (!settings.api.insecure) throw new MedledgerError('CONFIG_API_INSECURE', problem);
    warnings.push(
      `the HTTP API serves plain HTTP on ${settings.api.host}, which is not loopback (api.insecure = true): ` +
        'only a TLS reverse proxy in front of it, or a container port published on loopback, keeps its traffic private',
    );
  }
  return { tls: null, warnings };
}

/**
 * Why a plain-HTTP API at these settings is refused, or null when it may be served: the sentence of
 * CONFIG_API_INSECURE, naming the fixes. TLS settings, when present, are taken as given here.
 */
export function insecureApi(settings: NodeSettings): string | null {
  const { host, tls } = settings.api;
  if (tls?.cert !== undefined || tls?.key !== undefined || isLoopback(host)) return null;
  return (
    `api.host is ${host}, which is not a loopback address, and the API has no TLS: its requests and ` +
    'answers would cross the network in plain text. Give it a certificate (api.tls.cert and api.tls.key; ' +
    '`medledger init --tls` makes one), or bind it to loopback (api.host = "127.0.0.1"), or, only behind ' +
    'a TLS reverse proxy or in a container published on loopback, set api.insecure = true ' +
    '(MEDLEDGER_API_INSECURE=true, --api-insecure true)'
  );
}
