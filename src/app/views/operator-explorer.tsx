/**
 * The block explorer of the operator's view: the latest blocks, and any block by height with its
 * header, the commit certificate's signers and its transactions (each one's type from GET
 * /v1/txs/{hash}, the operator's route).
 */
import { useEffect, useState } from 'preact/hooks';
import type { BlockJson, NodeInfoJson, TxJson } from '../../client/api-types.ts';
import { RECEIPT_OK } from '../../ledger/types.ts';
import { ErrorNote, Section } from '../components.tsx';
import { useLoad } from '../hooks.ts';
import type { OperatorSession } from '../operator-session.ts';

const LATEST = 6;

export function BlockExplorer({
  session,
  info,
  height,
}: {
  session: OperatorSession;
  info: NodeInfoJson | null;
  height: number | null;
}) {
  const [input, setInput] = useState('');
  const [shown, setShown] = useState<number | null>(null);
  const names = new Map((info?.validators ?? []).map((v) => [v.publicKey, v.name]));
  const show = (event: Event) => {
    event.preventDefault();
    const h = Number(input);
    if (Number.isInteger(h) && h >= 0) setShown(h);
  };
  return (
    <Section title="Blocks" testid="block-explorer">
      {height !== null && <Latest session={session} height={height} onOpen={(h) => setShown(h)} />}
      <form class="row" onSubmit={show}>
        <label class="inline">
          Height
          <input
            type="number"
            min="0"
            data-testid="block-height-input"
            value={input}
            onInput={(event) => setInput(event.currentTarget.value)}
          />
        </label>
        <button type="submit" data-testid="block-show">
          Show block
        </button>
      </form>
      {shown !== null && <BlockDetail session={session} height={shown} names={names} key={shown} />}
    </Section>
  );
}

/** The last few blocks, refreshed when the height moves. */
function Latest({
  session,
  height,
  onOpen,
}: {
  session: OperatorSession;
  height: number;
  onOpen: (height: number) => void;
}) {
  const [blocks, setBlocks] = useState<BlockJson[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let live = true;
    const heights = Array.from({ length: Math.min(LATEST, height + 1) }, (_, i) => height - i);
    Promise.all(heights.map((h) => session.client.block(h))).then(
      (loaded) => live && setBlocks(loaded),
      (caught: unknown) => live && setError(caught),
    );
    return () => {
      live = false;
    };
  }, [session, height]);
  return (
    <>
      <ErrorNote error={error} />
      <table data-testid="latest-blocks">
        <thead>
          <tr>
            <th>Height</th>
            <th>Time</th>
            <th>View</th>
            <th>Transactions</th>
            <th>Hash</th>
          </tr>
        </thead>
        <tbody>
          {blocks.map((block) => (
            <tr key={block.height} data-testid="latest-block" data-height={block.height}>
              <td>
                <button type="button" class="secondary" onClick={() => onOpen(block.height)}>
                  {block.height}
                </button>
              </td>
              <td>{new Date(block.timestamp).toLocaleTimeString()}</td>
              <td>{block.view}</td>
              <td>{block.txs.length}</td>
              <td class="id">
                <code>{block.hash.slice(0, 16)}…</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function BlockDetail({
  session,
  height,
  names,
}: {
  session: OperatorSession;
  height: number;
  names: Map<string, string>;
}) {
  const block = useLoad(() => session.client.block(height), [session, height]);
  if (block.error) return <ErrorNote error={block.error} testid="block-error" />;
  const b = block.value;
  if (!b) return <p class="muted">Loading block {height}…</p>;
  const proposer = /^0+$/.test(b.proposer) ? '(genesis)' : (names.get(b.proposer) ?? b.proposer);
  const signers = b.certificate?.signers.map((s) => s.name ?? names.get(s.validator) ?? s.validator) ?? [];
  const rows: Array<[string, string]> = [
    ['Version', String(b.version)],
    ['Height', String(b.height)],
    ['View', String(b.view)],
    ['Time', new Date(b.timestamp).toISOString()],
    ['Hash', b.hash],
    ['Previous', b.prevHash],
    ['Transactions root', b.txRoot],
    ['State root', b.stateRoot],
    ['Proposer', proposer],
    ['Certified by', signers.length > 0 ? signers.join(', ') : '(none: genesis)'],
  ];
  return (
    <div data-testid="block-detail" data-height={b.height}>
      <h3>Block {b.height}</h3>
      <dl class="block-header">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>
              <code data-testid={`block-${label.toLowerCase().replaceAll(' ', '-')}`}>{value}</code>
            </dd>
          </div>
        ))}
      </dl>
      <h3>Transactions ({b.txs.length})</h3>
      {b.txs.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Hash</th>
              <th>Type</th>
              <th>Sender</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {b.txs.map((hash) => (
              <TxRow session={session} hash={hash} key={hash} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function TxRow({ session, hash }: { session: OperatorSession; hash: string }) {
  const tx = useLoad<TxJson | null>(() => session.client.tx(hash), [session, hash]);
  const t = tx.value;
  return (
    <tr data-testid="block-tx" data-hash={hash} data-type={t?.type ?? ''}>
      <td class="id">
        <code title={hash}>{hash.slice(0, 16)}…</code>
      </td>
      <td>{t ? t.type : tx.error ? '?' : '…'}</td>
      <td class="id">{t ? <code title={t.sender}>{t.sender.slice(0, 12)}…</code> : ''}</td>
      <td>
        {t ? <span class={t.receipt.code === RECEIPT_OK ? 'tag ok' : 'tag deny'}>{t.receipt.code}</span> : ''}
      </td>
    </tr>
  );
}
