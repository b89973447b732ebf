/**
 * `medledger sign-request`: the headers that sign one API request as the keystore's identity, or
 * as the node's operator (HTTP Message Signatures, RFC 9421), for calling the API with curl or
 * another HTTP client. Each set is good once (a fresh nonce) and for a minute.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { operatorSigner, type RequestSigner, requestSigner } from '../../client/index.ts';
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
        .option('--curl', 'print a whole curl command instead of the headers')
        .option(
          '--operator-key <file>',
          "sign as the node's operator instead (the node-operator routes: blocks, transactions, chain " +
            'verify), with the key in its home (HOME/operator.key)',
        ),
      'signer',
    ),
    'medledger sign-request /v1/reads/5d2e… --keystore dr-baker.key --curl | sh',
    'medledger sign-request /v1/blocks/12 --operator-key ./st-mary/operator.key --curl | sh',
  ).action(async (path: string, options: SignOptions) => {
    if (!path.startsWith('/')) throw new MedledgerError('BAD_ARGUMENT', 'the path must start with /');
    const signer = await signerOf(options);
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

/** The --keystore identity, or else the node's operator (--operator-key). */
async function signerOf(options: SignOptions): Promise<RequestSigner> {
  if (options.keystore !== undefined && options.operatorKey !== undefined) {
    throw new MedledgerError('BAD_ARGUMENT', '--keystore/--operator-key: sign as one of them, not both');
  }
  if (options.operatorKey !== undefined) return operatorSigner(options.operatorKey);
  if (options.keystore === undefined) {
    throw new MedledgerError(
      'KEYSTORE_REQUIRED',
      "say who signs: --keystore FILE (your identity), or --operator-key FILE (the node's operator)",
    );
  }
  return requestSigner(clientFor(options), await signerKeys(options, 'signer'));
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
