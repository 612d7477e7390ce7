// Media helpers for stream tests: the FLV fixture, publishing it in real time as a live encoder
// would, and collecting what a player receives.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeAmf0 } from '../../src/codec/amf0.js';
import { FlvParser, type FlvTag } from '../../src/codec/flv.js';
import type { FrameKind, NetStream } from '../../src/client/net-connection.js';
import { decodeAmf0 } from '../../src/codec/amf0.js';

/** About 2 s of H.264 + AAC (see test/fixtures/README.md). */
export const FIXTURE = fileURLToPath(new URL('../fixtures/sample-h264-aac.flv', import.meta.url));

export function fixtureTags(): FlvTag[] {
  return new FlvParser().push(readFileSync(FIXTURE));
}

/**
 * Sends FLV tags on a publishing stream at the pace of their timestamps (script data as
 * @setDataFrame, as encoders do). `beforeTag` runs ahead of each tag, at its time. Returns the
 * last timestamp sent.
 */
export async function publishInRealTime(stream: NetStream, tags: readonly FlvTag[], beforeTag?: (tag: FlvTag) => void | Promise<void>): Promise<number> {
  const t0 = Date.now();
  let last = 0;
  for (const tag of tags) {
    const wait = tag.timestamp - (Date.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await beforeTag?.(tag);
    if (tag.type === 8) stream.sendAudio(tag.timestamp, tag.data);
    else if (tag.type === 9) stream.sendVideo(tag.timestamp, tag.data);
    else if (tag.type === 18) stream.sendDataBytes(tag.timestamp, Buffer.concat([encodeAmf0('@setDataFrame'), tag.data]));
    last = tag.timestamp;
  }
  return last;
}

export type Got = { kind: FrameKind; ts: number; payload: Buffer };

/** An onFrame handler that keeps copies of every frame. */
export function collector(): { frames: Got[]; onFrame: (kind: FrameKind, ts: number, payload: Buffer) => void } {
  const frames: Got[] = [];
  return { frames, onFrame: (kind, ts, payload) => frames.push({ kind, ts, payload: Buffer.from(payload) }) };
}

/** The handler name of a data frame (onMetaData, |RtmpSampleAccess...). */
export const dataName = (f: Got) => decodeAmf0(f.payload)[0];
