/**
 * Read-only node inspection: `status` (open to anyone), `block show HEIGHT` and `block follow` (the
 * node's operator, --operator-key) and `tx show HASH` (its sender, --keystore, or the node's operator).
 */
import type { Command } from 'commander';
import { operatorSigner, signedClient, unlockKeystore } from '../../client/index.ts';
import { isoTime, type Out, printFields, printJson, printTable } from '../../client/output.ts';
import { parseHeight, parseTxHash } from '../../client/parse.ts';
import { MedledgerError } from '../../errors.ts';
import {
  type CommonOptions,
  clientFor,
  operatorClientFor,
  operatorKeyOption,
  operatorKeyPath,
  operatorKeyRequired,
  operatorOptions,
  withExample,
} from './common.ts';

/** `12 s ago` for an ISO time. */
function ago(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

export function addInspectCommands(program: Command, out: Out): void {
  withExample(
    operatorOptions(program.command('status').description("the node's chain, head and consensus status")),
    'medledger status --node http://127.0.0.1:26701',
  ).action(async (options: CommonOptions) => {
    const client = clientFor(options);
    const [node, status] = await Promise.all([client.nodeInfo(), client.status()]);
    if (options.json) return printJson(out, { node, status });
    printFields(out, {
      node: `${node.validator.name} (validator ${node.validator.index}) at ${client.url}`,
      chain: node.chainId,
      version: node.version,
      height: status.height,
      'head hash': status.hash,
      'state root': status.stateRoot,
      view: `${status.view}${status.changingView ? ' (changing view)' : ''}, ${status.viewChanges} view changes`,
      peers: `${status.peers} of ${node.peers.length} connected`,
      'p2p advertised': node.p2p.advertised.join(', ') || '(none: dials out only)',
    });
    out('');
    printTable(
      out,
      ['peer', 'connected', 'address', 'since', 'last message'],
      node.peers.map((peer) => [
        peer.name,
        peer.connected,
        peer.address ?? peer.addresses.join(', '),
        peer.connectedSince ? peer.connectedSince.replace(/\.\d{3}Z$/, 'Z') : null,
        peer.lastMessageAt ? ago(peer.lastMessageAt) : null,
      ]),
      '(no other validators)',
    );
  });

  const block = program.command('block').description('committed blocks');
  withExample(
    operatorOptions(
      operatorKeyOption(
        block
          .command('show')
          .description(
            'one committed block whole: its hash links, roots, proposer, commit certificate and ' +
              "transactions (the node's operator's: signed with its operator key)",
          )
          .argument('<height>', 'the block height'),
      ),
    ),
    'medledger block show 12 --operator-key ./st-mary/operator.key',
  ).action(async (heightText: string, options: CommonOptions) => {
    const height = parseHeight(heightText);
    const found = await (await operatorClientFor(options)).block(height);
    if (options.json) return printJson(out, found);
    const signers = found.certificate?.signers ?? [];
    printFields(out, {
      height: found.height,
      hash: found.hash,
      'previous hash': found.prevHash,
      time: isoTime(found.timestamp),
      view: found.view,
      proposer: found.proposer,
      'tx root': found.txRoot,
      'state root': found.stateRoot,
      version: found.version,
      certificate: found.certificate
        ? `${signers.length} COMMIT signatures (view ${found.certificate.view}): ${signers.map((s) => s.name ?? s.validator).join(', ')}`
        : 'none (the genesis file vouches for height 0)',
      transactions: found.txs.length,
    });
    for (const hash of found.txs) out(`  ${hash}`);
  });

  withExample(
    operatorOptions(
      operatorKeyOption(
        block
          .command('follow')
          .description(
            'committed blocks as they commit, one line each (with --json, one JSON object per line), ' +
              "from --from (default: the next one) until --to or Ctrl-C (the node's operator's)",
          )
          .option('--from <height>', 'the first height (default: the one after the head)')
          .option('--to <height>', 'the last height: stop after it'),
      ),
    ),
    'medledger block follow --from 1 --to 100 --json --operator-key ./st-mary/operator.key',
  ).action(async (options: CommonOptions & { from?: string; to?: string }) => {
    const from = options.from === undefined ? undefined : parseHeight(options.from);
    const to = options.to === undefined ? undefined : parseHeight(options.to);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    try {
      const client = await operatorClientFor(options);
      for await (const found of client.followBlocks({ from, to, signal: stop.signal })) {
        if (options.json) out(JSON.stringify(found));
        else
          out(
            `${found.height}  ${isoTime(found.timestamp)}  view ${found.view}  ${found.txs.length} txs` +
              `${found.refused > 0 ? ` (${found.refused} refused)` : ''}  ${found.hash}`,
          );
      }
    } finally {
      process.off('SIGINT', onSignal);
    }
  });

  const tx = program.command('tx').description('committed transactions');
  withExample(
    operatorOptions(
      operatorKeyOption(
        tx
          .command('show')
          .description(
            'one committed transaction with its receipt (a receipt names patients and records: its ' +
              "sender sees it, with --keystore, or the node's operator, with --operator-key)",
          )
          .argument('<hash>', 'the transaction hash (64 hex digits)'),
      ),
      'sender',
    ),
    'medledger tx show 9a0c… --keystore dr-adams.key',
    'medledger tx show 9a0c… --operator-key ./st-mary/operator.key',
  ).action(async (hashText: string, options: CommonOptions) => {
    const hash = parseTxHash(hashText);
    const found = await (await txClient(options)).tx(hash);
    if (found === null) {
      throw new MedledgerError('API_TX_NOT_FOUND', `no committed transaction ${hash} (yet)`);
    }
    if (options.json) return printJson(out, found);
    printFields(out, {
      transaction: hash,
      type: found.type ?? null,
      sender: found.sender ?? null,
      nonce: found.nonce ?? null,
      block: `${found.height}, index ${found.index}`,
      result: `${found.receipt.code}${found.receipt.message ? `: ${found.receipt.message}` : ''}`,
    });
    for (const event of found.receipt.events) {
      const attributes = Object.entries(event.attributes).map(([name, value]) => `${name}=${value}`);
      out(`  event ${event.type} ${attributes.join(' ')}`);
    }
  });
}

/** `tx show`'s client: signed as the sender (--keystore), else by the node's operator. */
async function txClient(options: CommonOptions) {
  if (options.keystore !== undefined) {
    return signedClient(clientFor(options), await unlockKeystore(options.keystore));
  }
  const path = operatorKeyPath(options);
  if (path === undefined) throw operatorKeyRequired("; or sign as the transaction's sender: --keystore FILE");
  return clientFor(options).asOperator(await operatorSigner(path));
}
