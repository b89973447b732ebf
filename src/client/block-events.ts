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

/** The blocks in a stream's body, in the order sent; NODE_BAD_RESPONSE for one that is not a block. */
export async function* blockEvents(
  body: ReadableStream<Uint8Array>,
  from: string,
): AsyncGenerator<BlockJson> {
  const events = body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream({ onError: 'terminate', maxBufferSize: MAX_EVENT_CHARS }));
  for await (const event of events) {
    if (event.event !== 'block') continue; // other kinds are for later versions to add
    let block: BlockJson;
    try {
      block = JSON.parse(event.data);
    } catch {
      throw notABlock(from, 'its data is not JSON');
    }
    if (
      !Number.isSafeInteger(block?.height) ||
      String(block.height) !== event.id ||
      !Array.isArray(block.txs)
    )
      throw notABlock(from, 'its data is not a block with the height of its id');
    yield block;
  }
}

function notABlock(from: string, why: string): MedledgerError {
  return new MedledgerError(
    'NODE_BAD_RESPONSE',
    `the block stream from ${from} sent an event that is not a block (${why})`,
  );
}
