/**
 * Where the project's own files are (package.json, bin/, examples/, the OpenAPI document, the
 * simulator's worker), found from this module's location by walking up to medledger's package.json.
 * A relative URL would break once the CLI runs from its bundle (dist/), which sits elsewhere in the
 * tree than the sources it was built from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'medledger') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the medledger project around its code');
    dir = parent;
  }
}

export const PROJECT_ROOT = projectRoot();

/** A path inside the project, e.g. projectPath('bin/medledger.js'). */
export const projectPath = (relative: string): string => join(PROJECT_ROOT, relative);
