/**
 * What each honest replica sent in answer to GET-TXS and GET-BODIES, as seen on the wire: the
 * transactions it put in BLOCKTXS and BODIES messages (a block counting its transactions, at least
 * one), per addressee and per the sender's STATUS period. A period ends when the replica broadcasts
 * STATUS, and each incarnation starts a new one. The answer-budget checker holds every count to the
 * budget, so a replica that answers whoever asks, however often, is caught whatever its code says.
 */
import type { ConsensusMessage } from '../consensus/messages.ts';

/** The most one replica sent one addressee in answers within one of its STATUS periods. */
export interface AnswerPeak {
  from: number;
  to: number;
  /** Transactions answered (a block counts its transactions, at least one). */
  txs: number;
  /** The sender's incarnation (0 before its first restart) and its STATUS period in it. */
  incarnation: number;
  period: number;
}

export class AnswerLog {
  /** `node/incarnation` → the STATUS broadcasts that incarnation has made. */
  readonly #periods = new Map<string, number>();
  /** `from/to` → the highest count, with where it was reached. */
  readonly #peaks = new Map<string, AnswerPeak>();
  /** `node/incarnation/to` → what that incarnation answered `to` in its current STATUS period. */
  readonly #current = new Map<string, { period: number; txs: number }>();

  /** Records a message honest replica `node` (in its incarnation `incarnation`) sent to `targets`. */
  sent(node: number, incarnation: number, message: ConsensusMessage, targets: readonly number[]): void {
    const life = `${node}/${incarnation}`;
    if (message.kind === 'status') {
      this.#periods.set(life, (this.#periods.get(life) ?? 0) + 1);
      return;
    }
    const txs = answeredTxs(message);
    if (txs === 0) return;
    const period = this.#periods.get(life) ?? 0;
    for (const to of targets) {
      const key = `${life}/${to}`;
      const before = this.#current.get(key);
      const count = (before?.period === period ? before.txs : 0) + txs;
      this.#current.set(key, { period, txs: count });
      const peak = this.#peaks.get(`${node}/${to}`);
      if (!peak || count > peak.txs)
        this.#peaks.set(`${node}/${to}`, { from: node, to, txs: count, incarnation, period });
    }
  }

  /** Per (sender, addressee) that ever answered: the most sent within one STATUS period. */
  peaks(): AnswerPeak[] {
    return [...this.#peaks.values()];
  }
}

function answeredTxs(message: ConsensusMessage): number {
  if (message.kind === 'blocktxs') return message.txs.length;
  if (message.kind === 'bodies') return message.blocks.reduce((sum, b) => sum + Math.max(1, b.txs.length), 0);
  return 0;
}
