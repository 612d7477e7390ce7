// Aggregate messages (type 22, spec 7.1.6): several audio/video/data messages packed as FLV tags.
// The first sub-message's timestamp lines up with the aggregate's; the others keep their offsets
// from it. Sub-message bodies are views of the aggregate's payload, not copies.
import { ChunkStreamError } from './chunk-stream-error.js';
import { MessageType, type RtmpMessage } from './message-types.js';

const TAG_HEADER = 11;
const BACK_POINTER = 4;
const ALLOWED = new Set<number>([MessageType.Audio, MessageType.Video, MessageType.DataAmf0, MessageType.DataAmf3]);

export function splitAggregate(aggregate: RtmpMessage): RtmpMessage[] {
  const data = aggregate.payload;
  const out: RtmpMessage[] = [];
  let pos = 0;
  let base: number | undefined;
  while (pos < data.length) {
    if (data.length - pos < TAG_HEADER) throw new ChunkStreamError(`aggregate message cut inside a sub-message header at byte ${pos}`);
    const type = data[pos]! & 0x1f;
    const size = data.readUIntBE(pos + 1, 3);
    const ts = ((data[pos + 7]! << 24) | data.readUIntBE(pos + 4, 3)) >>> 0;
    const bodyStart = pos + TAG_HEADER;
    if (bodyStart + size > data.length) throw new ChunkStreamError(`aggregate sub-message of ${size} bytes overruns the aggregate at byte ${pos}`);
    if (!ALLOWED.has(type)) throw new ChunkStreamError(`aggregate message holds a sub-message of type ${type}`);
    base ??= ts;
    out.push({
      type,
      streamId: aggregate.streamId,
      timestamp: (aggregate.timestamp + ts - base) >>> 0,
      payload: data.subarray(bodyStart, bodyStart + size),
      chunkStreamId: aggregate.chunkStreamId,
    });
    // The back pointer is optional at the very end in practice; tolerate it missing there.
    pos = Math.min(data.length, bodyStart + size + BACK_POINTER);
  }
  return out;
}
