import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = new URL('../bin/medledger.js', import.meta.url).pathname;

describe('medledger command', () => {
  it('prints its version from package.json', async () => {
    const { stdout } = await run(process.execPath, [bin, '--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('prints help naming the program', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help']);
    expect(stdout).toContain('Usage: medledger');
  });

  it('exits non-zero on an unknown option', async () => {
    await expect(run(process.execPath, [bin, '--no-such-option'])).rejects.toMatchObject({ code: 1 });
  });
});
