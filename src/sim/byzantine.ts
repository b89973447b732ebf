/**
 * Byzantine replicas: an adversary that wraps a real replica and rewrites what it sends, signing
 * with the replica's own secret key (so its lies carry valid signatures, as a real attacker's
 * would). The wrapped replica runs the honest protocol internally and does not know. Byzantine
 * replicas collude through a CollusionBoard.
 *
 * Behaviours (any combination):
 * - equivocate: as primary, send one block to part of the replicas and a different valid block
 *   (header nonce changed, or one transaction fewer with the state root recomputed) to the rest,
 *   with matching COMMITs; or withhold the proposal from some replicas; or send a block with a
 *   tampered transaction;
 * - conflicting-votes: PREPARE/COMMIT for a random other hash to some peers, and votes for every
 *   block it or a fellow Byzantine replica sees proposed, sent to the replicas that hold that block
 *   (or a random subset): double voting, selectively;
 * - silence: long stretches in which it sends nothing;
 * - replay: old messages (its own and others') re-sent at random later times;
 * - forge: copies of its messages claiming another validator's `from`, with flipped signature bits
 *   or altered contents; lying STATUS heights; transactions with broken signatures; tampered
 *   certificates when serving state transfer;
 * - bogus-viewchange: VIEW-CHANGEs with fake prepared certificates or a wrong checkpoint, or that
 *   omit what it prepared; as new primary, NEW-VIEWs whose re-proposals do not follow from their
 *   view changes, and valid NEW-VIEWs built from the view changes that reveal the least; NEW-VIEWs
 *   from a replica that is not the new primary.
 *
 * Targeted attacks, each something a check of the honest code refuses, so that it breaks safety or
 * validity only when that check is missing:
 * - forge-preprepare: PRE-PREPAREs claiming to be the primary's, with a signature that does not
 *   verify, for a block with a transaction no client sent, with our votes for it;
 * - bad-tx: as primary, proposals whose first transaction's signature is broken (roots recomputed,
 *   so the block executes), with our COMMIT for them;
 * - forge-newview: as new primary, a NEW-VIEW with a valid quorum of VIEW-CHANGEs whose re-proposals
 *   put a different block at the lowest height some honest replica has committed and a quorum's
 *   worth of the others (by their STATUS) have not, with our COMMITs for it;
 * - split-votes: as primary, one block to half the honest replicas and a valid variant to the
 *   other half, with every Byzantine replica's votes for each block sent to its holders only: a
 *   quorum one short lets both halves commit.
 * - flood-requests: at every tick, GET-TXS for every transaction of the latest proposals it knows and
 *   GET-BODIES for those blocks, several times over, to every other replica: many times what an
 *   honest replica asks for in a STATUS period, which the answer budget keeps from costing the askee
 *   without bound.
 * - mangle: copies of what it sends and of what it has seen, each changed at one random place into
 *   another message that still decodes (mangle.ts), proposals also in their by-hash form: edge-value
 *   heights, views, indexes and senders, cut or lengthened hashes and signatures, lists emptied or
 *   with an item repeated. A replica must refuse or ignore each without throwing.
 */
import { bytesEqual, hex } from '../bytes.ts';
import {
  type CheckpointProof,
  ConsensusMessage,
  MAX_BODIES,
  type NewView,
  type PrePrepare,
  type SignedProposal,
  type Status,
  signCommitMessage,
  signMessage,
  signProposal,
  type ViewChange,
  wireForm,
} from '../consensus/messages.ts';
import { checkViewChange, chooseReproposals, type ValidatorContext } from '../consensus/view-change.ts';
import {
  assembleBlock,
  type Block,
  type BlockHeader,
  blockHash,
  type CommitCertificate,
  maxFaults,
  quorumSize,
  signTransaction,
  type Transaction,
  txRootOf,
} from '../ledger/index.ts';
import type { Prng } from '../prng.ts';
import type { CollusionBoard, Posting } from './collusion.ts';
import type { ByzantineBehaviour } from './faults.ts';
import { mangle } from './mangle.ts';

export interface Outgoing {
  to: number;
  message: ConsensusMessage;
}

export interface AdversaryContext {
  self: number;
  chainId: string;
  secretKey: Uint8Array;
  validators: readonly Uint8Array[];
  genesis: { hash: Uint8Array; stateRoot: Uint8Array };
  /** The wrapped replica's current view and executed height. */
  view(): number;
  executedHeight(): number;
  /** The block the wrapped replica committed at `height`, if it has. */
  committed(height: number): Block | undefined;
  /**
   * The state root `txs` produce in a block at `header` on top of block `parent`, run by the rule
   * engine on the wrapped replica's state (committed or speculative); undefined if it cannot tell.
   */
  stateRootAfter(
    parent: Uint8Array,
    header: { height: number; timestamp: number },
    txs: readonly Transaction[],
  ): Uint8Array | undefined;
  /** Puts messages of the adversary's own making on the wire now. */
  send(out: Outgoing[]): void;
  /** Virtual time now. */
  now_ms(): number;
  /** How far from their clocks honest replicas let a new proposal's timestamp be. */
  maxClockSkew_ms: number;
}

const REPLAY_MEMORY = 256;
/**
 * With `flood-requests`: the latest heights whose proposals it asks for (replicas hold the blocks
 * above their stable checkpoint), and how many times over at each tick.
 */
const FLOOD_HEIGHTS = 16;
const FLOOD_REPEAT = 12;
/** With `mangle`, the mangled copies made of each message it sends or picks from what it saw. */
const MANGLED_COPIES = 3;

