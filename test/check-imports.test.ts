/** scripts/check-imports.ts: import cycles and the folder rules of docs/architecture.md. */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImports } from '../scripts/check-imports.ts';
import { projectPath } from '../src/paths.ts';

const run = promisify(execFile);
const SCRIPT = projectPath('scripts/check-imports.ts');
const roots: string[] = [];

/** A source tree in a temporary directory: path → text. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'medledger-imports-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe('check-imports', () => {
  it('finds a cycle, and the command fails on it', async () => {
    const root = tree({
      'ledger/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
      'ledger/b.ts': "export { c as b } from './c.ts';\n",
      'ledger/c.ts': "import {\n  a,\n} from './a.ts';\nexport const c = () => a;\n",
    });
    expect(checkImports(root)).toEqual([
      'import cycle: ledger/a.ts → ledger/b.ts → ledger/c.ts → ledger/a.ts',
    ]);
    const failed = await run(process.execPath, [SCRIPT, root]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect('code' in failed && failed.code).toBe(1);
    expect((failed as { stderr: string }).stderr).toContain('import cycle: ledger/a.ts');
  });

  it('leaves out type-only imports and import(), and refuses a folder the rules forbid', () => {
    const root = tree({
      'api/routes.ts':
        "import type { Node } from '../node/node.ts';\nexport const load = () => import('../node/node.ts');\n",
      'node/node.ts':
        "import { routes } from '../api/routes.ts';\nexport interface Node {}\nexport { routes };\n",
      'consensus/replica.ts': "import { Node } from '../node/node.ts';\nexport const n = Node;\n",
    });
    expect(checkImports(root)).toEqual([
      'consensus/replica.ts imports node/node.ts: consensus imports only ledger, codec, crypto',
    ]);
  });

  it('finds folders that import each other, though no file imports itself back', () => {
    const root = tree({
      'node/daemon.ts': "import { serve } from '../api/server.ts';\nexport const start = serve;\n",
      'node/config.ts': 'export const parse = () => 1;\n',
      'api/server.ts': "import { parse } from '../node/config.ts';\nexport const serve = parse;\n",
    });
    expect(checkImports(root)).toEqual([
      'api/server.ts imports node/config.ts: api imports no node',
      'folder import cycle: api → node → api',
    ]);
  });

  it('passes on the project itself', async () => {
    expect(checkImports(projectPath('src'))).toEqual([]);
    await run(process.execPath, [SCRIPT]);
  });
});
