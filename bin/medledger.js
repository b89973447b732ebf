#!/usr/bin/env node
// The medledger command. The CLI is TypeScript, run directly by Node's type stripping (Node >= 22.18).
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv);
