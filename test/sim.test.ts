/**
 * The simulator's parts (PRNG, event queue, network, executor, checkers), its determinism, the
 * proof that its checkers are not vacuous, and the `medledger sim` command. The seed sweeps are in
 * sim-n4.test.ts and sim-n7.test.ts.
 */
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hex } from '../src/bytes.ts';
import { encode } from '../src/codec/index.ts';
import { ConsensusMessage, signMessage } from '../src/consensus/messages.ts';
import { buildTx } from '../src/contracts/build.ts';
import { sha256 } from '../src/crypto/index.ts';
import { assembleBlock, blockHash, signCommit, sortVotes, type Transaction } from '../src/ledger/index.ts';
import { CommittedChain } from '../src/sim/committed-chain.ts';
import {
  checkAdmittedProgress,
  checkAgreement,
  checkBlockTime,
  checkCertificateQuorum,
  checkCertificates,
  checkChainLinks,
  checkHonestEquivocation,
  checkLiveness,
  checkNoDuplicateTx,
  checkNonceOrder,
  checkRun,
  checkValidity,
  checkVoting,
  EventQueue,
  independentQuorum,
  Network,
  Prng,
  parseFaults,
  replayCommand,
  runSeed,
  runSeeds,
  type SimulationResult,
  Simulator,
  simOptions,
} from '../src/sim/index.ts';
import { mangle } from '../src/sim/mangle.ts';
import { SIM_GENESIS_TIME } from '../src/sim/setup.ts';
import { SignatureLog } from '../src/sim/signature-log.ts';
import { expectNoViolations } from './fixtures/sim.ts';

