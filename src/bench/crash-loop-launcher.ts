/**
 * Runs another medledger's command line in place of this project's (crash-loop.ts's `cli` option):
 * startProcessCluster spawns `node [node options] bin/medledger.js start ...`, and with this file and
 * the other bin/medledger.js as the node options the process runs
 *
 *   node crash-loop-launcher.ts OTHER_BIN THIS_BIN start --home DIR
 *
 * which drops THIS_BIN and runs OTHER_BIN with the rest. A benchmark can so measure a build it
 * pinned earlier while the sources here change.
 */
import { pathToFileURL } from 'node:url';

const [other, _replaced, ...args] = process.argv.slice(2);
if (!other) throw new Error('usage: node crash-loop-launcher.ts OTHER_BIN THIS_BIN ARGS...');
process.argv = [process.argv[0]!, other, ...args];
await import(pathToFileURL(other).href);
