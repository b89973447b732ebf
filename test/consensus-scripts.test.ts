/**
 * Scripted tests of one PBFT replica, in the manner of etcd raft's testdata: each file in
 * test/testdata/consensus/*.txt is a scenario. The runner steps the replica with events written as
 * short lines and compares the actions it returns with the expected lines under each event. Messages
 * from the other validators are built and signed here with the network's real validator keys, so the
 * replica verifies them exactly as it would on the wire. `UPDATE_TESTDATA=1 npx vitest run
 * test/consensus-scripts.test.ts` rewrites the expected lines, so a change of behaviour shows as a
 * diff of the scripts.
 *
 * Format. `#` starts a comment line. The first command is `setup n=4 self=0` (any ConsensusParams
 * field may follow as name=value; the rest are the defaults below). A command is a line at column 0;
 * the indented lines after it are the actions it must return, in order (`(none)` for none).
 *
 * Commands (F is a validator index, V a view, H a height, NAME a block or transaction name):
 *   start                                   the replica's start()
 *   block NAME [parent=NAME] [view=V] [time=MS] txs=tx1,tx2
 *                                           define a block: on genesis or on `parent`, proposed in
 *                                           view V (default 0) by its primary, MS (default 1000)
 *                                           after its parent; its state root is what the stand-in
 *                                           executor yields
 *   clock MS                                the replica's clock: MS after the genesis time
 *                                           (default 1000)
 *   submit tx1 tx2                          client transactions (each name is a new tx, one client)
 *   deliver F -> S KIND key=value...        a message from validator F to the replica S (= self):
 *       PRE-PREPARE view=V block=NAME [swap=NAME2]  (height from the block; swap: NAME2's
 *                                            transactions under NAME's signed header)
 *       PREPARE view=V block=NAME           COMMIT view=V block=NAME
 *       CHECKPOINT block=NAME               VIEW-CHANGE view=V [prepared=NAME,NAME]
 *                                           (on the genesis checkpoint; each prepared block with
 *                                            its certificate in the block's own view)
 *       NEW-VIEW view=V                     (from the VIEW-CHANGEs of view V seen so far, a quorum,
 *                                            with the re-proposals they imply)
 *       STATUS view=V [changing] height=H   TXS txs=tx1,tx2 [forged=tx2] (tx2's signature flipped)
 *       BODIES blocks=NAME,NAME [swap=NAME2]  (the answer to GET-BODIES blocks=NAME,...)
 *       GET-BODIES blocks=NAME,NAME
 *       PROPOSAL view=V block=NAME           (the PRE-PREPARE by its transactions' hashes)
 *       GET-TXS block=NAME indexes=I,I       BLOCK-TXS block=NAME txs=tx1,tx2
 *   tick TIMER                              a timer fires: request, viewchange, batch or status
 *   lost F / connected F                    the transport's connection to validator F closed / opened
 *   built [NAME] [txs=tx1,tx2|-]            answer the pending `build` (the block is named NAME,
 *                                           default B<height>); with txs, only those (`-`: none),
 *                                           as when the executor leaves some out
 *   executed NAME [fail]                    answer an `execute` (fail: the block does not execute)
 *   fetched NAME...                         answer a `fetch` with these blocks, each with a quorum
 *                                           certificate
 *   restart                                 a new replica from what this one persisted and the last
 *                                           block it committed, then its start()
 *   info                                    print the replica's view, status and executed height
 *                                           (and the proposal transactions held and missing, once any)
 *
 * Actions, one line each (`*` is every other validator):
 *   send S -> T|* KIND ...                  a message, in the notation of `deliver`, except:
 *       VIEW-CHANGE view=V checkpoint=H prepared=NAME,...|-
 *       NEW-VIEW view=V view-changes=F,F,... reproposals=NAME,...|-
 *   persist signed PHASE v=V h=H block=NAME | prepared v=V h=H block=NAME | view v=V [changing]
 *         | stable h=H block=NAME
 *   timer set TIMER MS | timer cancel TIMER
 *   build h=H v=V parent=NAME txs=...       execute NAME
 *   commit h=H block=NAME cert-view=V votes=F,F,...
 *   fetch FROM..TO peers=F,F
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import {
  assertNever,
  type CheckpointProof,
  type ConsensusAction,
  type ConsensusEvent,
  type ConsensusMessage,
  type ConsensusParams,
  chooseReproposals,
  DEFAULT_CONSENSUS_PARAMS,
  type DurableRecord,
  type PreparedCert,
  proposalOf,
  Replica,
  type RestoredState,
  signCommitMessage,
  signMessage,
  type TimerId,
  type ViewChange,
  wireForm,
} from '../src/consensus/index.ts';
import {
  assembleBlock,
  type Block,
  blockHash,
  type CommitCertificate,
  genesisBlock,
  nextStateRoot,
  quorumSize,
  signCommit,
  sortVotes,
  type Transaction,
  txHash,
} from '../src/ledger/index.ts';
import { executeForTest, makeNetwork, makeTx, type TestNetwork } from './fixtures/chain.ts';

const DIR = join(import.meta.dirname, 'testdata', 'consensus');
const UPDATE = process.env.UPDATE_TESTDATA === '1';

const SCRIPT_PARAMS: ConsensusParams = {
  ...DEFAULT_CONSENSUS_PARAMS,
  batchMaxTxs: 2,
  batchDelay_ms: 2,
  window: 3,
  checkpointInterval: 2,
  logSize: 8,
  requestTimeout_ms: 200,
  viewChangeTimeout_ms: 300,
  statusInterval_ms: 100,
};

const KIND_NAMES: Record<ConsensusMessage['kind'], string> = {
  preprepare: 'PRE-PREPARE',
  prepare: 'PREPARE',
  commit: 'COMMIT',
  checkpoint: 'CHECKPOINT',
  viewchange: 'VIEW-CHANGE',
  newview: 'NEW-VIEW',
  status: 'STATUS',
  getbodies: 'GET-BODIES',
  bodies: 'BODIES',
  txs: 'TXS',
  proposal: 'PROPOSAL',
  gettxs: 'GET-TXS',
  blocktxs: 'BLOCK-TXS',
};

function args(words: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq > 0) out.set(word.slice(0, eq), word.slice(eq + 1));
  }
  return out;
}

function need(map: Map<string, string>, key: string, line: string): string {
  const value = map.get(key);
  if (value === undefined) throw new Error(`${line}: missing ${key}=`);
  return value;
}

/** One scenario: the replica under test and everything the script names. */
class Script {
  readonly net: TestNetwork;
  readonly n: number;
  readonly self: number;
  readonly params: ConsensusParams;
  replica: Replica;
  readonly quorum: number;
  readonly #genesis: Block;
  readonly #blocks = new Map<string, Block>();
  readonly #blockNames = new Map<string, string>();
  readonly #txs = new Map<string, Transaction>();
  readonly #txNames = new Map<string, string>();
  readonly #viewChanges = new Map<number, Map<number, ViewChange>>();
  readonly #committed = new Set<string>();
  /** What the replica persisted and the last block it committed: what a restart starts from. */
  readonly #records: DurableRecord[] = [];
  #head: Block;
  #nonce = 0;
  /** The replica's clock, as an offset from the genesis time (the `clock` command). */
  #clockOffset_ms = 1000;
  #pendingBuild: Extract<ConsensusAction, { kind: 'build' }> | null = null;

