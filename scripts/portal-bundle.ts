/**
 * How the web portal (src/app) is bundled for the browser into dist/portal/: app.js, app.css and
 * index.html, every asset from the project itself (no CDN), so the node serves it offline.
 *
 * The portal reuses the project's client code (client/records.ts, contracts/build.ts, the codec, the
 * key blob, the record encryption, the signed requests). What of it is Node-only is swapped here, in
 * the bundle, never in the Node code:
 *   - src/crypto/ed25519.ts and x25519.ts (node:crypto KeyObjects) by src/app/shims/ on @noble/curves;
 *   - `node:crypto` / `crypto`, imported by the reused modules, by shims/node-crypto.ts on @noble/hashes
 *     and @noble/ciphers (SHA-256, HMAC, HKDF, scrypt, AES-256-GCM, random bytes);
 *   - the free `Buffer` by the `buffer` package (shims/globals.ts, injected), `process.stderr` by the console;
 *   - other Node built-ins and Node-only packages (files, undici for --ca, LevelDB on disk and in memory) by an empty module:
 *     the reused code imports them for paths the portal never takes (writing files, TLS pinning).
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as esbuild from 'esbuild';
import { projectPath } from '../src/paths.ts';

/** Project modules the bundle takes from src/app/shims instead. */
const SWAPPED: Record<string, string> = {
  'src/crypto/ed25519.ts': 'src/app/shims/ed25519.ts',
  'src/crypto/x25519.ts': 'src/app/shims/x25519.ts',
};
const NODE_CRYPTO = projectPath('src/app/shims/node-crypto.ts');
/** Packages the reused code imports only for what runs in Node. */
const NODE_ONLY =
  /^(node:.*|constants|undici|level|classic-level|memory-level|@multiformats\/multiaddr|@medplum\/.*)$/;

const swapped = new Map(Object.entries(SWAPPED).map(([from, to]) => [projectPath(from), projectPath(to)]));

const browserPlugin: esbuild.Plugin = {
  name: 'medledger-browser',
  setup(build) {
    build.onResolve({ filter: /^(node:)?crypto$/ }, () => ({ path: NODE_CRYPTO }));
    build.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-only' }));
    build.onLoad({ filter: /.*/, namespace: 'node-only' }, () => ({ contents: 'module.exports = {};' }));
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = swapped.get(resolve(args.resolveDir, args.path));
      return target && args.importer !== target ? { path: target } : undefined;
    });
  },
};

/** The esbuild options of the portal bundle into `outdir`. */
export function portalOptions(outdir: string): esbuild.BuildOptions {
  return {
    entryPoints: { app: projectPath('src/app/main.tsx') },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome111', 'firefox111', 'safari16.4'],
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    inject: [projectPath('src/app/shims/globals.ts')],
    define: { 'process.stderr': 'portalStderr', 'process.env.NODE_ENV': '"production"' },
    plugins: [browserPlugin],
    metafile: true,
    logLevel: 'warning',
  };
}

/** Builds dist/portal (or `outdir`): the bundle, its stylesheet and the page. */
export async function buildPortal(
  build: typeof esbuild.build,
  outdir = projectPath('dist/portal'),
): Promise<esbuild.Metafile> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build(portalOptions(outdir));
  await mkdir(outdir, { recursive: true });
  await copyFile(projectPath('src/app/index.html'), join(outdir, 'index.html'));
  return result.metafile!;
}
