/**
 * The web portal's entry point: the page the node serves at /app. Everything personal happens in
 * this tab: the keystore is opened here, every request is signed here, records are decrypted here.
 */
import { render } from 'preact';
import { App } from './app.tsx';
import './styles.css';

// Streamed downloads are read with for-await (client/http.ts); older engines lack it on ReadableStream.
const streams = ReadableStream.prototype as unknown as Record<symbol, unknown>;
streams[Symbol.asyncIterator] ??= async function* (this: ReadableStream<Uint8Array>) {
  const reader = this.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
};

render(<App />, document.getElementById('app')!);
