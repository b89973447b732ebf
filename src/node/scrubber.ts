/**
 * The chain scrubber: walks the stored chain slowly, height by height, and checks what a byte gone
 * bad on disk would spoil before a reader meets it: the block (ChainStore.block checks its hash
 * against the chain's index and its transactions against its tx root), its commit certificate (a
 * quorum of valid validator signatures over the block hash), the hash link to the block below, the
 * receipts and state writes (one receipt per transaction, naming it; both hashing to the block's
 * state root on top of the one below) and the tx index entries.
 *
 * A corrupt block or certificate, whether the walk or any read found it (ChainStore.onCorruptBlock),
 * is repaired from the peers: block sync fetches the height with its certificate, and the store
 * replaces its copy only once the fetched one proves to be the block the chain links expect
 * (ChainStore.repairBlock). A damaged tx index entry is rewritten from the sound block. Damaged
 * receipts cannot come from a peer (block sync carries blocks and certificates): they are reported,
 * and `onStateSuspect` lets the daemon have the state repair at the next start rebuild them
 * (node/state-repair.ts).
 *
 * The walk is bounded to `blocksPerSecond` (0: no walk; repairs of blocks found on read still run),
 * and waits nine times as long as each step took, so large blocks cannot make it a load.
 * Logs carry heights, hashes and kinds only: never a transaction's content.
 */
import { bytesEqual, hex } from '../bytes.ts';
import { MedledgerError } from '../errors.ts';
import {
  type Block,
  blockHash,
  type ChainStore,
  CorruptBlockError,
  checkCertificate,
  nextStateRoot,
  type Receipt,
  type StateWrite,
  txHash,
  validatorSet,
  ZERO_HASH,
} from '../ledger/index.ts';
import type { Logger } from '../logger.ts';
import type { P2PHost } from '../p2p/host.ts';
import { fetchBlocks } from './block-sync.ts';

/** `receipts` covers the receipts and the state writes of a block (both under its state root). */
export type FindingKind = 'block' | 'certificate' | 'link' | 'receipts' | 'tx-index';

/** What the next height's checks need of the block below it. */
interface Below {
  /** Null below the genesis block. */
  hash: Uint8Array | null;
  stateRoot: Uint8Array;
}

export interface Finding {
  height: number;
  kind: FindingKind;
  detail: string;
}

export interface ScrubberOptions {
  store: ChainStore;
  host: P2PHost;
  /** The other validators' public keys (hex): where good copies are fetched from. */
  peers: readonly string[];
  log: Logger;
  /** Heights checked per second by the walk; 0 turns the walk off. */
  blocksPerSecond: number;
  /** Pause after a whole pass over the chain before the next one starts. */
  passPause_ms?: number;
  /** Wait before asking the peers again for a block none of them could serve. */
  retry_ms?: number;
  fetchTimeout_ms?: number;
  /** Called when stored receipts are damaged: only rebuilding the state from the blocks restores them. */
  onStateSuspect?: (height: number) => void;
}

const DEFAULT_PASS_PAUSE_MS = 10 * 60_000;
const DEFAULT_RETRY_MS = 30_000;
/** The walk waits at least this many times as long as a step took (about 10% of one core at most). */
const MAX_BUSY_FACTOR = 9;

export class ChainScrubber {
  readonly #o: Required<Omit<ScrubberOptions, 'onStateSuspect'>> & Pick<ScrubberOptions, 'onStateSuspect'>;
  readonly #validators: ReadonlySet<string>;
  #next = 0;
  /** The hash of height #next - 1 when the walk found it sound, for the link check. */
  #below: Below | null = null;
  #timer: NodeJS.Timeout | undefined;
  #walking: Promise<void> = Promise.resolve();
  #repairing: Promise<void> | null = null;
  readonly #pendingRepairs = new Set<number>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #scrubbed = 0;
  readonly #findings = new Map<FindingKind, number>();

