/**
 * Injected into the portal bundle by esbuild (scripts/portal-bundle.ts): the free `Buffer` of the
 * reused Node-side modules becomes the `buffer` package's (see buffer.ts), and `process.stderr`
 * (where client/submit.ts writes a warning) becomes the browser console.
 */
import { Buffer as BufferPackage } from 'buffer';
import { nodeCompatible } from './buffer.ts';

export const Buffer = nodeCompatible(BufferPackage);

export const portalStderr = {
  write(text: string): boolean {
    console.warn(text.trimEnd());
    return true;
  },
};
