/**
 * The CLI's bundle (scripts/build.ts): it is built from the sources, behaves as they do (the
 * commands, the simulator's worker threads, the project's own files found from dist/), and
 * bin/medledger.js runs it only while it is newer than every source file.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript module beside the command, without type declarations
import { bundleIsFresh } from '../bin/bundle.js';

const root = new URL('..', import.meta.url).pathname;
const out = `dist/check-${process.pid}`;

function node(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: root, env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs the bundled CLI at `out` with `args`, as bin/medledger.js would. */
const bundled = (...args: string[]) => node([join(root, out, 'run.mjs'), ...args]);

describe('the CLI bundle', () => {
  beforeAll(async () => {
    const built = await node(['scripts/build.ts', out]);
    expect(built.code, built.stderr).toBe(0);
    await writeFile(
      join(root, out, 'run.mjs'),
      "const { main } = await import('./main.js');\nprocess.exitCode = await main(process.argv);\n",
    );
  }, 60_000);
  afterAll(async () => {
    await rm(join(root, out), { recursive: true, force: true });
  });

  it('runs the commands as the sources do', async () => {
    const version = await bundled('--version');
    const { version: expected } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    expect(version.stdout.trim()).toBe(expected);
    const sim = await bundled('sim', '--nodes', '4', '--seeds', '3', '--workers', '2');
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toMatch(/^medledger sim: 4 nodes, 3 seed\(s\)/);
    const missing = await bundled('genesis', 'validate', '/nonexistent.json', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'GENESIS_NOT_FOUND' } });
  }, 60_000);

  it('loads the FHIR validator from node_modules, and only to check a record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'medledger-bundle-fhir-'));
    try {
      const loads = join(dir, 'medplum-loads.txt');
      const hooked = (...args: string[]) =>
        node(
          ['--import', join(root, 'test/fixtures/medplum-loads.mjs'), join(root, out, 'run.mjs'), ...args],
          {
            ...process.env,
            MEDPLUM_LOADS: loads,
          },
        );
      const version = await hooked('--version');
      expect(version.code, version.stderr).toBe(0);
      await expect(readFile(loads, 'utf8')).rejects.toThrow(/ENOENT/);
      const file = join(dir, 'observation.json');
      await writeFile(file, JSON.stringify({ resourceType: 'Observation', code: { text: 'HbA1c' } }));
      const add = await hooked(
        'record',
        'add',
        file,
        '--patient',
        '0'.repeat(32),
        '--type',
        'Observation',
        '--node',
        'http://127.0.0.1:9',
        '--json',
      );
      expect(add.code, add.stderr).toBe(1);
      expect(JSON.parse(add.stdout).error).toEqual({
        code: 'FHIR_INVALID',
        message: `${file} is not valid FHIR R4 (1 problem): Observation.status: Missing required property`,
      });
      expect(await readFile(loads, 'utf8')).toContain('/node_modules/@medplum/');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('is used only while it is newer than every source file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'medledger-bundle-'));
    try {
      await mkdir(join(dir, 'src', 'cli'), { recursive: true });
      await mkdir(join(dir, 'dist'));
      const source = join(dir, 'src', 'cli', 'main.ts');
      const bundle = join(dir, 'dist', 'main.js');
      await writeFile(join(dir, 'package.json'), '{}');
      await writeFile(source, '');
      await writeFile(bundle, '');
      const at = (path: string, s: number) => utimes(path, s, s);
      await at(join(dir, 'package.json'), 1000);
      await at(source, 1000);
      await at(bundle, 2000);
      expect(bundleIsFresh(dir, bundle)).toBe(true);
      await at(source, 3000); // a source edited after the build
      expect(bundleIsFresh(dir, bundle)).toBe(false);
      await at(source, 1000);
      await at(join(dir, 'package.json'), 3000); // dependencies changed
      expect(bundleIsFresh(dir, bundle)).toBe(false);
      expect(bundleIsFresh(dir, join(dir, 'dist', 'absent.js'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
