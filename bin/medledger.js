#!/usr/bin/env node
// The medledger command. It runs the bundle that `npm install` builds (dist/cli, see
// scripts/build.ts) while that is newer than every source file, and otherwise the TypeScript sources
// directly, by Node's type stripping: an edited checkout never runs stale code, and an installed one
// starts in a fraction of the time.
import { existsSync } from 'node:fs';
import { bundleIsFresh } from './bundle.js';

const root = new URL('..', import.meta.url).pathname;
const bundle = `${root}dist/cli/main.js`;
const entry = existsSync(bundle) && bundleIsFresh(root, bundle) ? bundle : `${root}src/cli/main.ts`;
const { main } = await import(entry);

process.exitCode = await main(process.argv);
