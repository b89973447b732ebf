/**
 * Checks the imports between the project's source files: no file may import itself back through
 * other files, no folder may import itself back through other folders, and no folder may import a
 * folder docs/architecture.md ("What imports what") keeps it from. Only imports that load a module at run time count: static `import … from '…'`,
 * `import '…'` and `export … from '…'`; `import type` and `export type` are erased, and `import()`
 * is lazy. Run by `npm run lint`: `node scripts/check-imports.ts [SRC_DIR]` (default: src/), exit
 * status 1 with one line per problem.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What a folder under src/ may import at run time besides the top-level files (`allow`: only
 * these folders), or what it may not (`deny`). Top-level files themselves import no folder.
 */
export const FOLDER_RULES: Record<string, { allow?: string[]; deny?: string[] }> = {
  codec: { allow: [] },
  crypto: { allow: [] },
  p2p: { allow: [] },
  ledger: { allow: ['codec', 'crypto'] },
  consensus: { allow: ['ledger', 'codec', 'crypto'] },
  contracts: { allow: ['ledger', 'codec', 'crypto'] },
  driver: { allow: ['consensus', 'contracts', 'ledger', 'codec', 'crypto'] },
  store: { allow: ['codec', 'crypto'] },
  fhir: { allow: ['contracts'] },
  faults: { allow: [] },
  api: { deny: ['node', 'sim', 'bench', 'cli', 'client', 'app'] },
  node: { deny: ['sim', 'bench', 'cli', 'client', 'app'] },
  sim: { deny: ['store', 'node', 'api', 'p2p', 'bench', 'cli', 'client', 'app'] },
  client: { deny: ['api', 'node', 'sim', 'bench', 'cli', 'app', 'p2p'] },
  bench: { deny: ['api', 'cli', 'app'] },
};

/** The folder a file belongs to (its first directory under the source root), or '' for a top-level file. */
function folderOf(root: string, file: string): string {
  const parts = relative(root, file).split(sep);
  return parts.length > 1 ? parts[0]! : '';
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files.sort();
}

// A statement that starts a line: `import [type] CLAUSE from 'x'`, `import 'x'`,
// `export [type] * [as name] from 'x'`, `export [type] { … } from 'x'`. A clause holds only names,
// braces, commas, `*` and whitespace, so a match never runs past the statement it starts.
const IMPORT = /^import\s+(type\s+)?[\w$*{},\s]+?\s+from\s*['"]([^'"]+)['"]/gm;
const BARE_IMPORT = /^import\s*['"]([^'"]+)['"]/gm;
const EXPORT = /^export\s+(type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[\w$,\s]*\})\s*from\s*['"]([^'"]+)['"]/gm;

/** The specifiers a file loads at run time (type-only imports and `import()` left out). */
export function runtimeImports(text: string): string[] {
  const found: string[] = [];
  for (const pattern of [IMPORT, EXPORT]) {
    for (const match of text.matchAll(pattern)) if (!match[1]) found.push(match[2]!);
  }
  for (const match of text.matchAll(BARE_IMPORT)) found.push(match[1]!);
  return found;
}

/** The file a relative specifier names, or undefined for a package or a file outside `root`. */
function resolveImport(root: string, from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const base = resolve(dirname(from), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  const file = candidates.find((path) => existsSync(path) && statSync(path).isFile());
  if (file === undefined || relative(root, file).startsWith('..')) return undefined;
  return file;
}

/** Strongly connected components of more than one file, or of a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string) => {
    index.set(file, next);
    low.set(file, next++);
    stack.push(file);
    onStack.add(file);
    for (const to of graph.get(file) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(file, Math.min(low.get(file)!, index.get(to)!));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || (graph.get(file) ?? []).includes(file)) found.push(component);
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

/** One path through a cycle's files, from its first file (sorted) back to it. */
function cyclePath(graph: Map<string, string[]>, component: string[]): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  // Breadth-first from start's successors back to start, within the component: a shortest cycle.
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const to of graph.get(file) ?? []) {
      if (!members.has(to) || previous.has(to)) continue;
      previous.set(to, file);
      if (to === start) {
        const path = [start];
        for (let at = file; at !== start; at = previous.get(at)!) path.unshift(at);
        path.unshift(start);
        return path;
      }
      queue.push(to);
    }
  }
  return [start, start];
}

/** Every problem found under `root`, one sentence each; empty when the imports are as they should be. */
export function checkImports(root: string): string[] {
  const absolute = resolve(root);
  const name = (file: string) => relative(absolute, file).split(sep).join('/');
  const graph = new Map<string, string[]>();
  const folders = new Map<string, string[]>();
  const problems: string[] = [];
  for (const file of sourceFiles(absolute)) {
    const targets: string[] = [];
    const from = folderOf(absolute, file);
    for (const specifier of runtimeImports(readFileSync(file, 'utf8'))) {
      const target = resolveImport(absolute, file, specifier);
      if (target === undefined) continue;
      targets.push(target);
      const to = folderOf(absolute, target);
      if (to === '' || to === from) continue;
      if (from !== '') {
        const reached = folders.get(from) ?? [];
        if (!reached.includes(to)) folders.set(from, [...reached, to]);
      }
      const rule = FOLDER_RULES[from];
      const refused =
        from === ''
          ? 'top-level files import no folder'
          : rule?.allow && !rule.allow.includes(to)
            ? `${from} imports only ${rule.allow.length > 0 ? rule.allow.join(', ') : 'the top-level files'}`
            : rule?.deny?.includes(to)
              ? `${from} imports no ${to}`
              : undefined;
      if (refused) problems.push(`${name(file)} imports ${name(target)}: ${refused}`);
    }
    graph.set(file, targets);
  }
  for (const component of cycles(graph)) {
    problems.push(`import cycle: ${cyclePath(graph, component).map(name).join(' → ')}`);
  }
  for (const component of cycles(folders)) {
    problems.push(`folder import cycle: ${cyclePath(folders, component).join(' → ')}`);
  }
  return problems;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const problems = checkImports(root);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} problem(s) (docs/architecture.md, "What imports what")`);
    process.exit(1);
  }
}
