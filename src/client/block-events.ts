/**
 * A node's committed blocks as GET /v1/blocks/stream sends them: server-sent events, parsed by
 * eventsource-parser, each `block` event's data the block's JSON (that of GET /v1/blocks/{h}). The
 * client's `followBlocks` and the benchmark's followers read them here.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { MedledgerError } from '../errors.ts';
import type { BlockJson } from './api-types.ts';

/** What one event may hold, well above a full block's JSON: a node that sends more is cut off. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024;
/** Silence after which the link counts as dead: three of the node's 15 s heartbeats missed. */
export const STREAM_IDLE_MS = 45_000;

/**
 * The blocks in a stream's body, in the order sent; NODE_BAD_RESPONSE for one that is not a block,
 * NODE_TIMEOUT when nothing (not even a heartbeat) arrives for `idle_ms`.
 */
export async function* blockEvents(
  body: ReadableStream<Uint8Array>,
  from: string,
  idle_ms = STREAM_IDLE_MS,
): AsyncGenerator<BlockJson> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (controller: TransformStreamDefaultController<string>) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const silent = `the block stream from ${from} sent nothing for ${idle_ms / 1000} s`;
      controller.error(new MedledgerError('NODE_TIMEOUT', silent));
    }, idle_ms);
  };
  // Decodes the bytes as they come, and takes each chunk (a heartbeat too) as a sign of life.
  const decoder = new TextDecoder();
  const watchdog = new TransformStream<Uint8Array, string>({
    start: arm,
    transform(chunk, controller) {
      arm(controller);
      controller.enqueue(decoder.decode(chunk, { stream: true }));
    },
    flush(controller) {
      clearTimeout(timer);
      const rest = decoder.decode();
      if (rest) controller.enqueue(rest);
    },
  });
  const events = body
    .pipeThrough(watchdog)
    .pipeThrough(new EventSourceParserStream({ onError: 'terminate', maxBufferSize: MAX_EVENT_CHARS }));
  try {
    for await (const event of events) {
      if (event.event !== 'block') continue; // other kinds are for later versions to add
      yield parseBlock(event, from);
    }
  } finally {
    clearTimeout(timer);
  }
}

function parseBlock(event: { id?: string; data: string }, from: string): BlockJson {
  let block: BlockJson;
  try {
    block = JSON.parse(event.data);
  } catch {
    throw notABlock(from, 'its data is not JSON');
  }
  if (!Number.isSafeInteger(block?.height) || String(block.height) !== event.id || !Array.isArray(block.txs))
    throw notABlock(from, 'its data is not a block with the height of its id');
  return block;
}

function notABlock(from: string, why: string): MedledgerError {
  return new MedledgerError(
    'NODE_BAD_RESPONSE',
    `the block stream from ${from} sent an event that is not a block (${why})`,
  );
}
