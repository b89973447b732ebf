/**
 * `medledger sign-request`: the headers that sign one API request as the keystore's identity
 * (HTTP Message Signatures, RFC 9421), for calling the API with curl or another HTTP client. Each
 * set is good once (a fresh nonce) and for a minute.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { requestSigner } from '../../client/index.ts';
import { type Out, printJson } from '../../client/output.ts';
import { signRequest } from '../../crypto/http-signature.ts';
import { MedledgerError } from '../../errors.ts';
import {
  type CommonOptions,
  clientFor,
  nodeUrl,
  operatorOptions,
  signerKeys,
  withExample,
} from './common.ts';

interface SignOptions extends CommonOptions {
  method: string;
  body?: string;
  curl?: boolean;
}

export function addSignRequestCommand(program: Command, out: Out): void {
  withExample(
    operatorOptions(
      program
        .command('sign-request')
        .description('print the headers that sign one API request as your identity (RFC 9421), e.g. for curl')
        .argument('<path>', 'the request path and query, e.g. /v1/reads/5d2e…')
        .option('--method <method>', 'the HTTP method', 'GET')
        .option('--body <file>', "the request body's file (its Content-Digest is signed)")
        .option('--curl', 'print a whole curl command instead of the headers'),
      'signer',
    ),
    'curl -s "$(medledger sign-request /v1/reads/5d2e… --keystore dr-baker.key --curl)"',
    'medledger sign-request /v1/reads/5d2e… --keystore dr-baker.key --curl | sh',
  ).action(async (path: string, options: SignOptions) => {
    if (!path.startsWith('/')) throw new MedledgerError('BAD_ARGUMENT', 'the path must start with /');
    const keys = await signerKeys(options, 'signer');
    const signer = await requestSigner(clientFor(options), keys);
    const url = `${nodeUrl(options).replace(/\/$/, '')}${path}`;
    const body = options.body === undefined ? undefined : new Uint8Array(await readFile(options.body));
    const method = options.method.toUpperCase();
    const headers = await signRequest({ method, url, headers: {}, body }, signer.id, signer.secretKey);
    if (options.json) return printJson(out, { method, url, headers });
    if (options.curl) {
      const parts = [
        'curl',
        '-sS',
        '-X',
        method,
        ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
      ];
      if (options.body !== undefined) parts.push('--data-binary', `@${options.body}`);
      parts.push(url);
      return out(parts.map(shellQuote).join(' '));
    }
    for (const [name, value] of Object.entries(headers)) out(`${name}: ${value}`);
  });
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
