/**
 * Commit latency as a small inline SVG: one point per poll, the mean latency of the transactions
 * submitted to this node that committed since the previous poll (from the /metrics histogram).
 */
import type { LatencyPoint } from '../metrics-text.ts';

const WIDTH = 600;
const HEIGHT = 140;
const PAD = 28;

export function LatencyChart({ points, cumulative }: { points: LatencyPoint[]; cumulative: number | null }) {
  const measured = points.filter((p): p is LatencyPoint & { mean_s: number } => p.mean_s !== null);
  const top = Math.max(0.05, ...measured.map((p) => p.mean_s)) * 1.2;
  const first = points[0]?.at_ms ?? 0;
  const last = points.at(-1)?.at_ms ?? 0;
  const span = Math.max(1, last - first);
  const x = (at_ms: number) => PAD + ((at_ms - first) / span) * (WIDTH - 2 * PAD);
  const y = (s: number) => HEIGHT - PAD - (s / top) * (HEIGHT - 2 * PAD);
  const path = measured.map(
    (p, i) => `${i === 0 ? 'M' : 'L'}${x(p.at_ms).toFixed(1)},${y(p.mean_s).toFixed(1)}`,
  );
  return (
    <figure class="chart" data-testid="latency-chart" data-points={measured.length}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="Commit latency over the last minutes">
        <line x1={PAD} y1={HEIGHT - PAD} x2={WIDTH - PAD} y2={HEIGHT - PAD} stroke="#999" />
        <line x1={PAD} y1={PAD} x2={PAD} y2={HEIGHT - PAD} stroke="#999" />
        <text x={2} y={PAD + 4} font-size="10" fill="#666">
          {msText(top)}
        </text>
        <text x={2} y={HEIGHT - PAD + 4} font-size="10" fill="#666">
          0
        </text>
        <text x={WIDTH - PAD} y={HEIGHT - 8} font-size="10" fill="#666" text-anchor="end">
          now
        </text>
        {path.length > 0 && <path d={path.join(' ')} fill="none" stroke="#1f6feb" stroke-width="2" />}
        {measured.map((p) => (
          <circle key={p.at_ms} cx={x(p.at_ms)} cy={y(p.mean_s)} r="3" fill="#1f6feb">
            <title>{`${msText(p.mean_s)} (${p.committed} committed)`}</title>
          </circle>
        ))}
      </svg>
      <figcaption class="muted">
        {measured.length === 0
          ? 'No transaction submitted to this node has committed since this page opened.'
          : `Mean per ${Math.round(span / 1000 / Math.max(1, points.length - 1))} s, last ${Math.round(span / 60000) || 1} min.`}
        {cumulative !== null && ` Since the node started: ${msText(cumulative)} on average.`}
      </figcaption>
    </figure>
  );
}

function msText(s: number): string {
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}