describe('Prng', () => {
  it('is a function of its seed, and child streams of the seed and label only', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const draws = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(draws);
    expect(new Prng(43).next()).not.toBe(new Prng(42).next());
    const fresh = new Prng(7).derive('network');
    const used = new Prng(7);
    for (let i = 0; i < 50; i++) used.next();
    expect(used.derive('network').next()).toBe(fresh.next());
    expect(new Prng(7).derive('clients').next()).not.toBe(new Prng(7).derive('network').next());
  });

  it('draws within bounds, and roughly uniformly', () => {
    const prng = new Prng(1);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[prng.int(6)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    for (let i = 0; i < 1000; i++) {
      const x = prng.intBetween(3, 5);
      expect(x >= 3 && x <= 5).toBe(true);
      const f = prng.float();
      expect(f >= 0 && f < 1).toBe(true);
      expect(prng.pareto(2, 1.5)).toBeGreaterThanOrEqual(2);
    }
    expect(prng.chance(0)).toBe(false);
    expect(prng.chance(1)).toBe(true);
    expect(prng.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(prng.bytes(7)).toHaveLength(7);
    expect(() => new Prng(-1)).toThrow(RangeError);
    expect(() => prng.pick([])).toThrow(RangeError);
  });
});

describe('EventQueue', () => {
  it('orders by time, and equal times by insertion', () => {
    const queue = new EventQueue<string>();
    const prng = new Prng(5);
    const pushed: Array<{ t: number; i: number }> = [];
    for (let i = 0; i < 500; i++) {
      const t = prng.int(20);
      queue.push(t, `${i}`);
      pushed.push({ t, i });
    }
    const expected = [...pushed].sort((a, b) => a.t - b.t || a.i - b.i).map((p) => `${p.i}`);
    const popped: string[] = [];
    for (let e = queue.pop(); e; e = queue.pop()) popped.push(e.item);
    expect(popped).toEqual(expected);
    expect(() => queue.push(Number.NaN, 'x')).toThrow();
  });
});

describe('Network', () => {
  const config = {
    baseDelay: { kind: 'uniform' as const, min_ms: 1, max_ms: 4 },
    faults: {
      delay: {
        kind: 'long-tail' as const,
        min_ms: 1,
        max_ms: 4,
        tailProbability: 0.5,
        alpha: 1.2,
        cap_ms: 100,
      },
      dropProbability: 0,
      duplicateProbability: 1,
      reorderProbability: 0,
      reorderMin_ms: 0,
      reorderMax_ms: 0,
    },
  };

  it('delivers once with the base delay when healthy, and applies faults only while faulty', () => {
    const net = new Network(3, config, new Prng(1));
    for (let i = 0; i < 100; i++) {
      const delays = net.transmit(0, 1, 10);
      expect(delays).toHaveLength(1);
      expect(delays[0]! >= 1 && delays[0]! < 4).toBe(true);
    }
    net.faulty = true;
    expect(net.transmit(0, 1, 10)).toHaveLength(2); // duplicated
    expect(net.stats).toMatchObject({ messagesSent: 101, bytesSent: 1010, messagesDuplicated: 1 });
  });

  it('cuts links between partition groups until healed', () => {
    const net = new Network(4, config, new Prng(2));
    net.partition([
      [0, 1],
      [2, 3],
    ]);
    expect(net.transmit(0, 2, 1)).toEqual([]);
    expect(net.roundTrip(3, 1)).toBeNull();
    expect(net.transmit(0, 1, 1)).toHaveLength(1);
    net.heal();
    expect(net.transmit(0, 2, 1)).toHaveLength(1);
    expect(() =>
      net.partition([
        [0, 1],
        [1, 2, 3],
      ]),
    ).toThrow();
  });
});

describe('the replicas the simulator runs', () => {
  it('execute through the rule engine and store what they commit in their chain stores', async () => {
    const result = await cleanRun();
    expect(result.stats.refusedTxs).toEqual({});
    // A transaction the rule engine refuses (an organisation registered twice) is committed with a
    // refusal receipt, as on a real node.
    const twice = await new Simulator(
      simOptions({ seed: 11, nodes: 4, faults: [], txs: 6, faultPeriod_ms: 300, clients: 1 }),
      {
        makeTx: ({ chainId, client, nonce, prng }) =>
          buildTx(
            'org.register',
            { id: 'one-hospital', kind: 'hospital', adminKey: prng.bytes(32), encryptionKey: prng.bytes(32) },
            nonce,
            chainId,
            client.secretKey,
          ),
      },
    ).run();
    expect(twice.stats.refusedTxs).toEqual({ ORGANISATION_EXISTS: 5 });
    expect(checkRun(twice).violations).toEqual([]);
  });
});

/** A small honest run (no faults) to tamper with. */
function cleanRun(): Promise<SimulationResult> {
  return new Simulator(simOptions({ seed: 11, nodes: 4, faults: [], txs: 8, faultPeriod_ms: 300 })).run();
}

/**
 * A certified chain of blocks of `batches` on top of genesis, as a replica's store would hold it (the
 * checkers do not execute blocks, so the state roots are made up).
 */
function certifiedChain(result: SimulationResult, batches: Transaction[][], nonce = 0): CommittedChain {
  const ids = result.identities;
  const chain = new CommittedChain(ids.genesisBlock);
  for (const txs of batches) {
    const tip = chain.tip;
    const height = tip.block.header.height + 1;
    const block = assembleBlock({
      chainId: ids.chainId,
      height,
      view: 0,
      timestamp: tip.block.header.timestamp,
      prevHash: tip.hash,
      stateRoot: sha256(tip.block.header.stateRoot, new TextEncoder().encode(String(txs.length))),
      proposer: ids.validatorKeys[0]!,
      txs,
      nonce,
    });
    const statement = { chainId: ids.chainId, height, view: 0, blockHash: blockHash(block.header) };
    const votes = sortVotes(ids.validators.slice(0, 3).map((v) => signCommit(statement, v.secretKey)));
    chain.append(block, { height, view: 0, blockHash: statement.blockHash, votes });
  }
  return chain;
}

const clean = await cleanRun();

describe('checkers', () => {
  const result = clean;
  const txs = result.workload.map((p) => p.tx);

  it('pass an honest run', () => {
    expect(result.stats.committedBlocks).toBeGreaterThan(0);
    expect(checkRun(result).violations).toEqual([]);
  });

  it('see two honest replicas commit different blocks at one height', () => {
    const chains = [...result.chains];
    chains[0] = certifiedChain(result, [txs.slice(0, 2)], 0);
    chains[1] = certifiedChain(result, [txs.slice(0, 2)], 0);
    chains[2] = certifiedChain(result, [txs.slice(0, 2)], 1);
    chains[3] = certifiedChain(result, []);
    const violations = checkAgreement({ ...result, chains });
    expect(violations).toEqual([
      {
        checker: 'agreement',
        detail: expect.stringMatching(/^height 1: replica 0 committed \w+…, replica 2 committed \w+…$/),
      },
    ]);
  });

  it('see a transaction nobody submitted, and one with a broken signature', () => {
    const forged = { ...txs[0]!, signature: new Uint8Array(64) };
    const chains = [...result.chains];
    chains[0] = certifiedChain(result, [[forged]]);
    const violations = checkValidity({ ...result, chains }).map((v) => v.detail);
    expect(violations).toEqual([
      expect.stringMatching(/was never submitted/),
      expect.stringMatching(/has an invalid signature/),
    ]);
  });

  it('see a transaction committed twice', () => {
    const chains = [...result.chains];
    chains[3] = certifiedChain(result, [[txs[0]!], [txs[1]!, txs[0]!]]);
    expect(checkNoDuplicateTx({ ...result, chains })[0]?.detail).toMatch(/committed at heights 1 and 2/);
  });

  it('see a transaction committed before an earlier nonce of its sender', () => {
    const sender = hex(txs[0]!.sender);
    const [first, second] = txs.filter((tx) => hex(tx.sender) === sender).sort((a, b) => a.nonce - b.nonce);
    const chains = [...result.chains];
    chains[0] = certifiedChain(result, [[first!], [second!]]);
    expect(checkNonceOrder({ ...result, chains })).toEqual([]);
    chains[0] = certifiedChain(result, [[second!, first!]]);
    expect(checkNonceOrder({ ...result, chains })[0]?.detail).toMatch(
      new RegExp(
        `^replica 0 height 1: tx \\w+… takes nonce ${second!.nonce} of its sender, whose last was ${first!.nonce - 1}$`,
      ),
    );
  });

  it('see a certificate short of a quorum or with a bad vote', () => {
    const chains = [...result.chains];
    chains[0] = certifiedChain(result, [txs.slice(0, 1)]);
    const entry = chains[0].at(1)!;
    entry.certificate = { ...entry.certificate!, votes: entry.certificate!.votes.slice(0, 2) };
    expect(checkCertificates({ ...result, chains })[0]?.detail).toMatch(/2 votes, quorum is 3/);
    const votes = certifiedChain(result, [txs.slice(0, 1)]).at(1)!.certificate!.votes;
    entry.certificate = {
      ...entry.certificate!,
      votes: [votes[0]!, { ...votes[1]!, signature: new Uint8Array(64) }, votes[2]!],
    };
    expect(checkCertificates({ ...result, chains })[0]?.detail).toMatch(/invalid signature/);
  });

  it('see a broken hash link', () => {
    const chains = [...result.chains];
    chains[0] = certifiedChain(result, [txs.slice(0, 1), txs.slice(1, 2)]);
    const entry = chains[0].at(2)!;
    entry.block = { ...entry.block, header: { ...entry.block.header, prevHash: new Uint8Array(32) } };
    const details = checkChainLinks({ ...result, chains }).map((v) => v.detail);
    expect(details).toContain('replica 0 height 2: prevHash is not the hash of the block below');
  });

  it('see an honest replica sign two blocks for one (view, height)', async () => {
    const run = await cleanRun();
    const key = run.identities.validators[2]!.secretKey;
    const prepare = (hash: number): ConsensusMessage => ({
      kind: 'prepare',
      ...signMessage(
        run.identities.chainId,
        'prepare',
        { from: 2, view: 0, height: 9, blockHash: new Uint8Array(32).fill(hash) },
        key,
      ),
    });
    run.signatures.sent(2, prepare(1));
    run.signatures.sent(2, prepare(1));
    expect(checkHonestEquivocation(run)).toEqual([]);
    run.signatures.sent(2, prepare(2));
    expect(checkHonestEquivocation(run)[0]?.detail).toMatch(
      /honest replica 2 signed PREPARE for two blocks at view 0 height 9/,
    );
  });

  it('see a block whose time is further from true time than maxClockSkew_ms allows', () => {
    expect(checkBlockTime(result)).toEqual([]);
    const { header } = result.chains[0]!.at(1)!.block;
    const virtual_ms = header.timestamp - SIM_GENESIS_TIME;
    const bound_ms = result.options.params.maxClockSkew_ms;
    // Frozen: first proposed well after the time it claims.
    const firstProposed_ms = new Map(result.firstProposed_ms);
    firstProposed_ms.set(hex(blockHash(header)), virtual_ms + bound_ms + 1);
    expect(checkBlockTime({ ...result, firstProposed_ms })[0]?.detail).toMatch(
      /^replica 0 height 1: timestamp 2001 ms behind its first proposal/,
    );
    // Stretched: committed well before the time it claims.
    const blockCommitTimes = result.blockCommitTimes.map((m) => new Map(m));
    blockCommitTimes[0]!.set(1, virtual_ms - bound_ms - 1);
    expect(checkBlockTime({ ...result, blockCommitTimes })[0]?.detail).toMatch(
      /^replica 0 height 1: timestamp 2001 ms ahead of its commit/,
    );
  });

  it('see a transaction an honest replica never committed, or committed after the bound', () => {
    const commitTimes = result.commitTimes.map((m) => new Map(m));
    commitTimes[1]!.delete(result.workload[0]!.id);
    commitTimes[2]!.set(result.workload[1]!.id, result.deadline_ms + 1);
    const { violations } = checkLiveness({ ...result, commitTimes });
    expect(violations.map((v) => v.detail)).toEqual([
      expect.stringMatching(/^replica 1: 1 of 8 transactions not committed and 0 late/),
      expect.stringMatching(/^replica 2: 0 of 8 transactions not committed and 1 late/),
    ]);
  });
});

describe('the quorum the checkers count with', () => {
  it('is worked out from n alone: 2f + 1 for n = 3f + 1, and any two quorums share f + 1 replicas', () => {
    expect([1, 4, 5, 6, 7, 10].map(independentQuorum)).toEqual([1, 3, 4, 4, 5, 7]);
    for (let n = 1; n <= 40; n++) {
      const f = Math.floor((n - 1) / 3);
      const q = independentQuorum(n);
      expect(2 * q - n).toBeGreaterThanOrEqual(f + 1); // safe
      expect(q).toBeLessThanOrEqual(n - f); // live
    }
  });

  it('sees a certificate signed by fewer distinct validators than a quorum', async () => {
    const result = clean;
    const txs = result.workload.map((p) => p.tx);
    const chains = [...result.chains];
    chains[0] = certifiedChain(result, [txs.slice(0, 1)]);
    expect(checkCertificateQuorum({ ...result, chains })).toEqual([]);
    const entry = chains[0].at(1)!;
    const votes = entry.certificate!.votes;
    entry.certificate = { ...entry.certificate!, votes: [votes[0]!, votes[1]!, votes[1]!] };
    expect(checkCertificateQuorum({ ...result, chains })[0]?.detail).toBe(
      'replica 0 height 1: 2 distinct validators signed its certificate, a quorum of 4 is 3',
    );
  });
});

const pinned = await new Simulator(
  simOptions({ seed: 12, nodes: 4, faults: [], txs: 40, clientTarget: 'pinned', progressChecks: true }),
).run();

describe('clients and progress per replica', () => {
  const clientOf = new Map(pinned.workload.map((p) => [p.id, p.client]));

  it('pins each client to its replica, for submissions and resubmissions alike', async () => {
    expect(pinned.admissions.length).toBeGreaterThanOrEqual(40);
    for (const a of pinned.admissions) expect(a.node).toBe(clientOf.get(a.tx)! % 4);
    const random = await new Simulator(simOptions({ seed: 12, nodes: 4, faults: [], txs: 40 })).run();
    const byClient = new Map(random.workload.map((p) => [p.id, p.client]));
    expect(random.admissions.some((a) => a.node !== byClient.get(a.tx)! % 4)).toBe(true);
  });

  it('pass a healthy run, and see a transaction a connected replica admitted but never committed', () => {
    expect(checkRun(pinned).violations).toEqual([]);
    const admission = pinned.admissions.find((a) => a.node === 1)!;
    const commitTimes = pinned.commitTimes.map((m) => new Map(m));
    commitTimes[1]!.delete(admission.tx);
    expect(checkAdmittedProgress({ ...pinned, commitTimes }, 500)).toEqual([
      {
        checker: 'progress-admitted',
        detail: expect.stringMatching(
          /^replica 1: 1 admitted transaction\(s\) not committed within 500 ms of the network being stable with it; e.g. .* never committed there$/,
        ),
      },
    ]);
    // Not while the network is not stable with it: no stable span, no deadline.
    const stableSpans = pinned.stableSpans.map((spans, i) => (i === 1 ? [] : spans));
    expect(checkAdmittedProgress({ ...pinned, commitTimes, stableSpans }, 500)).toEqual([]);
  });

  it('see a connected replica that signs no votes while the others commit', () => {
    expect(checkVoting(pinned)).toEqual([]);
    const signatures = new SignatureLog();
    expect(checkVoting({ ...pinned, signatures }).map((v) => v.detail)).toEqual(
      [0, 1, 2, 3].map((i) =>
        expect.stringMatching(
          new RegExp(`^replica ${i}, up and connected, signed no vote for \\d+ consecutive`),
        ),
      ),
    );
  });
});

describe('a primary that hangs with its connections open', () => {
  // It sends nothing from hang_ms on, and no connection closes: only the lack of progress shows.
  const hangRun = (seed: number, hang_ms: number) =>
    new Simulator(
      simOptions({
        seed,
        nodes: 4,
        txs: 80,
        faultPeriod_ms: 3_000,
        schedule: [{ kind: 'links', at_ms: hang_ms, from: [0], faults: { dropRate: 1 } }],
      }),
    ).run();

  /** When a backup first committed a block of a later view than the hung primary's. */
  const replacedAt = (run: SimulationResult) =>
    Math.min(
      ...[1, 2, 3].map((i) => {
        const entry = run.chains[i]!.blocks().find((e) => e.block.header.view > 0);
        return entry ? run.blockCommitTimes[i]!.get(entry.block.header.height)! : Infinity;
      }),
    );

  it('is replaced within about one request timeout (judged at STATUS ticks, not only request ticks)', async () => {
    const { requestTimeout_ms, statusInterval_ms } = simOptions({ seed: 1 }).params;
    for (const [seed, hang_ms] of [
      [1, 1019],
      [2, 1238],
      [3, 1457],
      [4, 976],
    ] as const) {
      const run = await hangRun(seed, hang_ms);
      expect(checkRun(run).violations).toEqual([]);
      // The timeout, a STATUS period to see it ran out, and the view change; not two timeouts.
      expect(replacedAt(run) - hang_ms).toBeLessThan(requestTimeout_ms + 2 * statusInterval_ms);
    }
  });
});

describe('a validator that floods GET-TXS and GET-BODIES', () => {
  it('is answered at most the budget per STATUS period, which the flood reaches, and the others keep deciding', async () => {
    const { window, maxBlockTxs } = simOptions({ seed: 1 }).params;
    const budget = 2 * window * maxBlockTxs;
    const faults = parseFaults('flood-requests,drop,crash,partition');
    const runs = Array.from({ length: 12 }, (_, i) => simOptions({ seed: 1 + i, nodes: 4, faults }));
    const outcomes = await runSeeds(runs, Math.max(1, availableParallelism()));
    expectNoViolations(outcomes); // every checker, answer-budget and liveness among them
    const peaks = outcomes.map((o) => o.stats.answerPeak_txs);
    expect(Math.max(...peaks)).toBe(budget);
  });
});

describe('a validator that sends mangled messages', () => {
  it('mangles each kind of message into others that decode, and from one seed always the same', async () => {
    const run = await cleanRun();
    const { chainId, validators } = run.identities;
    const block = run.chains[0]!.at(1)!.block;
    const signed = { from: 1, view: 0, height: 1 };
    const samples: ConsensusMessage[] = [
      { kind: 'status', view: 0, changing: false, height: 1, blockHash: blockHash(block.header) },
      { kind: 'gettxs', blockHash: blockHash(block.header), indexes: [0, 2] },
      { kind: 'txs', txs: block.txs },
      {
        kind: 'prepare',
        ...signMessage(
          chainId,
          'prepare',
          { ...signed, blockHash: blockHash(block.header) },
          validators[1]!.secretKey,
        ),
      },
      {
        kind: 'preprepare',
        ...signMessage(chainId, 'preprepare', { ...signed, block }, validators[1]!.secretKey),
      },
    ];
    for (const message of samples) {
      const prng = new Prng(7);
      const mangled = Array.from({ length: 40 }, () => mangle(ConsensusMessage, message, 4, prng)).filter(
        (m) => m !== null,
      );
      const original = hex(encode(ConsensusMessage, message));
      const changed = new Set(
        mangled.map((m) => hex(encode(ConsensusMessage, m))).filter((h) => h !== original),
      );
      expect(changed.size, message.kind).toBeGreaterThan(5);
      expect(mangled.every((m) => m.kind === message.kind)).toBe(true);
      const again = new Prng(7);
      expect(
        Array.from({ length: 40 }, () => mangle(ConsensusMessage, message, 4, again)).filter(
          (m) => m !== null,
        ),
      ).toEqual(mangled);
    }
  });

  it('is refused or ignored by every honest replica, which never throws, and the others keep deciding', async () => {
    const faults = parseFaults('mangle,drop,crash,partition,bogus-viewchange');
    const runs = Array.from({ length: 16 }, (_, i) => simOptions({ seed: 1 + i, nodes: 4, faults }));
    // A throw in a replica's core is the replica-invariant violation: none may be reported.
    expectNoViolations(await runSeeds(runs, Math.max(1, availableParallelism())));
  });
});

describe('determinism', () => {
  it('replays a seed byte for byte: same trace of deliveries and commits, same numbers', async () => {
    const options = simOptions({ seed: 2024, nodes: 4, faults: parseFaults('all') });
    const first = await runSeed(options);
    const second = await runSeed(options);
    expect(second.traceHash).toBe(first.traceHash);
    expect(second.stats).toEqual(first.stats);
    expect(second.violations).toEqual(first.violations);
    expect(first.stats.network.messagesDelivered).toBeGreaterThan(300);
    expect((await runSeed({ ...options, seed: 2025 })).traceHash).not.toBe(first.traceHash);
  });

  it('replays a scenario seed byte for byte, and another seed plans other faults', async () => {
    const options = simOptions({ seed: 31, nodes: 4, scenario: 'churn', txs: 30, faultPeriod_ms: 1_500 });
    const first = await runSeed(options);
    expect((await runSeed(options)).traceHash).toBe(first.traceHash);
    expect(first.stats.crashes).toBeGreaterThan(0);
    expect(first.replay).toBe(
      'npx medledger sim --nodes 4 --seed 31 --scenario churn --txs 30 --fault-period-ms 1500',
    );
    expect((await runSeed({ ...options, seed: 32 })).traceHash).not.toBe(first.traceHash);
  });
});

describe('the checkers are not vacuous', () => {
  it('find an agreement violation within 200 seeds when replicas commit with 2f COMMITs, not 2f+1', async () => {
    // n = 4, f = 1: a commit quorum of 2 instead of 3. Lossy links and partitions force view changes;
    // the Byzantine replica votes selectively and hides what it prepared when views change.
    const faults = parseFaults('drop,partition,conflicting-votes,bogus-viewchange');
    let found: { seed: number; detail: string; replay: string } | null = null;
    let seed = 1;
    for (; seed <= 200 && !found; seed++) {
      const outcome = await runSeed(simOptions({ seed, nodes: 4, faults, unsafe: { commitQuorum: 2 } }));
      const agreement = outcome.violations.find((v) => v.checker === 'agreement');
      if (agreement) found = { seed, detail: agreement.detail, replay: outcome.replay };
    }
    expect(
      found,
      'no agreement violation in 200 seeds with a deliberately unsafe commit quorum',
    ).not.toBeNull();
    expect(found!.replay).toBe(
      `npx medledger sim --nodes 4 --seed ${found!.seed} --faults drop,partition,conflicting-votes,bogus-viewchange --unsafe-commit-quorum 2`,
    );
    // The same seed with the real quorum is safe: the violation is the bug's.
    const safe = await runSeed(simOptions({ seed: found!.seed, nodes: 4, faults }));
    expect(safe.violations.filter((v) => v.checker === 'agreement')).toEqual([]);
  }, 180_000);
});

describe('medledger sim', () => {
  const run = promisify(execFile);
  const bin = new URL('../bin/medledger.js', import.meta.url).pathname;
  const sim = (...args: string[]) => run(process.execPath, [bin, 'sim', ...args]);

  it('prints a JSON summary of the seeds it ran', async () => {
    const { stdout } = await sim('--nodes', '4', '--seeds', '2', '--first-seed', '5', '--json');
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ seeds: 2, violations: 0, failures: [], nodes: 4 });
    expect(summary.committedBlocks).toBeGreaterThan(0);
    expect(typeof summary.viewChanges).toBe('number');
    expect(summary.livenessBound_ms).toBe(10_000);
  });

  it('prints the command that replays a failing seed, and exits 1', async () => {
    const failing = sim('--nodes', '4', '--seed', '3', '--faults', 'none', '--unsafe-commit-quorum', '2');
    await expect(failing).rejects.toMatchObject({ code: 1 });
    const { stdout } = (await failing.catch((e) => e)) as { stdout: string };
    expect(stdout).toContain('certificates: replica');
    expect(stdout).toContain(
      'replay: npx medledger sim --nodes 4 --seed 3 --faults none --unsafe-commit-quorum 2',
    );
  });

  it('rejects bad options with a clear message and a non-zero exit', async () => {
    for (const [args, message] of [
      [['--nodes', 'four'], '--nodes must be an integer from 1 to 64'],
      [['--seeds', '0'], '--seeds must be an integer from 1'],
      [['--faults', 'crash,meteor'], 'unknown fault kind "meteor"'],
      [['--seeds', '2', '--seed', '3'], 'not both'],
      [['--seeds', '2', '--log'], '--log needs --seed'],
      [['--scenario', 'meteor'], 'unknown scenario "meteor"'],
      [['--clients-to', 'nearest'], '--clients-to must be random or pinned'],
    ] as const) {
      const failed = sim(...args);
      await expect(failed).rejects.toMatchObject({ code: 1 });
      expect(((await failed.catch((e) => e)) as { stderr: string }).stderr).toContain(message);
    }
  });

  it('names the options that affect a run in its replay command', () => {
    expect(replayCommand(simOptions({ seed: 9, nodes: 7 }))).toBe('npx medledger sim --nodes 7 --seed 9');
    expect(
      replayCommand(simOptions({ seed: 9, nodes: 4, faults: parseFaults('crash,equivocate'), txs: 5 })),
    ).toBe('npx medledger sim --nodes 4 --seed 9 --faults crash,equivocate --txs 5');
    expect(replayCommand(simOptions({ seed: 9, nodes: 4, faults: parseFaults('all') }))).toBe(
      'npx medledger sim --nodes 4 --seed 9 --faults all',
    );
    expect(replayCommand(simOptions({ seed: 9, nodes: 4, scenario: 'lossy-minority' }))).toBe(
      'npx medledger sim --nodes 4 --seed 9 --scenario lossy-minority',
    );
    expect(
      replayCommand(
        simOptions({
          seed: 9,
          nodes: 4,
          scenario: 'slow',
          clientTarget: 'random',
          progressChecks: false,
          progressBound_ms: 500,
        }),
      ),
    ).toBe(
      'npx medledger sim --nodes 4 --seed 9 --scenario slow --clients-to random --no-progress-checks --progress-bound-ms 500',
    );
    expect(
      replayCommand(
        simOptions({
          seed: 9,
          nodes: 7,
          faults: parseFaults('split-votes'),
          clientTarget: 'pinned',
          progressChecks: true,
          unsafe: { quorum: 4, skipPrePrepareSignatureCheck: true, skipTxSignatureCheck: true },
        }),
      ),
    ).toBe(
      'npx medledger sim --nodes 7 --seed 9 --faults split-votes --clients-to pinned --progress-checks ' +
        '--unsafe-quorum 4 --unsafe-skip-preprepare-signature-check --unsafe-skip-tx-signature-check',
    );
  });

  it('replays a run with the new options from its replay command', async () => {
    const { stdout } = await sim(
      '--nodes',
      '4',
      '--seed',
      '2',
      '--scenario',
      'slow',
      '--txs',
      '20',
      '--fault-period-ms',
      '800',
      '--json',
    );
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ seeds: 1, violations: 0, nodes: 4 });
    const direct = await runSeed(
      simOptions({ seed: 2, nodes: 4, scenario: 'slow', txs: 20, faultPeriod_ms: 800 }),
    );
    expect(summary.committedBlocks).toBe(direct.stats.committedBlocks);
  });
});
