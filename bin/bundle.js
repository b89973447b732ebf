// Whether the CLI's bundle (dist/cli) was built from the sources as they are now: it is, when its
// entry file is newer than every file under src/ and than package.json. A few hundred stat calls.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** `root`: the project; `bundle`: the bundle's entry file. */
export function bundleIsFresh(root, bundle) {
  try {
    const built = statSync(bundle).mtimeMs;
    return newest(join(root, 'src')) < built && statSync(join(root, 'package.json')).mtimeMs < built;
  } catch {
    return false;
  }
}
