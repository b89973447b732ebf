/**
 * `medledger chain …`: verifying a chain, offline from its stored blocks or online through a node
 * (which only the node's operator may ask: --operator-key).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { NodeClient, operatorSigner } from '../client/index.ts';
import { committedTxProblem, genesisState } from '../contracts/index.ts';
import { MedledgerError } from '../errors.ts';
import { type ChainReport, loadGenesis, verifyChain } from '../ledger/index.ts';
import { homePaths } from '../node/config.ts';
import {
  clientTls,
  operatorKeyOption,
  operatorKeyPath,
  operatorKeyRequired,
  tlsOptions,
} from './operator/common.ts';

interface VerifyOptions {
  chain?: string;
  genesis?: string;
  home?: string;
  node?: string;
  ca?: string;
  fingerprint?: string;
  operatorKey?: string;
  json?: boolean;
}

/** Which chain to verify: exactly one of --node, --home, or --chain with --genesis. */
function source(
  options: VerifyOptions,
): { kind: 'node'; url: string; operatorKey: string } | { kind: 'files'; chain: string; genesis: string } {
  const offline = options.chain !== undefined || options.genesis !== undefined;
  const chosen = [options.node !== undefined, options.home !== undefined, offline].filter(Boolean).length;
  if (chosen !== 1) {
    throw new MedledgerError(
      'BAD_ARGUMENT',
      'chain verify: give exactly one of --node URL, --home DIR, or --chain DIR with --genesis FILE',
    );
  }
  if (options.node !== undefined) {
    const operatorKey = operatorKeyPath(options);
    if (operatorKey === undefined) throw operatorKeyRequired();
    return { kind: 'node', url: options.node, operatorKey };
  }
  if (options.operatorKey !== undefined) {
    throw new MedledgerError('BAD_ARGUMENT', '--operator-key: only with --node (a running node)');
  }
  if (options.home !== undefined) {
    const paths = homePaths(options.home);
    return { kind: 'files', chain: join(paths.data, 'chain'), genesis: paths.genesis };
  }
  if (options.chain === undefined || options.genesis === undefined) {
    throw new MedledgerError('BAD_ARGUMENT', 'chain verify: --chain and --genesis go together');
  }
  return { kind: 'files', chain: options.chain, genesis: options.genesis };
}

export function addChainCommands(program: Command, out: (text: string) => void): void {
  const chain = program.command('chain').description('inspect and verify a stored chain');
  const verify = chain
    .command('verify')
    .description(
      'verify a chain: hash links, signatures, Merkle roots, commit certificates, indexes, state; ' +
        "offline from a stopped node's files, or online by asking a running node to verify its own",
    )
    .option('--chain <dir>', "the chain's LevelDB directory (the node must be stopped)")
    .option('--genesis <file>', 'the genesis.json the chain was created from (with --chain)')
    .option('--home <dir>', "a stopped node's home: verifies HOME/data/chain against HOME/genesis.json")
    .option(
      '--node <url>',
      "ask a running node to verify its chain (GET /v1/chain/verify; signed with the node's --operator-key)",
    );
  operatorKeyOption(tlsOptions(verify))
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  medledger chain verify --chain ~/.medledger/chain --genesis genesis.json\n' +
        '  medledger chain verify --home ./node-1\n' +
        '  medledger chain verify --node http://127.0.0.1:26700 --operator-key ./st-mary/operator.key',
    )
    .action(async (options: VerifyOptions) => {
      const from = source(options);
      let chainId: string;
      let report: ChainReport;
      if (from.kind === 'node') {
        const client = new NodeClient(from.url, {
          tls: clientTls(options),
          operator: await operatorSigner(from.operatorKey),
        });
        [chainId, report] = await Promise.all([client.chainId(), client.chainVerify()]);
      } else {
        const genesis = await loadGenesis(from.genesis);
        chainId = genesis.chainId;
        report = await verifyChain(from.chain, genesis, genesisState(genesis), committedTxProblem);
      }
      if (options.json) {
        out(JSON.stringify(report));
      } else if (report.ok) {
        out(`chain ${chainId} verified: ${report.blocks} blocks, ${report.txs} transactions`);
      } else {
        const at =
          report.problem!.height === null ? 'a record of unknown height' : `height ${report.problem!.height}`;
        out(`chain ${chainId} is INVALID at ${at}: ${report.problem!.code}: ${report.problem!.detail}`);
      }
      if (!report.ok) process.exitCode = 1;
    });
}
