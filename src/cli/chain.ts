/** `medledger chain …`: commands on a chain's stored blocks. */
import type { Command } from 'commander';
import { genesisState } from '../contracts/index.ts';
import { loadGenesis, verifyChain } from '../ledger/index.ts';

export function addChainCommands(program: Command, out: (text: string) => void): void {
  const chain = program.command('chain').description('inspect and verify a stored chain');
  chain
    .command('verify')
    .description(
      'verify a chain offline: hash links, signatures, Merkle roots, commit certificates, indexes, state',
    )
    .requiredOption('--chain <dir>', "the chain's LevelDB directory (the node must be stopped)")
    .requiredOption('--genesis <file>', 'the genesis.json the chain was created from')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExample:\n  medledger chain verify --chain ~/.medledger/chain --genesis genesis.json',
    )
    .action(async (options: { chain: string; genesis: string; json?: boolean }) => {
      const genesis = await loadGenesis(options.genesis);
      const report = await verifyChain(options.chain, genesis, genesisState(genesis));
      if (options.json) {
        out(JSON.stringify(report));
      } else if (report.ok) {
        out(`chain ${genesis.chainId} verified: ${report.blocks} blocks, ${report.txs} transactions`);
      } else {
        const at =
          report.problem!.height === null ? 'a record of unknown height' : `height ${report.problem!.height}`;
        out(
          `chain ${genesis.chainId} is INVALID at ${at}: ${report.problem!.code}: ${report.problem!.detail}`,
        );
      }
      if (!report.ok) process.exitCode = 1;
    });
}
