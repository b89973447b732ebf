/**
 * The crash-loop command's options (bench/crash-loop.ts): `--kills N --runs R --rate TPS
 * --down-min-ms MS --down-max-ms MS --seed S --drain-ms MS --ready-deadline-ms MS --settle-ms MS
 * --base-port P --signers-per-node K --cli BIN --commit SHA --out DIR --json`. A bad one is a BENCH_ARGS_INVALID error naming it.
 */
import { parseArgs } from 'node:util';
import { MedledgerError } from '../errors.ts';
import type { CrashLoopOptions } from './crash-loop.ts';

export interface CrashLoopArgs {
  options: Omit<CrashLoopOptions, 'log' | 'logDir'>;
  runs: number;
  out: string;
  json: boolean;
  /** The commit the validators' code was built from, when --cli names a build outside a checkout. */
  commit?: string;
}

const INTEGERS = {
  kills: { default: 20, min: 0 },
  runs: { default: 3, min: 1 },
  'down-min-ms': { default: 1_000, min: 0 },
  'down-max-ms': { default: 3_000, min: 0 },
  seed: { default: 1, min: 0 },
  'drain-ms': { default: 30_000, min: 0 },
  'ready-deadline-ms': { default: 60_000, min: 1_000 },
  'settle-ms': { default: 2_000, min: 0 },
  'base-port': { default: 47_400, min: 1_024 },
  'signers-per-node': { default: 2, min: 1 },
} as const;

type IntegerName = keyof typeof INTEGERS;

const invalid = (message: string) => new MedledgerError('BENCH_ARGS_INVALID', message);

export function parseCrashLoopArgs(argv: readonly string[], now = new Date()): CrashLoopArgs {
  let parsed: ReturnType<typeof parseArgs>;
  const names = [...Object.keys(INTEGERS), 'rate', 'cli', 'commit', 'out'] as const;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])),
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw invalid((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const integer = (name: IntegerName): number => {
    const text = values[name];
    if (text === undefined) return INTEGERS[name].default;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < INTEGERS[name].min)
      throw invalid(
        `--${name}: expected a whole number ≥ ${INTEGERS[name].min}, got ${JSON.stringify(text)}`,
      );
    return value;
  };
  const rateText = values.rate as string | undefined;
  const rate_tps = rateText === undefined ? 10 : Number(rateText);
  if (!Number.isFinite(rate_tps) || rate_tps <= 0 || rate_tps > 1_000)
    throw invalid(`--rate: expected transactions per second in (0, 1000], got ${JSON.stringify(rateText)}`);
  const downMin_ms = integer('down-min-ms');
  const downMax_ms = integer('down-max-ms');
  if (downMax_ms < downMin_ms)
    throw invalid(`--down-max-ms ${downMax_ms} is below --down-min-ms ${downMin_ms}`);
  const basePort = integer('base-port');
  if (basePort + 13 > 65_535) throw invalid(`--base-port: ${basePort} + 13 is beyond 65535`);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return {
    options: {
      kills: integer('kills'),
      rate_tps,
      downMin_ms,
      downMax_ms,
      seed: integer('seed'),
      drain_ms: integer('drain-ms'),
      readyDeadline_ms: integer('ready-deadline-ms'),
      settle_ms: integer('settle-ms'),
      basePort,
      signersPerNode: integer('signers-per-node'),
      ...(typeof values.cli === 'string' ? { cli: values.cli } : {}),
    },
    runs: integer('runs'),
    out: typeof values.out === 'string' ? values.out : `bench/out/crash-loop-${stamp}`,
    json: values.json === true,
    ...(typeof values.commit === 'string' ? { commit: values.commit } : {}),
  };
}