  constructor(setup: Map<string, string>) {
    this.n = Number(setup.get('n') ?? 4);
    this.self = Number(setup.get('self') ?? 0);
    const params: Record<string, number> = { ...SCRIPT_PARAMS };
    for (const [key, value] of setup) {
      if (key === 'n' || key === 'self') continue;
      if (!(key in params)) throw new Error(`setup: unknown parameter ${key}`);
      params[key] = Number(value);
    }
    this.params = params as unknown as ConsensusParams;
    this.net = makeNetwork({ validators: this.n, clients: 1 });
    this.quorum = quorumSize(this.n);
    this.#genesis = genesisBlock(this.net.genesis);
    this.#name(this.#genesis, 'genesis');
    this.#head = this.#genesis;
    this.replica = this.#makeReplica();
  }

  #makeReplica(restored?: RestoredState): Replica {
    const g = this.#genesis.header;
    return new Replica(
      {
        chainId: this.net.genesis.chainId,
        validators: this.net.validators.map((v) => v.publicKey),
        self: this.self,
        secretKey: this.net.validators[this.self]!.secretKey,
        params: this.params,
        genesis: { hash: blockHash(g), stateRoot: g.stateRoot, timestamp: g.timestamp },
        isCommitted: (hash) => this.#committed.has(hex(hash)),
        clock: () => g.timestamp + this.#clockOffset_ms,
      },
      restored,
    );
  }

  get #chainId(): string {
    return this.net.genesis.chainId;
  }

  #name(block: Block, name: string): void {
    if (this.#blocks.has(name)) throw new Error(`block ${name} is defined twice`);
    this.#blocks.set(name, block);
    this.#blockNames.set(hex(blockHash(block.header)), name);
  }

  #block(name: string): Block {
    const block = this.#blocks.get(name);
    if (!block) throw new Error(`unknown block ${name}`);
    return block;
  }

  #tx(name: string): Transaction {
    let tx = this.#txs.get(name);
    if (!tx) {
      tx = makeTx(this.net.clients[0]!, ++this.#nonce, this.#chainId);
      this.#txs.set(name, tx);
      this.#txNames.set(hex(txHash(tx)), name);
    }
    return tx;
  }

  #txNameOf(tx: Transaction, index: number): string {
    return this.#txNames.get(hex(txHash(tx))) ?? `#${index}`;
  }

  #makeBlock(parent: Block, view: number, txs: Transaction[], after_ms = 1000): Block {
    const { receipts, writes } = executeForTest(txs);
    return assembleBlock({
      chainId: this.#chainId,
      height: parent.header.height + 1,
      view,
      timestamp: parent.header.timestamp + after_ms,
      prevHash: blockHash(parent.header),
      stateRoot: nextStateRoot(parent.header.stateRoot, writes, receipts),
      proposer: this.net.validators[view % this.n]!.publicKey,
      txs,
    });
  }

  #sk(from: number): Uint8Array {
    return this.net.validators[from]!.secretKey;
  }

  #prePrepare(from: number, view: number, block: Block) {
    const { height } = block.header;
    return signMessage(this.#chainId, 'preprepare', { from, view, height, block }, this.#sk(from));
  }

  /** The prepared certificate of `block` in its own view: its primary's PRE-PREPARE and q-1 PREPAREs. */
  #preparedCert(block: Block): PreparedCert {
    const { view, height } = block.header;
    const primary = view % this.n;
    const prepares = [];
    for (let from = 0; from < this.n && prepares.length < this.quorum - 1; from++) {
      if (from === primary) continue;
      prepares.push(
        signMessage(
          this.#chainId,
          'prepare',
          { from, view, height, blockHash: blockHash(block.header) },
          this.#sk(from),
        ),
      );
    }
    return { prePrepare: proposalOf(this.#prePrepare(primary, view, block)), prepares };
  }

  #certificate(block: Block): CommitCertificate {
    const { height, view } = block.header;
    const statement = { chainId: this.#chainId, height, view, blockHash: blockHash(block.header) };
    const votes = this.net.validators.slice(0, this.quorum).map((v) => signCommit(statement, v.secretKey));
    return { height, view, blockHash: statement.blockHash, votes: sortVotes(votes) };
  }

  #genesisCheckpoint(): CheckpointProof {
    const g = this.#genesis.header;
    return { height: 0, blockHash: blockHash(g), stateRoot: g.stateRoot, votes: [] };
  }

  #remember(vc: ViewChange): void {
    let byView = this.#viewChanges.get(vc.newView);
    if (!byView) {
      byView = new Map();
      this.#viewChanges.set(vc.newView, byView);
    }
    if (!byView.has(vc.from)) byView.set(vc.from, vc);
  }

  #message(from: number, kind: string, a: Map<string, string>, line: string): ConsensusMessage {
    const view = () => Number(need(a, 'view', line));
    const block = () => this.#block(need(a, 'block', line));
    switch (kind) {
      case 'PRE-PREPARE': {
        const pp = this.#prePrepare(from, view(), block());
        // swap=NAME: the signed proposal arrives with NAME's transactions attached instead.
        const swap = a.get('swap');
        if (swap) return { kind: 'preprepare', ...pp, block: { ...pp.block, txs: this.#block(swap).txs } };
        return { kind: 'preprepare', ...pp };
      }
      case 'PROPOSAL': {
        // The PRE-PREPARE by its transactions' hashes, as validators send it (wireForm).
        return wireForm({ kind: 'preprepare', ...this.#prePrepare(from, view(), block()) });
      }
      case 'GET-TXS': {
        const indexes = need(a, 'indexes', line).split(',').map(Number);
        return { kind: 'gettxs', blockHash: blockHash(block().header), indexes };
      }
      case 'GET-BODIES': {
        const names = need(a, 'blocks', line).split(',');
        return { kind: 'getbodies', hashes: names.map((name) => blockHash(this.#block(name).header)) };
      }
      case 'BLOCK-TXS': {
        const txs = need(a, 'txs', line)
          .split(',')
          .map((t) => this.#tx(t));
        return { kind: 'blocktxs', blockHash: blockHash(block().header), txs };
      }
      case 'PREPARE': {
        const b = block();
        const body = { from, view: view(), height: b.header.height, blockHash: blockHash(b.header) };
        return { kind: 'prepare', ...signMessage(this.#chainId, 'prepare', body, this.#sk(from)) };
      }
      case 'COMMIT': {
        const b = block();
        const body = { from, view: view(), height: b.header.height, blockHash: blockHash(b.header) };
        return { kind: 'commit', ...signCommitMessage(this.#chainId, body, this.#sk(from)) };
      }
      case 'CHECKPOINT': {
        const { header } = block();
        const body = {
          from,
          height: header.height,
          blockHash: blockHash(header),
          stateRoot: header.stateRoot,
        };
        return { kind: 'checkpoint', ...signMessage(this.#chainId, 'checkpoint', body, this.#sk(from)) };
      }
      case 'VIEW-CHANGE': {
        const prepared = (a.get('prepared') ?? '')
          .split(',')
          .filter(Boolean)
          .map((name) => this.#preparedCert(this.#block(name)));
        const body = { from, newView: view(), checkpoint: this.#genesisCheckpoint(), prepared };
        const vc = signMessage(this.#chainId, 'viewchange', body, this.#sk(from));
        this.#remember(vc);
        return { kind: 'viewchange', ...vc };
      }
      case 'NEW-VIEW': {
        const v = view();
        const viewChanges = [...(this.#viewChanges.get(v)?.values() ?? [])]
          .sort((x, y) => x.from - y.from)
          .slice(0, this.quorum);
        const prePrepares = chooseReproposals(viewChanges).headers.map((header) =>
          proposalOf(this.#prePrepare(from, v, this.#block(this.#blockName(blockHash(header))))),
        );
        const body = { from, view: v, viewChanges, prePrepares };
        return { kind: 'newview', ...signMessage(this.#chainId, 'newview', body, this.#sk(from)) };
      }
      case 'STATUS':
        return {
          kind: 'status',
          view: view(),
          changing: a.has('changing'),
          height: Number(need(a, 'height', line)),
          blockHash: new Uint8Array(32),
        };
      case 'BODIES': {
        // swap=NAME: each block's header arrives with NAME's transactions.
        const swap = a.get('swap');
        const blocks = need(a, 'blocks', line)
          .split(',')
          .map((name) => this.#block(name));
        if (!swap) return { kind: 'bodies', blocks };
        return { kind: 'bodies', blocks: blocks.map((b) => ({ ...b, txs: this.#block(swap).txs })) };
      }
      case 'TXS': {
        const txs = need(a, 'txs', line)
          .split(',')
          .map((t) => this.#tx(t));
        // forged=tx2: that transaction arrives with one bit of its signature flipped.
        const forged = new Set((a.get('forged') ?? '').split(',').filter(Boolean));
        return {
          kind: 'txs',
          txs: txs.map((tx, i) => (forged.has(this.#txNameOf(tx, i)) ? withFlippedSignature(tx) : tx)),
        };
      }
      default:
        throw new Error(`${line}: unknown message kind ${kind}`);
    }
  }

  /** Runs one command; returns the canonical lines of what it produced. */
  run(line: string): string[] {
    const [command, ...rest] = line.split(/\s+/);
    const a = args(rest);
    switch (command) {
      case 'start':
        return this.#actions(this.replica.start());
      case 'restart': {
        const { header } = this.#head;
        const executed = {
          height: header.height,
          hash: blockHash(header),
          stateRoot: header.stateRoot,
          timestamp: header.timestamp,
        };
        this.#pendingBuild = null;
        this.replica = this.#makeReplica({ executed, records: [...this.#records] });
        return this.#actions(this.replica.start());
      }
      case 'info': {
        const { view, changingView, executedHeight, untimelyProposals, proposalTxs } = this.replica.info;
        const untimely = untimelyProposals > 0 ? ` untimely=${untimelyProposals}` : '';
        const byHash =
          proposalTxs.held + proposalTxs.missing > 0
            ? ` proposal-txs held=${proposalTxs.held} missing=${proposalTxs.missing}`
            : '';
        return [
          `view=${view} status=${changingView ? 'view-change' : 'normal'} executed=${executedHeight}${untimely}${byHash}`,
        ];
      }
      case 'block': {
        const name = rest[0]!;
        const parent = this.#block(a.get('parent') ?? 'genesis');
        const txs = need(a, 'txs', line)
          .split(',')
          .map((t) => this.#tx(t));
        const after_ms = Number(a.get('time') ?? 1000);
        this.#name(this.#makeBlock(parent, Number(a.get('view') ?? 0), txs, after_ms), name);
        return [];
      }
      case 'clock': {
        this.#clockOffset_ms = Number(rest[0]);
        return [];
      }
      case 'submit':
        return rest.flatMap((name) => this.#step({ kind: 'txs', txs: [this.#tx(name)], from: null }));
      case 'deliver': {
        const [from, arrow, to, kind] = rest;
        if (arrow !== '->' || Number(to) !== this.self)
          throw new Error(`${line}: deliver F -> ${this.self} KIND`);
        const message = this.#message(Number(from), kind!, a, line);
        return this.#step({ kind: 'message', from: Number(from), message });
      }
      case 'tick':
        return this.#step({ kind: 'timer', timer: rest[0] as TimerId });
      case 'lost':
      case 'connected':
        return this.#step({ kind: 'peer', peer: Number(rest[0]), connected: command === 'connected' });
      case 'built': {
        const build = this.#pendingBuild;
        if (!build) throw new Error(`${line}: no build pending`);
        this.#pendingBuild = null;
        const parent = this.#blocks.get(this.#blockName(build.parent.hash));
        if (!parent) throw new Error(`${line}: the parent of the build is unknown`);
        const kept = a.get('txs');
        const txs =
          kept === undefined ? build.txs : kept === '-' ? [] : kept.split(',').map((t) => this.#tx(t));
        const block = this.#makeBlock(parent, build.view, txs);
        const name = rest[0]?.includes('=') === false ? rest[0] : `B${build.height}`;
        this.#name(block, name);
        return this.#step({ kind: 'built', block });
      }
      case 'executed': {
        const block = this.#block(rest[0]!);
        const ok = rest[1] !== 'fail';
        const { height, stateRoot } = block.header;
        return this.#step({ kind: 'executed', height, blockHash: blockHash(block.header), ok, stateRoot });
      }
      case 'fetched': {
        const blocks = rest.map((name) => {
          const block = this.#block(name);
          return { block, certificate: this.#certificate(block) };
        });
        return this.#step({ kind: 'fetched', blocks });
      }
      default:
        throw new Error(`unknown command: ${line}`);
    }
  }

  #step(event: ConsensusEvent): string[] {
    return this.#actions(this.replica.step(event));
  }

  #blockName(hash: Uint8Array): string {
    return this.#blockNames.get(hex(hash)) ?? `?${hex(hash).slice(0, 8)}`;
  }

  #txList(txs: readonly Transaction[]): string {
    return txs.map((tx) => this.#txNames.get(hex(txHash(tx))) ?? `?${hex(txHash(tx)).slice(0, 8)}`).join(',');
  }

  #formatMessage(m: ConsensusMessage): string {
    const kind = KIND_NAMES[m.kind];
    switch (m.kind) {
      case 'preprepare':
        return `${kind} view=${m.view} block=${this.#blockName(blockHash(m.block.header))}`;
      case 'prepare':
      case 'commit':
        return `${kind} view=${m.view} block=${this.#blockName(m.blockHash)}`;
      case 'checkpoint':
        return `${kind} block=${this.#blockName(m.blockHash)}`;
      case 'viewchange': {
        const prepared = m.prepared.map((c) => this.#blockName(blockHash(c.prePrepare.header)));
        return `${kind} view=${m.newView} checkpoint=${m.checkpoint.height} prepared=${prepared.join(',') || '-'}`;
      }
      case 'newview': {
        const from = m.viewChanges.map((vc) => vc.from).join(',');
        const blocks = m.prePrepares.map((pp) => this.#blockName(blockHash(pp.header)));
        return `${kind} view=${m.view} view-changes=${from} reproposals=${blocks.join(',') || '-'}`;
      }
      case 'status':
        return `${kind} view=${m.view}${m.changing ? ' changing' : ''} height=${m.height}`;
      case 'txs':
        return `${kind} txs=${this.#txList(m.txs)}`;
      case 'getbodies':
        return `${kind} blocks=${m.hashes.map((hash) => this.#blockName(hash)).join(',')}`;
      case 'bodies':
        return `${kind} blocks=${m.blocks.map((b) => this.#blockName(blockHash(b.header))).join(',')}`;
      case 'proposal':
        return `${kind} view=${m.view} block=${this.#blockName(blockHash(m.header))} txs=${m.txHashes.length}`;
      case 'gettxs':
        return `${kind} block=${this.#blockName(m.blockHash)} indexes=${m.indexes.join(',')}`;
      case 'blocktxs':
        return `${kind} block=${this.#blockName(m.blockHash)} txs=${this.#txList(m.txs)}`;
      default:
        return assertNever(m);
    }
  }

  #actions(actions: ConsensusAction[]): string[] {
    const lines: string[] = [];
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          lines.push(`send ${this.self} -> ${action.to} ${this.#formatMessage(action.message)}`);
          break;
        case 'broadcast':
          if (action.message.kind === 'viewchange') this.#remember(action.message);
          lines.push(`send ${this.self} -> * ${this.#formatMessage(action.message)}`);
          break;
        case 'setTimer':
          lines.push(`timer set ${action.timer} ${action.delay_ms}`);
          break;
        case 'cancelTimer':
          lines.push(`timer cancel ${action.timer}`);
          break;
        case 'persist':
          this.#records.push(...action.records);
          for (const r of action.records) {
            switch (r.kind) {
              case 'signed':
                lines.push(
                  `persist signed ${r.phase} v=${r.view} h=${r.height} block=${this.#blockName(r.blockHash)}`,
                );
                break;
              case 'prepared': {
                const pp = r.cert.prePrepare;
                lines.push(
                  `persist prepared v=${pp.view} h=${pp.height} block=${this.#blockName(blockHash(pp.block.header))}`,
                );
                break;
              }
              case 'view':
                lines.push(`persist view v=${r.view}${r.changing ? ' changing' : ''}`);
                break;
              case 'floor':
                lines.push(`persist floor v=${r.view}`);
                break;
              case 'stable':
                lines.push(`persist stable h=${r.proof.height} block=${this.#blockName(r.proof.blockHash)}`);
                break;
              default:
                assertNever(r);
            }
          }
          break;
        case 'build':
          this.#pendingBuild = action;
          lines.push(
            `build h=${action.height} v=${action.view} parent=${this.#blockName(action.parent.hash)} txs=${this.#txList(action.txs)}`,
          );
          break;
        case 'execute':
          lines.push(`execute ${this.#blockName(blockHash(action.block.header))}`);
          break;
        case 'commit': {
          const c = action.certificate;
          const voters = c.votes.map((v) =>
            this.net.validators.findIndex((k) => hex(k.publicKey) === hex(v.validator)),
          );
          for (const tx of action.block.txs) this.#committed.add(hex(txHash(tx)));
          this.#head = action.block;
          lines.push(
            `commit h=${c.height} block=${this.#blockName(c.blockHash)} cert-view=${c.view} votes=${voters.sort((x, y) => x - y).join(',')}`,
          );
          break;
        }
        case 'fetch':
          lines.push(`fetch ${action.fromHeight}..${action.toHeight} peers=${action.peers.join(',')}`);
          break;
        case 'misbehaviour':
          lines.push(`misbehaviour peer=${action.peer} ${action.reason}`);
          break;
        default:
          assertNever(action);
      }
    }
    return lines;
  }
}

function withFlippedSignature(tx: Transaction): Transaction {
  const signature = new Uint8Array(tx.signature);
  signature[0] = signature[0]! ^ 1;
  return { ...tx, signature };
}

/** Runs a script; returns its text with every command's expected lines replaced by what happened. */
function runScript(text: string): string {
  const out: string[] = [];
  let script: Script | null = null;
  for (const raw of text.split('\n')) {
    if (raw.startsWith(' ') || raw === '') continue; // expected lines and blank lines are regenerated
    out.push(raw);
    if (raw.startsWith('#')) continue;
    const line = raw.trim();
    if (line.startsWith('setup')) {
      if (script) throw new Error('setup comes once, first');
      script = new Script(args(line.split(/\s+/).slice(1)));
      continue;
    }
    if (!script) throw new Error('the first command is setup');
    const lines = script.run(line);
    if (line.startsWith('block ')) continue;
    out.push(...(lines.length ? lines : ['(none)']).map((l) => `  ${l}`));
    out.push('');
  }
  while (out.at(-1) === '') out.pop();
  return `${out.join('\n')}\n`;
}

/** The text with blank lines dropped, for comparing scripts regardless of spacing. */
const normalise = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .join('\n');

describe('consensus scripts (test/testdata/consensus)', () => {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  it('has scripts', () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    it(file, () => {
      const path = join(DIR, file);
      const text = readFileSync(path, 'utf8');
      const actual = runScript(text);
      if (UPDATE) writeFileSync(path, actual);
      else expect(normalise(actual)).toBe(normalise(text));
    });
  }
});