type ProposalMessage = Extract<ConsensusMessage, { kind: 'preprepare' }>;

function flipBit(bytes: Uint8Array, prng: Prng): Uint8Array {
  const out = new Uint8Array(bytes.length > 0 ? bytes : new Uint8Array(1));
  const i = prng.int(out.length);
  out[i] = out[i]! ^ (1 << prng.int(8));
  return out;
}

export class Adversary {
  readonly #behaviours: ReadonlySet<ByzantineBehaviour>;
  readonly #ctx: AdversaryContext;
  readonly #prng: Prng;
  readonly #board: CollusionBoard;
  readonly #n: number;
  readonly #validatorCtx: ValidatorContext;
  /** Equivocations by `view/height`: the variant's hash and who was sent it. */
  readonly #equivocations = new Map<string, { hash: Uint8Array; targets: ReadonlySet<number> }>();
  readonly #echoed = new Set<string>();
  /** Who we decided to send our votes for `view/height/hash` to. */
  readonly #votePlans = new Map<string, ReadonlySet<number>>();
  readonly #memory: ConsensusMessage[] = [];
  /** Valid VIEW-CHANGEs from others for views we would lead, by view then sender. */
  readonly #viewChanges = new Map<number, Map<number, ViewChange>>();
  readonly #newViewsSent = new Set<number>();
  /** Views we rushed an empty VIEW-CHANGE for. */
  readonly #rushed = new Set<number>();
  /** Proposals seen (on the wire, our own, a colluder's), by height: material for re-proposing. */
  readonly #proposals = new Map<number, PrePrepare[]>();
  #silent = false;
  #silenceSwitch_ms = 0;
  /** The executed height each peer last announced in its STATUS. */
  readonly #heights = new Map<number, number>();
  /** `view/height` pairs a PRE-PREPARE was forged for. */
  readonly #forged = new Set<string>();
  /** Blocks we re-proposed in a NEW-VIEW of our making, by hex hash: we hand them to whoever asks. */
  readonly #served = new Map<string, Block>();
  /** View → the highest height our forged NEW-VIEW re-proposed: our replica proposes nothing up to it. */
  readonly #forgedTop = new Map<number, number>();
  /**
   * With `bend-time`, how this primary stamps its blocks: 'stretch' 2-4 times the bound ahead of its
   * clock, 'edge' just inside the bound ahead, 'freeze' at the time of its first bent block for ever.
   */
  readonly #timeBend: 'stretch' | 'edge' | 'freeze' | null;
  #frozen_ms: number | null = null;

  constructor(
    behaviours: readonly ByzantineBehaviour[],
    ctx: AdversaryContext,
    board: CollusionBoard,
    prng: Prng,
  ) {
    this.#behaviours = new Set(behaviours);
    this.#ctx = ctx;
    this.#prng = prng;
    this.#board = board;
    this.#n = ctx.validators.length;
    this.#timeBend = this.#has('bend-time')
      ? prng.pick(['stretch', 'stretch', 'stretch', 'edge', 'freeze'] as const)
      : null;
    this.#validatorCtx = {
      chainId: ctx.chainId,
      validators: ctx.validators,
      quorum: quorumSize(this.#n),
      genesis: ctx.genesis,
    };
    board.listen((posting) => {
      if (posting.by === ctx.self) return;
      if ('block' in posting.prePrepare) this.#noteProposal(posting.prePrepare);
      this.#send(this.#echo(posting));
    });
  }

