/**
 * What each honest replica signed, as seen on the wire: PRE-PREPAREs (including those inside its
 * NEW-VIEWs), PREPAREs and COMMITs by (phase, view, height). A second, different block hash for the
 * same key is an equivocation by an honest replica, the very thing persist-before-send and the
 * restart logic must prevent, across any number of crashes.
 */
import { hex } from '../bytes.ts';
import type { ConsensusMessage } from '../consensus/messages.ts';
import { blockHash } from '../ledger/index.ts';

export interface SignatureConflict {
  node: number;
  phase: 'preprepare' | 'prepare' | 'commit';
  view: number;
  height: number;
  first: string;
  second: string;
}

export class SignatureLog {
  readonly #signed = new Map<string, string>();
  /** `node/height/hash` of every block a replica signed a proposal or vote for, in any view. */
  readonly #backed = new Set<string>();
  readonly conflicts: SignatureConflict[] = [];

  /** Records a message an honest replica `node` sent (only what it signed itself counts). */
  sent(node: number, message: ConsensusMessage): void {
    switch (message.kind) {
      case 'preprepare':
        if (message.from === node)
          this.#note(node, 'preprepare', message.view, message.height, blockHash(message.block.header));
        return;
      case 'proposal':
        if (message.from === node)
          this.#note(node, 'preprepare', message.view, message.height, blockHash(message.header));
        return;
      case 'prepare':
      case 'commit':
        if (message.from === node)
          this.#note(node, message.kind, message.view, message.height, message.blockHash);
        return;
      case 'newview':
        if (message.from !== node) return;
        for (const pp of message.prePrepares) {
          if (pp.from === node) this.#note(node, 'preprepare', pp.view, pp.height, blockHash(pp.header));
        }
        return;
      default:
        return;
    }
  }

  /** Whether honest replica `node` signed a PRE-PREPARE, PREPARE or COMMIT for this block (hex hash). */
  voted(node: number, height: number, hash: string): boolean {
    return this.#backed.has(`${node}/${height}/${hash}`);
  }

  #note(
    node: number,
    phase: SignatureConflict['phase'],
    view: number,
    height: number,
    hash: Uint8Array,
  ): void {
    const key = `${node}/${phase}/${view}/${height}`;
    const id = hex(hash);
    this.#backed.add(`${node}/${height}/${id}`);
    const earlier = this.#signed.get(key);
    if (earlier === undefined) this.#signed.set(key, id);
    else if (earlier !== id) this.conflicts.push({ node, phase, view, height, first: earlier, second: id });
  }
}
