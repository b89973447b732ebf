/**
 * The node operator's view (signed in with the node's operator.key): the validators and whether this
 * node is connected to each, the chain's height and view, view changes and the mempool, commit
 * latency over the last minutes, the record store's counts, and a block explorer. Everything is
 * polled from this node every few seconds while the tab is open: GET /v1/node and /v1/status, and
 * /metrics for what they lack; blocks and transactions by hash are the operator's signed routes.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { NodeInfoJson, StatusJson } from '../../client/api-types.ts';
import { NodeClient } from '../../client/http.ts';
import { ErrorNote, Section } from '../components.tsx';
import { type LatencyPoint, latencyBetween, parseMetrics, type Samples, total } from '../metrics-text.ts';
import type { OperatorSession } from '../operator-session.ts';
import '../operator.css';
import { LatencyChart } from './operator-chart.tsx';
import { BlockExplorer } from './operator-explorer.tsx';

/** How often the dashboard asks the node again. */
const POLL_MS = 3000;
/** How much latency history the chart keeps: the last five minutes. */
const HISTORY = (5 * 60 * 1000) / POLL_MS;

interface Snapshot {
  info: NodeInfoJson;
  status: StatusJson;
  metrics: Samples;
}

export function OperatorView({ session }: { session: OperatorSession }) {
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [latency, setLatency] = useState<LatencyPoint[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const previous = useRef<Samples | null>(null);

  useEffect(() => {
    let live = true;
    const origin = window.location.origin;
    const poll = async () => {
      try {
        // A fresh client each time: a client keeps its first GET /v1/node, and the peers change.
        const open = new NodeClient(origin);
        const [info, status, text] = await Promise.all([
          open.nodeInfo(),
          open.status(),
          fetch(`${origin}/metrics`).then((r) => (r.ok ? r.text() : '')),
        ]);
        if (!live) return;
        const metrics = parseMetrics(text);
        const point = latencyBetween(previous.current, metrics, Date.now());
        previous.current = metrics;
        setSnapshot({ info, status, metrics });
        setLatency((points) => [...points, point].slice(-HISTORY));
        setError(undefined);
      } catch (caught) {
        if (live) setError(caught);
      }
    };
    void poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [session]);

  return (
    <>
      <section class="card identity" data-testid="operator-header">
        <div>
          <div class="muted">Signed in as this node’s operator</div>
          <code class="patient-id">
            {snapshot ? `${snapshot.info.validator.name} · ${snapshot.info.chainId}` : '…'}
          </code>
        </div>
      </section>
      <ErrorNote error={error} testid="operator-error" />
      {snapshot && <Chain snapshot={snapshot} />}
      {snapshot && <Validators info={snapshot.info} />}
      <Section title="Commit latency" testid="operator-latency">
        <LatencyChart points={latency} cumulative={cumulativeMean(snapshot?.metrics)} />
      </Section>
      {snapshot && <Store metrics={snapshot.metrics} />}
      <BlockExplorer
        session={session}
        info={snapshot?.info ?? null}
        height={snapshot?.status.height ?? null}
      />
    </>
  );
}

function Chain({ snapshot }: { snapshot: Snapshot }) {
  const { status, metrics } = snapshot;
  const mempool = metrics.get('medledger_mempool_transactions');
  const committed = metrics.get('medledger_committed_transactions_total');
  return (
    <Section title="Chain" testid="operator-chain">
      <dl class="stats">
        <div>
          <dt>Height</dt>
          <dd data-testid="operator-height">{status.height}</dd>
        </div>
        <div>
          <dt>View</dt>
          <dd data-testid="operator-view">
            {status.view}
            {status.changingView && <span class="tag warn">changing</span>}
          </dd>
        </div>
        <div>
          <dt>View changes</dt>
          <dd data-testid="operator-view-changes">{status.viewChanges}</dd>
        </div>
        <div>
          <dt>Mempool</dt>
          <dd data-testid="operator-mempool">{mempool ?? '–'}</dd>
        </div>
        <div>
          <dt>Transactions committed</dt>
          <dd>{committed ?? '–'}</dd>
        </div>
        <div>
          <dt>Peers connected</dt>
          <dd>{status.peers}</dd>
        </div>
      </dl>
      <p class="muted">
        Last block <code>{status.hash.slice(0, 16)}…</code>, state root{' '}
        <code>{status.stateRoot.slice(0, 16)}…</code>
      </p>
    </Section>
  );
}

function Validators({ info }: { info: NodeInfoJson }) {
  const peers = new Map(info.peers.map((peer) => [peer.name, peer]));
  return (
    <Section title="Validators" testid="operator-validators-card">
      <table data-testid="operator-validators">
        <thead>
          <tr>
            <th>Name</th>
            <th>Connection</th>
            <th>Since</th>
            <th>Last message</th>
          </tr>
        </thead>
        <tbody>
          {info.validators.map((validator) => {
            const self = validator.name === info.validator.name;
            const peer = peers.get(validator.name);
            const connected = self || peer?.connected === true;
            return (
              <tr
                key={validator.name}
                data-testid="validator-row"
                data-name={validator.name}
                data-connected={String(connected)}
              >
                <td title={validator.publicKey}>{validator.name}</td>
                <td>
                  {self ? (
                    <span class="tag ok">this node</span>
                  ) : connected ? (
                    <span class="tag ok">connected</span>
                  ) : (
                    <span class="tag deny">lost</span>
                  )}
                </td>
                <td>{peer?.connectedSince ? timeText(peer.connectedSince) : '–'}</td>
                <td>{peer?.lastMessageAt ? timeText(peer.lastMessageAt) : '–'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Section>
  );
}

function Store({ metrics }: { metrics: Samples }) {
  const rows: Array<[string, number | undefined]> = [
    ['Records stored', metrics.get('medledger_records_stored')],
    ['Blobs stored', metrics.get('medledger_blobs_stored')],
    ['Key shares released', total(metrics, 'medledger_key_shares_released_total')],
    ['Record replications', total(metrics, 'medledger_record_replications_total')],
    ['Queries refused', total(metrics, 'medledger_api_refusals_total')],
  ];
  const known = rows.filter((row): row is [string, number] => row[1] !== undefined);
  if (known.length === 0) return null;
  return (
    <Section title="Record store" testid="operator-store">
      <dl class="stats">
        {known.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </Section>
  );
}

function cumulativeMean(metrics: Samples | undefined): number | null {
  const sum = metrics?.get('medledger_commit_latency_seconds_sum');
  const count = metrics?.get('medledger_commit_latency_seconds_count');
  return sum !== undefined && count ? sum / count : null;
}

export function timeText(iso: string | number): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}