  constructor(options: ScrubberOptions) {
    this.#o = {
      passPause_ms: DEFAULT_PASS_PAUSE_MS,
      retry_ms: DEFAULT_RETRY_MS,
      fetchTimeout_ms: 5000,
      ...options,
    };
    this.#validators = validatorSet(options.store.genesis);
  }

  /** Heights checked and findings by kind, since start. */
  get counts(): { scrubbedBlocks: number; findings: ReadonlyMap<string, number> } {
    return { scrubbedBlocks: this.#scrubbed, findings: this.#findings };
  }

  start(): void {
    this.#unsubscribe = this.#o.store.onCorruptBlock((height) => this.repairSoon(height));
    if (this.#o.blocksPerSecond > 0) this.#schedule(1000 / this.#o.blocksPerSecond);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    await this.#walking;
    await this.#repairing;
  }

  #schedule(delay_ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#walking = this.#step();
    }, delay_ms);
    this.#timer.unref();
  }

  async #step(): Promise<void> {
    if (this.#stopped) return;
    if (this.#next > this.#o.store.head.height) {
      this.#o.log.debug({ blocks: this.#next }, 'chain scrub pass complete');
      this.#next = 0;
      this.#below = null;
      this.#schedule(this.#o.passPause_ms);
      return;
    }
    const height = this.#next++;
    const started_ms = performance.now();
    try {
      const { findings, below } = await this.checkHeight(height, this.#below);
      this.#below = below;
      await this.#act(findings);
    } catch (error) {
      // The walk must outlive any one height (a store closing under it at stop, an I/O error).
      this.#below = null;
      if (!this.#stopped) this.#o.log.warn({ height, err: error }, 'chain scrub step failed');
    }
    // At most the rate, and at most a tenth of the time busy: large blocks slow the walk down.
    const busy_ms = performance.now() - started_ms;
    this.#schedule(Math.max(1000 / this.#o.blocksPerSecond, busy_ms * MAX_BUSY_FACTOR));
  }

  /**
   * Checks the stored records of `height`; `below` is the hash and state root of the block under it
   * when known sound (else read here). Returns what is wrong, and the same of this block for the next
   * height when this block is sound.
   */
  async checkHeight(
    height: number,
    below: Below | null = null,
  ): Promise<{ findings: Finding[]; below: Below | null }> {
    const { store } = this.#o;
    let block: Block | undefined;
    try {
      block = await store.block(height);
    } catch (error) {
      if (!(error instanceof CorruptBlockError)) throw error;
      this.#scrubbed++;
      return { findings: [{ height, kind: 'block', detail: error.message }], below: null };
    }
    if (!block) return { findings: [], below: null };
    this.#scrubbed++;
    const hash = blockHash(block.header);
    const findings: Finding[] = [];
    const found = (kind: FindingKind, detail: string) => findings.push({ height, kind, detail });
    const under = below ?? (await this.#blockBelow(height));
    if (under?.hash && !bytesEqual(block.header.prevHash, under.hash))
      found('link', `block ${height} does not link to the block below it`);
    if (height > 0) {
      const why = await this.#certificateProblem(block, hash);
      if (why) found('certificate', `certificate ${height}: ${why}`);
    }
    const txHashes = block.txs.map(txHash);
    const receiptsWhy = await this.#resultsProblem(block, txHashes, under?.stateRoot ?? null);
    if (receiptsWhy) found('receipts', `receipts or state writes ${height}: ${receiptsWhy}`);
    const indexWhy = await this.#txIndexProblem(height, txHashes);
    if (indexWhy) found('tx-index', `tx index of block ${height}: ${indexWhy}`);
    return { findings, below: { hash, stateRoot: block.header.stateRoot } };
  }

  /** The hash and state root under `height` (genesis: none, zero root); null when unreadable. */
  async #blockBelow(height: number): Promise<Below | null> {
    if (height === 0) return { hash: null, stateRoot: ZERO_HASH };
    try {
      const block = await this.#o.store.block(height - 1);
      return block ? { hash: blockHash(block.header), stateRoot: block.header.stateRoot } : null;
    } catch {
      return null; // found corrupt, and queued for repair by the store's announcement
    }
  }

  async #certificateProblem(block: Block, hash: Uint8Array): Promise<string | null> {
    const { store } = this.#o;
    const height = block.header.height;
    try {
      const cert = await store.certificate(height);
      if (!cert) return 'missing';
      return checkCertificate(cert, {
        chainId: store.genesis.chainId,
        validators: this.#validators,
        height,
        blockHash: hash,
        proposedInView: block.header.view,
      });
    } catch {
      return 'does not decode';
    }
  }

  /**
   * The receipts must name the block's transactions, and with the state writes hash, on top of the
   * state root below (when known), to the block's state root (ledger/state-root.ts): every byte of
   * both is covered.
   */
  async #resultsProblem(
    block: Block,
    txHashes: Uint8Array[],
    rootBelow: Uint8Array | null,
  ): Promise<string | null> {
    const { height } = block.header;
    let receipts: Receipt[] | undefined;
    let writes: StateWrite[] | undefined;
    try {
      [receipts, writes] = await Promise.all([this.#o.store.receipts(height), this.#o.store.writes(height)]);
    } catch {
      return 'do not decode';
    }
    if (!receipts || !writes) return 'missing';
    if (receipts.length !== txHashes.length) return `${receipts.length} receipts for ${txHashes.length} txs`;
    const bad = receipts.findIndex((r, i) => !bytesEqual(r.txHash, txHashes[i]!));
    if (bad >= 0) return `receipt ${bad} names another tx`;
    if (rootBelow && !bytesEqual(nextStateRoot(rootBelow, writes, receipts), block.header.stateRoot))
      return "they do not hash to the block's state root";
    return null;
  }

  async #txIndexProblem(height: number, txHashes: Uint8Array[]): Promise<string | null> {
    const locations = await this.#o.store.txLocations(txHashes);
    for (const [index, at] of locations.entries()) {
      if (at === null) return `the entry of tx ${index} does not decode`;
      if (!at || at.height !== height || at.index !== index) return `tx ${index} is not indexed here`;
    }
    return null;
  }

  /** Logs and counts findings and starts what can repair them. */
  async #act(findings: Finding[]): Promise<void> {
    for (const finding of findings) {
      this.#findings.set(finding.kind, (this.#findings.get(finding.kind) ?? 0) + 1);
      this.#o.log.warn(
        { height: finding.height, kind: finding.kind, code: 'CHAIN_RECORD_CORRUPT' },
        `chain scrub: ${finding.detail}`,
      );
      switch (finding.kind) {
        case 'block':
        case 'certificate':
          this.repairSoon(finding.height);
          break;
        case 'tx-index': {
          const block = await this.#o.store.block(finding.height);
          if (block) await this.#o.store.rewriteTxIndex(block);
          this.#o.log.warn({ height: finding.height }, 'rewrote the tx index entries of a block');
          break;
        }
        case 'receipts':
          this.#o.onStateSuspect?.(finding.height);
          break;
        case 'link':
          break; // both blocks read sound against the index: nothing says which one to replace
      }
    }
  }

  /** Queues a repair of `height` from the peers (a no-op when one is queued already). */
  repairSoon(height: number): void {
    if (this.#stopped) return;
    this.#pendingRepairs.add(height);
    this.#repairing ??= this.#drainRepairs().finally(() => {
      this.#repairing = null;
    });
  }

  async #drainRepairs(): Promise<void> {
    while (this.#pendingRepairs.size > 0 && !this.#stopped) {
      const height = this.#pendingRepairs.values().next().value!;
      this.#pendingRepairs.delete(height);
      let repaired = false;
      try {
        repaired = await this.repair(height);
      } catch (error) {
        if (!this.#stopped) this.#o.log.warn({ height, err: error }, 'repair of a stored block failed');
      }
      if (!repaired && !this.#stopped) {
        const timer = setTimeout(() => {
          this.#retryTimers.delete(timer);
          this.repairSoon(height);
        }, this.#o.retry_ms);
        timer.unref();
        this.#retryTimers.add(timer);
      }
    }
  }

  /** Whether the block at `height` reads sound and its certificate verifies. */
  async #sound(height: number): Promise<boolean> {
    try {
      const block = await this.#o.store.block(height);
      return block !== undefined && (await this.#certificateProblem(block, blockHash(block.header))) === null;
    } catch {
      return false;
    }
  }

  /**
   * Replaces the stored block at `height` and its certificate with a copy from the first peer whose
   * copy the store accepts (ChainStore.repairBlock verifies it); the genesis block comes from the
   * genesis file. True when repaired.
   */
  async repair(height: number): Promise<boolean> {
    const { store, host, log } = this.#o;
    if (height === 0) {
      await store.repairGenesis();
      log.warn({ height }, 'rewrote the corrupt genesis block from the genesis file');
      return true;
    }
    if (await this.#sound(height)) return true; // queued twice, or repaired meanwhile
    const connected = new Set(host.connectedPeers());
    // Connected peers first: the others only answer once dialed.
    const peers = [...this.#o.peers].sort((a, b) => Number(connected.has(b)) - Number(connected.has(a)));
    for (const peer of peers) {
      if (this.#stopped) return false;
      const [entry] = await fetchBlocks(host, [peer], height, height, this.#o.fetchTimeout_ms);
      if (!entry || entry.block.header.height !== height) continue;
      try {
        await store.repairBlock(entry);
      } catch (error) {
        if (!(error instanceof MedledgerError)) throw error;
        log.warn({ height, peer: peer.slice(0, 16), code: error.code }, "refused a peer's copy of a block");
        continue;
      }
      log.warn(
        { height, hash: hex(blockHash(entry.block.header)), peer: peer.slice(0, 16) },
        'repaired a corrupt stored block with a verified copy from a peer',
      );
      return true;
    }
    log.warn({ height, code: 'CHAIN_BLOCK_CORRUPT' }, 'no peer served a good copy of a corrupt block yet');
    return false;
  }
}