  #has(behaviour: ByzantineBehaviour): boolean {
    return this.#behaviours.has(behaviour);
  }

  #others(): number[] {
    return Array.from({ length: this.#n }, (_, i) => i).filter((i) => i !== this.#ctx.self);
  }

  /** A random non-empty subset of `items`. */
  #subset(items: readonly number[]): number[] {
    const shuffled = this.#prng.shuffle(items);
    return shuffled.slice(0, this.#prng.intBetween(1, Math.max(1, shuffled.length)));
  }

  /** Silence comes in stretches: alternately 100-800 ms silent and 100-800 ms talking. */
  #isSilent(): boolean {
    if (!this.#has('silence')) return false;
    const now_ms = this.#ctx.now_ms();
    while (now_ms >= this.#silenceSwitch_ms) {
      this.#silent = !this.#silent;
      this.#silenceSwitch_ms += this.#prng.between(100, 800);
    }
    return this.#silent;
  }

  #send(out: Outgoing[]): void {
    if (out.length > 0 && !this.#isSilent()) this.#ctx.send(out);
  }

  #noteProposal(pp: PrePrepare): void {
    const atHeight = this.#proposals.get(pp.height) ?? [];
    if (atHeight.length >= 8) return;
    atHeight.push(pp);
    this.#proposals.set(pp.height, atHeight);
    for (const height of this.#proposals.keys()) {
      if (height < this.#ctx.executedHeight() - 64) this.#proposals.delete(height);
    }
  }

  #remember(message: ConsensusMessage): void {
    if (!(this.#has('replay') || this.#has('mangle')) || message.kind === 'status') return;
    if (this.#memory.length < REPLAY_MEMORY) this.#memory.push(message);
    else this.#memory[this.#prng.int(REPLAY_MEMORY)] = message;
  }

  // ---- signing helpers ---------------------------------------------------------------------------

  #prePrepare(view: number, height: number, block: Block): PrePrepare {
    const { chainId, self, secretKey } = this.#ctx;
    return signMessage(chainId, 'preprepare', { from: self, view, height, block }, secretKey);
  }

  #vote(kind: 'prepare' | 'commit', view: number, height: number, hash: Uint8Array): ConsensusMessage {
    const { chainId, self, secretKey } = this.#ctx;
    const unsigned = { from: self, view, height, blockHash: hash };
    if (kind === 'prepare') return { kind, ...signMessage(chainId, 'prepare', unsigned, secretKey) };
    return { kind, ...signCommitMessage(chainId, unsigned, secretKey) };
  }

  #proposal(view: number, header: BlockHeader): SignedProposal {
    const { chainId, self, secretKey } = this.#ctx;
    return signProposal(chainId, { from: self, view, height: header.height, header }, secretKey);
  }

  /** Re-proposals of `blocks` in `view`, whose transactions we then hand to whoever asks for them. */
  #reproposals(view: number, blocks: readonly Block[]): SignedProposal[] {
    for (const block of blocks) this.#served.set(hex(blockHash(block.header)), block);
    return blocks.map((block) => this.#proposal(view, block.header));
  }

  /** A block we know by hash: one we made up, saw proposed, or committed. */
  #knownBlock(header: BlockHeader): Block | null {
    const hash = hex(blockHash(header));
    const seen = (this.#proposals.get(header.height) ?? []).find(
      (pp) => hex(blockHash(pp.block.header)) === hash,
    );
    const committed = this.#ctx.committed(header.height);
    const mine = committed && hex(blockHash(committed.header)) === hash ? committed : null;
    return this.#served.get(hash) ?? seen?.block ?? mine;
  }

  #newView(view: number, viewChanges: ViewChange[], prePrepares: SignedProposal[]): ConsensusMessage {
    const { chainId, self, secretKey } = this.#ctx;
    return {
      kind: 'newview',
      ...signMessage(chainId, 'newview', { from: self, view, viewChanges, prePrepares }, secretKey),
    };
  }

  #viewChange(newView: number, checkpoint: CheckpointProof, prepared: ViewChange['prepared']): ViewChange {
    const { chainId, self, secretKey } = this.#ctx;
    return signMessage(chainId, 'viewchange', { from: self, newView, checkpoint, prepared }, secretKey);
  }

  /** A different block at the same height that honest replicas would accept in isolation. */
  #variant(block: Block): Block {
    if (block.txs.length >= 2 && this.#prng.chance(0.5)) {
      const txs = block.txs.slice(0, -1);
      const stateRoot = this.#ctx.stateRootAfter(block.header.prevHash, block.header, txs);
      if (stateRoot) return { header: { ...block.header, txRoot: txRootOf(txs), stateRoot }, txs };
    }
    return {
      header: { ...block.header, nonce: block.header.nonce + 1 + this.#prng.int(1000) },
      txs: block.txs,
    };
  }

  /**
   * A block whose first transaction's signature is broken (header otherwise consistent). With
   * `executable`, its state root follows the changed transaction too, so that only the signature
   * check refuses it; without, it also fails execution (as the equivocating primary sends it).
   */
  #badTxBlock(block: Block, executable = false): Block {
    const txs: Transaction[] = block.txs.map((tx, i) =>
      i === 0 ? { ...tx, signature: flipBit(tx.signature, this.#prng) } : tx,
    );
    const stateRoot =
      (executable && this.#ctx.stateRootAfter(block.header.prevHash, block.header, txs)) ||
      block.header.stateRoot;
    return { header: { ...block.header, txRoot: txRootOf(txs), stateRoot }, txs };
  }

  /** A validly signed transaction that no client sent, from a key made up on the spot. */
  #phantomTx(): Transaction {
    return signTransaction(
      { type: 'sim.note', nonce: 1, chainId: this.#ctx.chainId, body: this.#prng.bytes(16) },
      this.#prng.bytes(32),
    );
  }

  /** A block of one phantom transaction on top of the block we committed at height - 1. */
  #phantomBlock(view: number, height: number, proposer: number): Block | null {
    const parent = this.#ctx.committed(height - 1);
    if (!parent) return null;
    const txs = [this.#phantomTx()];
    const timestamp = parent.header.timestamp;
    const stateRoot = this.#ctx.stateRootAfter(blockHash(parent.header), { height, timestamp }, txs);
    if (!stateRoot) return null;
    return assembleBlock({
      chainId: this.#ctx.chainId,
      height,
      view,
      timestamp,
      prevHash: blockHash(parent.header),
      stateRoot,
      proposer: this.#ctx.validators[proposer]!,
      txs,
    });
  }

  // ---- outgoing ----------------------------------------------------------------------------------

  /** Rewrites one message the wrapped replica sends to `targets`. */
  outgoing(message: ConsensusMessage, targets: readonly number[]): Outgoing[] {
    this.#remember(message);
    const forgedTop = message.kind === 'preprepare' ? this.#forgedTop.get(message.view) : undefined;
    if (forgedTop !== undefined && message.kind === 'preprepare' && message.height <= forgedTop) return [];
    if (message.kind === 'preprepare') this.#noteProposal(message);
    let out: Outgoing[] = targets.map((to) => ({ to, message }));
    const targeted = this.#targetedProposal(message, targets);
    if (targeted) return this.#isSilent() ? [] : targeted;
    if (this.#has('split-votes') || this.#has('bad-tx') || this.#has('bend-time'))
      out = this.#followEquivocation(out);
    if (this.#has('equivocate')) out = this.#equivocate(message, targets) ?? this.#followEquivocation(out);
    if (this.#has('conflicting-votes')) out = out.flatMap((o) => this.#conflictingVote(o));
    if (this.#has('bogus-viewchange')) out = this.#bogusViewChangeOrNewView(message, targets) ?? out;
    if (this.#has('forge')) {
      out = [...out.map((o) => this.#lieInStatus(o)), ...this.#forgedCopies(message, targets)];
    }
    if (this.#has('mangle')) out = [...out, ...this.#mangled(message, targets)];
    return this.#isSilent() ? [] : out;
  }

  /** Our own PRE-PREPAREs and NEW-VIEWs, rewritten by the targeted attacks. */
  #targetedProposal(message: ConsensusMessage, targets: readonly number[]): Outgoing[] | null {
    if (!isSigned(message) || message.from !== this.#ctx.self) return null;
    if (message.kind === 'preprepare' && this.#has('bad-tx')) return this.#badTxProposal(message, targets);
    if (message.kind === 'preprepare' && this.#has('split-votes'))
      return this.#splitProposal(message, targets);
    if (message.kind === 'preprepare' && this.#has('bend-time'))
      return this.#bentTimeProposal(message, targets);
    if (message.kind === 'newview' && this.#has('forge-newview'))
      return this.#forgedNewView(message, targets);
    return null;
  }

  #badTxProposal(pp: ProposalMessage, targets: readonly number[]): Outgoing[] {
    return this.#proposeInstead(pp, this.#badTxBlock(pp.block, true), targets);
  }

  /** `block` instead of our replica's proposal, to every target, with our COMMIT (our votes follow it). */
  #proposeInstead(pp: ProposalMessage, block: Block, targets: readonly number[]): Outgoing[] {
    const hash = blockHash(block.header);
    this.#equivocations.set(`${pp.view}/${pp.height}`, { hash, targets: new Set(targets) });
    const instead: ConsensusMessage = { kind: 'preprepare', ...this.#prePrepare(pp.view, pp.height, block) };
    const commit = this.#vote('commit', pp.view, pp.height, hash);
    return targets.flatMap((to) => [
      { to, message: instead },
      { to, message: commit },
    ]);
  }

  /**
   * Our proposal with its time bent: forward (to expire grants and close emergency windows early),
   * far or to the edge of the bound honest replicas allow, or frozen (to keep them open).
   */
  #bentTimeProposal(pp: ProposalMessage, targets: readonly number[]): Outgoing[] {
    const bound = this.#ctx.maxClockSkew_ms;
    const honest_ms = pp.block.header.timestamp;
    this.#frozen_ms ??= honest_ms;
    const timestamp =
      this.#timeBend === 'freeze'
        ? this.#frozen_ms
        : honest_ms + Math.round((this.#timeBend === 'edge' ? 0.95 : this.#prng.between(2, 4)) * bound);
    // The rule engine reads the block time: the bent block's state root follows it.
    const { header, txs } = pp.block;
    const stateRoot =
      this.#ctx.stateRootAfter(header.prevHash, { height: header.height, timestamp }, txs) ??
      header.stateRoot;
    return this.#proposeInstead(pp, { header: { ...header, timestamp, stateRoot }, txs }, targets);
  }

  #splitProposal(pp: ProposalMessage, targets: readonly number[]): Outgoing[] {
    if (targets.length < 2) return targets.map((to) => ({ to, message: pp }));
    const shuffled = this.#prng.shuffle(targets);
    const cut = Math.floor(shuffled.length / 2);
    const first = new Set(shuffled.slice(0, cut));
    const rest = new Set(shuffled.slice(cut));
    const block = this.#variant(pp.block);
    const variant = this.#prePrepare(pp.view, pp.height, block);
    const hashes = [blockHash(pp.block.header), blockHash(block.header)] as const;
    this.#equivocations.set(`${pp.view}/${pp.height}`, { hash: hashes[1], targets: rest });
    this.#board.post({ by: this.#ctx.self, prePrepare: pp, targets: first });
    this.#board.post({ by: this.#ctx.self, prePrepare: variant, targets: rest });
    return targets.flatMap((to) => {
      const side = rest.has(to) ? 1 : 0;
      const proposal: ConsensusMessage = side ? { kind: 'preprepare', ...variant } : pp;
      return [
        { to, message: proposal },
        { to, message: this.#vote('commit', pp.view, pp.height, hashes[side]) },
      ];
    });
  }

  /** A NEW-VIEW whose re-proposals do not follow from its (valid) VIEW-CHANGEs: a fork, or a replay. */
  #forgedNewView(nv: NewView, targets: readonly number[]): Outgoing[] | null {
    const out = this.#forkingNewView(nv, targets) ?? this.#replayingNewView(nv, targets);
    // Our replica believes it sent the honest NEW-VIEW, and would propose its own blocks at the
    // heights we re-proposed otherwise: honest replicas would see two proposals and move on.
    const forged = out?.find((o) => o.message.kind === 'newview')?.message;
    if (forged?.kind === 'newview')
      this.#forgedTop.set(nv.view, Math.max(...forged.prePrepares.map((p) => p.height)));
    return out;
  }

  /**
   * The honest re-proposals and one more after them: a block of transactions already committed.
   * Re-proposals skip the normal proposal's duplicate check (a quorum prepared them), so only the
   * NEW-VIEW check stands between such a block and a second commit of its transactions.
   */
  #replayingNewView(nv: NewView, targets: readonly number[]): Outgoing[] | null {
    const last =
      nv.prePrepares[nv.prePrepares.length - 1]?.header ??
      this.#ctx.committed(this.#ctx.executedHeight())?.header;
    let txs: Transaction[] = [];
    for (let h = this.#ctx.executedHeight(); h > 0 && txs.length === 0; h--)
      txs = this.#ctx.committed(h)?.txs ?? [];
    if (!last || txs.length === 0) return null;
    const header = { height: last.height + 1, timestamp: last.timestamp };
    const stateRoot = this.#ctx.stateRootAfter(blockHash(last), header, txs);
    if (!stateRoot) return null;
    const replay = assembleBlock({
      chainId: this.#ctx.chainId,
      ...header,
      view: nv.view,
      prevHash: blockHash(last),
      stateRoot,
      proposer: this.#ctx.validators[this.#ctx.self]!,
      txs,
    });
    const prePrepares = [...nv.prePrepares, ...this.#reproposals(nv.view, [replay])];
    const forged = this.#newView(nv.view, nv.viewChanges, prePrepares);
    this.#newViewsSent.add(nv.view);
    const bodies: ConsensusMessage = { kind: 'bodies', blocks: [replay] };
    const commit = this.#vote('commit', nv.view, replay.header.height, blockHash(replay.header));
    return targets.flatMap((to) => [forged, bodies, commit].map((message) => ({ to, message })));
  }

  /**
   * A NEW-VIEW that keeps its (valid) VIEW-CHANGEs but re-proposes, at the lowest height some peer
   * has committed while enough others have not, a block of our own making, after the committed
   * blocks below it; with our COMMITs for all of them.
   */
  #forkingNewView(nv: NewView, targets: readonly number[]): Outgoing[] | null {
    const heights = [...this.#heights.values()].sort((a, b) => a - b);
    if (heights.length === 0) return null;
    const { checkpoint } = chooseReproposals(nv.viewChanges);
    // The f + 1 lowest peers (with us, a quorum when n = 3f + 1) have not executed `height`.
    const behind = maxFaults(this.#n);
    let height = Math.max(checkpoint.height + 1, heights[Math.min(behind, heights.length - 1)]! + 1);
    if (height > this.#ctx.executedHeight() + 1) height = this.#ctx.executedHeight() + 1;
    const fork = this.#phantomBlock(nv.view, height, this.#ctx.self);
    if (!fork) return null;
    const blocks: Block[] = [];
    for (let h = checkpoint.height + 1; h < height; h++) {
      const block = this.#ctx.committed(h);
      if (!block) return null;
      blocks.push(block);
    }
    blocks.push(fork);
    const prePrepares = this.#reproposals(nv.view, blocks);
    const forged = this.#newView(nv.view, nv.viewChanges, prePrepares);
    this.#newViewsSent.add(nv.view);
    const commits = prePrepares.map((pp) => this.#vote('commit', nv.view, pp.height, blockHash(pp.header)));
    // The fork's transactions right behind the NEW-VIEW: taken up at once by whoever asks for them.
    const bodies: ConsensusMessage = { kind: 'bodies', blocks: blocks.slice(-MAX_BODIES) };
    return targets.flatMap((to) => [forged, bodies, ...commits].map((message) => ({ to, message })));
  }

  /** A PRE-PREPARE from "the primary" of the view, not signed by it, for a block of a phantom transaction. */
  #forgedPrePrepare(): Outgoing[] {
    const view = this.#ctx.view();
    const primary = view % this.#n;
    const height = this.#ctx.executedHeight() + 1;
    const key = `${view}/${height}`;
    if (primary === this.#ctx.self || this.#forged.has(key)) return [];
    const block = this.#phantomBlock(view, height, primary);
    if (!block) return [];
    this.#forged.add(key);
    const signed = this.#prePrepare(view, height, block);
    const forged: ConsensusMessage = {
      kind: 'preprepare',
      ...signed,
      from: primary,
      signature: flipBit(signed.signature, this.#prng),
    };
    const hash = blockHash(block.header);
    const votes = [this.#vote('prepare', view, height, hash), this.#vote('commit', view, height, hash)];
    return this.#others().flatMap((to) => [forged, ...votes].map((message) => ({ to, message })));
  }

  #equivocate(message: ConsensusMessage, targets: readonly number[]): Outgoing[] | null {
    if (message.kind !== 'preprepare' || message.from !== this.#ctx.self || targets.length < 2) return null;
    const shuffled = this.#prng.shuffle(targets);
    const cut = this.#prng.intBetween(1, shuffled.length - 1);
    const first = new Set(shuffled.slice(0, cut));
    const rest = new Set(shuffled.slice(cut));
    const roll = this.#prng.float();
    if (roll < 0.25) {
      // Withhold: only some replicas hear of the proposal at all.
      this.#board.post({ by: this.#ctx.self, prePrepare: message, targets: first });
      return [...first].map((to) => ({ to, message }));
    }
    const badTx = roll > 0.85;
    const block = badTx ? this.#badTxBlock(message.block) : this.#variant(message.block);
    const variant: ConsensusMessage = {
      kind: 'preprepare',
      ...this.#prePrepare(message.view, message.height, block),
    };
    if (!badTx) {
      this.#equivocations.set(`${message.view}/${message.height}`, {
        hash: blockHash(block.header),
        targets: rest,
      });
      this.#board.post({ by: this.#ctx.self, prePrepare: message, targets: first });
      this.#board.post({ by: this.#ctx.self, prePrepare: variant as PrePrepare, targets: rest });
    }
    return targets.map((to) => ({ to, message: rest.has(to) ? variant : message }));
  }

  /** Our own votes at an equivocated (view, height) follow whichever block each target was sent. */
  #followEquivocation(out: Outgoing[]): Outgoing[] {
    return out.map((o) => {
      const m = o.message;
      if ((m.kind !== 'prepare' && m.kind !== 'commit') || m.from !== this.#ctx.self) return o;
      const eq = this.#equivocations.get(`${m.view}/${m.height}`);
      if (!eq?.targets.has(o.to)) return o;
      return { to: o.to, message: this.#vote(m.kind, m.view, m.height, eq!.hash) };
    });
  }

  #conflictingVote(o: Outgoing): Outgoing[] {
    const m = o.message;
    if ((m.kind !== 'prepare' && m.kind !== 'commit') || m.from !== this.#ctx.self) return [o];
    // Our replica's own vote for a block we already backed selectively goes to the same replicas only.
    const plan = this.#votePlans.get(`${m.view}/${m.height}/${hex(m.blockHash)}`);
    if (plan) return plan.has(o.to) ? [o] : [];
    const other = this.#vote(m.kind, m.view, m.height, this.#prng.bytes(32));
    const roll = this.#prng.float();
    if (roll < 0.2) return [{ to: o.to, message: other }];
    if (roll < 0.4) return [o, { to: o.to, message: other }];
    if (roll < 0.6) return []; // withheld: this peer never hears our vote
    return [o];
  }

  /** Votes (PREPARE unless primary, and COMMIT) for a posted block, to the replicas that hold it. */
  #echo(posting: Posting): Outgoing[] {
    const split = this.#has('split-votes');
    if (!this.#has('conflicting-votes') && !split) return [];
    const pp = posting.prePrepare;
    const hash = blockHash('block' in pp ? pp.block.header : pp.header);
    const key = `${pp.view}/${pp.height}/${hex(hash)}`;
    if (this.#echoed.has(key)) return [];
    this.#echoed.add(key);
    const others = this.#others();
    // To everyone holding the block, or selectively to some of them only.
    const holders = posting.targets ? others.filter((i) => posting.targets!.has(i)) : others;
    const targets = split || this.#prng.chance(0.5) ? holders : this.#subset(holders);
    this.#votePlans.set(key, new Set(targets));
    const votes: ConsensusMessage[] = [this.#vote('commit', pp.view, pp.height, hash)];
    if (pp.view % this.#n !== this.#ctx.self) votes.unshift(this.#vote('prepare', pp.view, pp.height, hash));
    return votes.flatMap((message) => targets.map((to) => ({ to, message })));
  }

  #bogusViewChangeOrNewView(message: ConsensusMessage, targets: readonly number[]): Outgoing[] | null {
    if (message.kind === 'viewchange' && message.from === this.#ctx.self && this.#prng.chance(0.8)) {
      const bogus: ConsensusMessage = { kind: 'viewchange', ...this.#bogusViewChange(message.newView) };
      return targets.map((to) => ({ to, message: bogus }));
    }
    if (message.kind === 'newview' && message.from === this.#ctx.self) {
      if (this.#newViewsSent.has(message.view)) return []; // we already led this view our way
      if (message.prePrepares.length === 0) return null;
      const bogus = this.#bogusNewView(message);
      const all = this.#prng.chance(0.5);
      const some = new Set(this.#subset(targets));
      return targets.map((to) => ({ to, message: all || some.has(to) ? bogus : message }));
    }
    return null;
  }

  /** Re-proposals that do not follow from the view changes: a changed block, or some left out. */
  #bogusNewView(nv: NewView): ConsensusMessage {
    const prePrepares = [...nv.prePrepares];
    const i = this.#prng.int(prePrepares.length);
    if (this.#prng.chance(0.3)) {
      prePrepares.splice(i, prePrepares.length - i);
    } else {
      // A changed block whose transactions we serve, or (body unknown) a changed header nobody can.
      const pp = prePrepares[i]!;
      const block = this.#knownBlock(pp.header);
      const nonce = pp.header.nonce + 1 + this.#prng.int(1000);
      prePrepares[i] = block
        ? this.#reproposals(pp.view, [this.#variant(block)])[0]!
        : this.#proposal(pp.view, { ...pp.header, nonce });
    }
    return this.#newView(nv.view, nv.viewChanges, prePrepares);
  }

  #genesisCheckpoint(): CheckpointProof {
    return {
      height: 0,
      blockHash: this.#ctx.genesis.hash,
      stateRoot: this.#ctx.genesis.stateRoot,
      votes: [],
    };
  }

  /** A VIEW-CHANGE that is valid but reveals nothing: genesis checkpoint, nothing prepared. */
  #emptyViewChange(newView: number): ViewChange {
    return this.#viewChange(newView, this.#genesisCheckpoint(), []);
  }

  /** A VIEW-CHANGE for `newView` that lies: fake prepared certificates, a wrong checkpoint, or omissions. */
  #bogusViewChange(newView: number): ViewChange {
    const { chainId, self, secretKey, validators } = this.#ctx;
    const roll = this.#prng.float();
    if (roll < 0.25) {
      // A prepared certificate for a made-up block, "prepared" by PREPAREs we signed for others.
      const view = Math.max(0, newView - 1);
      const height = this.#ctx.executedHeight() + 1;
      const block = assembleBlock({
        chainId,
        height,
        view,
        timestamp: 0,
        prevHash: this.#prng.bytes(32),
        stateRoot: this.#prng.bytes(32),
        proposer: validators[view % this.#n]!,
        txs: [],
      });
      const pp = { ...this.#proposal(view, block.header), from: view % this.#n };
      const hash = blockHash(block.header);
      const prepares = this.#others()
        .slice(0, Math.max(1, this.#n - 2))
        .map((from) => ({
          ...signMessage(chainId, 'prepare', { from: self, view, height, blockHash: hash }, secretKey),
          from,
        }));
      return this.#viewChange(newView, this.#genesisCheckpoint(), [{ prePrepare: pp, prepares }]);
    }
    if (roll < 0.5) {
      // A checkpoint far ahead, vouched for by our own vote relabelled as everyone's.
      const height = this.#ctx.executedHeight() + 8;
      const stateRoot = this.#prng.bytes(32);
      const hash = this.#prng.bytes(32);
      const votes = Array.from({ length: this.#n }, (_, from) => ({
        ...signMessage(chainId, 'checkpoint', { from: self, height, blockHash: hash, stateRoot }, secretKey),
        from,
      }));
      return this.#viewChange(newView, { height, blockHash: hash, stateRoot, votes }, []);
    }
    return this.#emptyViewChange(newView);
  }

  #lieInStatus(o: Outgoing): Outgoing {
    if (o.message.kind !== 'status' || !this.#prng.chance(0.3)) return o;
    return { to: o.to, message: { ...o.message, height: o.message.height + this.#prng.intBetween(1, 50) } };
  }

  /** Invalid copies of a signed message, to one or two random targets. */
  #forgedCopies(message: ConsensusMessage, targets: readonly number[]): Outgoing[] {
    if (!isSigned(message) || targets.length === 0) return [];
    if (!this.#prng.chance(0.25)) return [];
    const others = this.#others();
    const pretend = others[this.#prng.int(others.length)]!;
    let forged: ConsensusMessage;
    const roll = this.#prng.float();
    if (roll < 0.4) forged = { ...message, from: pretend };
    else if (roll < 0.8 || message.kind !== 'preprepare') {
      forged = { ...message, signature: flipBit(message.signature, this.#prng) };
    } else if (message.block.txs.length >= 2 && this.#prng.chance(0.5)) {
      // The primary's signed header with other transactions: its signature still holds (it covers
      // the header), so only the txRoot check refuses it, and the primary must not be blamed.
      forged = { ...message, block: { header: message.block.header, txs: message.block.txs.slice(1) } };
    } else {
      forged = { ...message, block: this.#variant(message.block) };
    }
    const to = this.#prng.shuffle(targets).slice(0, this.#prng.intBetween(1, Math.min(2, targets.length)));
    return to.map((t) => ({ to: t, message: forged }));
  }

  // ---- inbound and spontaneous -------------------------------------------------------------------

  /** Sees a message delivered to the wrapped replica. */
  observe(message: ConsensusMessage, from: number): void {
    this.#remember(message);
    if (message.kind === 'status') this.#noteStatus(from, message);
    // A COMMIT shows its sender may have executed that height already (a STATUS may be a period old).
    if (message.kind === 'commit')
      this.#heights.set(from, Math.max(this.#heights.get(from) ?? 0, message.height));
    if (message.kind === 'getbodies') this.#serveBodies(from, message.hashes);
    if (message.kind === 'preprepare') this.#noteProposal(message);
    const proposals =
      message.kind === 'preprepare' ? [message] : message.kind === 'newview' ? message.prePrepares : [];
    if (this.#has('conflicting-votes')) {
      for (const pp of proposals) {
        const posting = { by: this.#ctx.self, prePrepare: pp, targets: null };
        this.#send(this.#echo(posting));
        this.#board.post(posting);
      }
    }
    if (this.#has('bogus-viewchange') && message.kind === 'viewchange') {
      this.#rushViewChange(message.newView);
      this.#collectViewChange(message);
    }
  }

  /** Hands a peer the made-up blocks it asks for (our wrapped replica answers for the others). */
  #serveBodies(to: number, hashes: readonly Uint8Array[]): void {
    const blocks = hashes.flatMap((hash) => this.#served.get(hex(hash)) ?? []).slice(0, MAX_BODIES);
    if (blocks.length > 0) this.#send([{ to, message: { kind: 'bodies', blocks } }]);
  }

  /**
   * At the first sign of a view change, at once send a valid VIEW-CHANGE for that view that reveals
   * nothing, so that it is among the first quorum the new primary collects.
   */
  #rushViewChange(view: number): void {
    if (view <= this.#ctx.view() - 1 || this.#rushed.has(view)) return;
    this.#rushed.add(view);
    const vc: ConsensusMessage = { kind: 'viewchange', ...this.#emptyViewChange(view) };
    this.#send(this.#others().map((to) => ({ to, message: vc })));
  }

  /** As future primary, keeps valid VIEW-CHANGEs and leads the view with those that reveal least. */
  #collectViewChange(vc: ViewChange): void {
    const view = vc.newView;
    if (view % this.#n !== this.#ctx.self || this.#newViewsSent.has(view) || view < this.#ctx.view()) return;
    if (checkViewChange(vc, this.#validatorCtx)) return;
    const byView = this.#viewChanges.get(view) ?? new Map<number, ViewChange>();
    this.#viewChanges.set(view, byView);
    byView.set(vc.from, vc);
    const quorum = this.#validatorCtx.quorum;
    if (byView.size < quorum - 1) return;
    const chosen = [...byView.values()]
      .sort((a, b) => a.prepared.length - b.prepared.length || a.from - b.from)
      .slice(0, quorum - 1);
    chosen.push(this.#emptyViewChange(view));
    chosen.sort((a, b) => a.from - b.from);
    const { checkpoint, headers } = chooseReproposals(chosen);
    const prePrepares = headers.map((header) => this.#proposal(view, header));
    this.#newViewsSent.add(view);
    this.#viewChanges.delete(view);
    const valid = this.#newView(view, chosen, prePrepares);
    // Half the time, doctor its re-proposals too: only a replica that checks them refuses it.
    const nv =
      valid.kind === 'newview' && prePrepares.length > 0 && this.#prng.chance(0.5)
        ? this.#bogusNewView(valid)
        : valid;
    const out: Outgoing[] = this.#others().map((to) => ({ to, message: nv }));
    // Then propose, at the first height the NEW-VIEW left open, a block some replicas may already
    // hold another certificate for: a block seen there before, relabelled as ours in this view.
    const last = headers[headers.length - 1];
    const height = last ? last.height + 1 : checkpoint.height + 1;
    const parent = last ? blockHash(last) : checkpoint.blockHash;
    const seen = (this.#proposals.get(height) ?? []).find((pp) =>
      bytesEqual(pp.block.header.prevHash, parent),
    );
    if (seen) {
      const header = {
        ...seen.block.header,
        view,
        proposer: this.#ctx.validators[this.#ctx.self]!,
        nonce: this.#prng.int(1_000_000),
      };
      const pp = this.#prePrepare(view, height, { header, txs: seen.block.txs });
      for (const to of this.#others()) out.push({ to, message: { kind: 'preprepare', ...pp } });
      this.#board.post({ by: this.#ctx.self, prePrepare: pp, targets: null });
    }
    this.#send(out);
  }

  #noteStatus(from: number, status: Status): void {
    this.#heights.set(from, Math.max(this.#heights.get(from) ?? 0, status.height));
  }

  /** Called every few tens of virtual ms: replays, forged transactions, bogus view changes. */
  tick(): void {
    const out: Outgoing[] = [];
    if (this.#has('forge-preprepare') && this.#prng.chance(0.5)) out.push(...this.#forgedPrePrepare());
    const others = this.#others();
    if (this.#has('flood-requests')) out.push(...this.#floodRequests(others));
    if (this.#has('mangle') && this.#memory.length > 0)
      out.push(...this.#mangled(this.#prng.pick(this.#memory), others));
    if (this.#has('replay') && this.#memory.length > 0 && this.#prng.chance(0.5)) {
      const count = this.#prng.intBetween(1, 3);
      for (let i = 0; i < count; i++) {
        out.push({ to: this.#prng.pick(others), message: this.#prng.pick(this.#memory) });
      }
    }
    if (this.#has('forge') && this.#prng.chance(0.2)) {
      const tx = this.#memory.find((m) => m.kind === 'txs')?.txs[0];
      if (tx) {
        const bad = { ...tx, body: flipBit(tx.body, this.#prng) };
        out.push({ to: this.#prng.pick(others), message: { kind: 'txs', txs: [bad] } });
      }
    }
    if (this.#has('bogus-viewchange')) {
      if (this.#prng.chance(0.1)) {
        const vc = this.#bogusViewChange(this.#ctx.view() + this.#prng.intBetween(1, 2));
        for (const to of others) out.push({ to, message: { kind: 'viewchange', ...vc } });
      }
      const next = this.#ctx.view() + 1;
      if (next % this.#n !== this.#ctx.self && this.#prng.chance(0.05)) {
        // A NEW-VIEW from a replica that is not the new primary.
        const bogus = this.#newView(next, [], []);
        for (const to of others) out.push({ to, message: bogus });
      }
    }
    this.#send(out);
  }

  /** Up to MANGLED_COPIES mangled copies of `message` (a proposal maybe by hash), each to one of `targets`. */
  #mangled(message: ConsensusMessage, targets: readonly number[]): Outgoing[] {
    if (targets.length === 0) return [];
    return Array.from({ length: MANGLED_COPIES }).flatMap(() => {
      const base = message.kind === 'preprepare' && this.#prng.chance(0.5) ? wireForm(message) : message;
      const mangled = mangle(ConsensusMessage, base, this.#n, this.#prng);
      return mangled ? [{ to: this.#prng.pick(targets), message: mangled }] : [];
    });
  }

  /** Asks everyone for the whole of the latest proposals it knows, whatever it holds already. */
  #floodRequests(others: readonly number[]): Outgoing[] {
    const latest = [...this.#proposals.keys()].sort((a, b) => b - a).slice(0, FLOOD_HEIGHTS);
    const blocks = latest.flatMap((height) => this.#proposals.get(height)!.map((pp) => pp.block));
    const hashes = blocks.map((block) => blockHash(block.header));
    const asks: ConsensusMessage[] = blocks.flatMap((block, i) =>
      block.txs.length === 0
        ? []
        : [{ kind: 'gettxs', blockHash: hashes[i]!, indexes: block.txs.map((_, index) => index) }],
    );
    for (let at = 0; at < hashes.length; at += MAX_BODIES)
      asks.push({ kind: 'getbodies', hashes: hashes.slice(at, at + MAX_BODIES) });
    return others.flatMap((to) =>
      Array.from({ length: FLOOD_REPEAT }, () => asks.map((message) => ({ to, message }))).flat(),
    );
  }

  /** What it serves a peer's state transfer: with `forge`, certificates with a broken vote. */
  serveFetch(entries: Array<{ block: Block; certificate: CommitCertificate }>): typeof entries {
    if (!this.#has('forge') || entries.length === 0 || !this.#prng.chance(0.5)) return entries;
    const i = this.#prng.int(entries.length);
    return entries.map((entry, j) => {
      if (j !== i || entry.certificate.votes.length === 0) return entry;
      const votes = entry.certificate.votes.map((v, k) =>
        k === 0 ? { ...v, signature: flipBit(v.signature, this.#prng) } : v,
      );
      return { block: entry.block, certificate: { ...entry.certificate, votes } };
    });
  }
}

/** Whether a message is one a validator signs (and names itself in): not STATUS, TXS or bodies. */
function isSigned(message: ConsensusMessage): message is Extract<ConsensusMessage, { from: number }> {
  return 'from' in message;
}
