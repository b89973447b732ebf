/**
 * The replica driver: carries out the consensus core's actions through the ports (ports.ts), one at
 * a time and in order, for every host alike (the daemon, the simulator, the consensus tests).
 *
 * It is the one place that enforces the core's driver contract (consensus/types.ts):
 * - persist-before-send: a `persist` is awaited when the log's append is asynchronous, so no later
 *   action of the step (a vote going out) runs before the records are durable;
 * - a `commit` is applied (awaited likewise) before anything after it;
 * - `build` and `execute` are answered with `built` and `executed` events through the inbox.
 *
 * Between actions it asks the host whether the replica still runs (`live`): a node that stopped, or a
 * simulated replica that crashed mid-step, does nothing more. The driver owns no timers and no
 * scheduling of its own (no setImmediate, no clock), so a simulated run stays deterministic.
 */
import { assertNever, type ConsensusAction } from '../consensus/types.ts';
import { blockHash } from '../ledger/block.ts';
import type { DurableLog, Executor, Inbox, Timers, Transport } from './ports.ts';

export interface DriverPorts {
  transport: Transport;
  timers: Timers;
  log: DurableLog;
  executor: Executor;
  inbox: Inbox;
  /** Whether the replica still runs; checked before every action. */
  live: () => boolean;
}

export class ReplicaDriver {
  readonly #ports: DriverPorts;

  constructor(ports: DriverPorts) {
    this.#ports = ports;
  }

  /**
   * Carries out `actions` in order. Returns a promise only if a port answered with one (then the rest
   * runs once it resolves); with synchronous ports everything is done on return.
   */
  perform(actions: readonly ConsensusAction[], from = 0): void | Promise<void> {
    for (let k = from; k < actions.length; k++) {
      if (!this.#ports.live()) return;
      const pending = this.#act(actions[k]!);
      // A port typed to return void may still return a value (a Map's delete): only a promise waits.
      if (pending instanceof Promise) return pending.then(() => this.perform(actions, k + 1));
    }
  }

  #act(action: ConsensusAction): void | Promise<void> {
    const { transport, timers, log, executor, inbox } = this.#ports;
    switch (action.kind) {
      case 'persist':
        return log.append(action.records);
      case 'send':
        return transport.send(action.to, action.message);
      case 'broadcast':
        return transport.broadcast(action.message);
      case 'setTimer':
        return timers.set(action.timer, action.delay_ms);
      case 'cancelTimer':
        return timers.cancel(action.timer);
      case 'build': {
        const block = executor.build(action);
        if (block) inbox({ kind: 'built', block });
        return;
      }
      case 'execute': {
        const { header } = action.block;
        const result = executor.execute(action.block);
        inbox({
          kind: 'executed',
          height: header.height,
          blockHash: blockHash(header),
          ok: result.ok,
          stateRoot: result.stateRoot,
          ...(result.reason === undefined ? {} : { reason: result.reason }),
        });
        return;
      }
      case 'commit':
        return executor.commit(action.block, action.certificate);
      case 'fetch':
        return transport.fetch(action);
      case 'misbehaviour':
        return transport.punish(action.peer, action.reason);
      default:
        assertNever(action);
    }
  }
}
