/** The README points only at files that exist: paths it names in backquotes are in the repository. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('README', () => {
  it('names only files and folders that are in the repository', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const named = new Set(
      [...readme.matchAll(/`((?:docs|examples|docker|scripts|bench|src|test|bin|\.ci)\/[\w./-]*?)`/g)]
        .map(([, path]) => path!.replace(/\/$/, ''))
        .filter((path) => !/[<>*]|\.\.\./.test(path)),
    );
    expect(named.size).toBeGreaterThan(20);
    const missing = [...named].filter((path) => !existsSync(join(root, path)));
    expect(missing).toEqual([]);
    // The design document lives outside the repository; the README points to docs/architecture.md.
    expect(readme).not.toContain('DESIGN.md');
  });
});
