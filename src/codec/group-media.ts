// The NetGroup media messages between peers (multicast in a group): the stream announce `21`, the
// fragments map `22`, the push request `23`, the pull `2B`, the media fragments `20`/`30`/`10`/`00`,
// and the ask-to-disconnect `0C`. Byte layouts as librtmfp writes and reads them (research file
// netgroup.md §5.2; librtmfp RTMFPWriter.cpp:159-217, GroupStream.cpp:106-142, GroupMedia.cpp:84-106
// and 381-426, PeerMedia.cpp:174-195, P2PSession.cpp:48-97). The peer-list report `0A` carries
// addresses and lives with the client (src/client/group-report.ts).
//
// Every parser answers undefined for bytes that are not a well-formed message of its kind: a peer's
// malformed message is a reason to close that peer's session, never to throw.
import { ByteReader, encodeOption, readOptionList, VluError, vluLength, writeVlu } from './vlu.js';

/** First byte of each group media message (librtmfp GroupStream.h). */
export const GroupMediaMessage = {
  /** The last piece of a media message cut in pieces. */
  MEDIA_END: 0x00,
  /** "Please drop me": sent on the report flow. */
  ASK_CLOSE: 0x0c,
  /** A middle piece of a media message cut in pieces. */
  MEDIA_NEXT: 0x10,
  /** A whole media message in one fragment. */
  MEDIA_DATA: 0x20,
  /** The stream announce (media subscription), or its short closing form. */
  STREAM_INFO: 0x21,
  /** Which fragments the sender holds. */
  FRAGMENTS_MAP: 0x22,
  /** Push me the fragments of these slices (ID mod 8). */
  PUSH: 0x23,
  /** Send me this one fragment. */
  PULL: 0x2b,
  /** The first piece of a media message cut in pieces. */
  MEDIA_START: 0x30,
} as const;

/**
 * Most payload bytes in one fragment (librtmfp NETGROUP_MAX_PACKET_SIZE): a fragment with its few
 * header bytes then fits one RTMFP packet (1192 bytes at most) with the flow's data chunk header.
 */
export const MAX_FRAGMENT_PAYLOAD = 959;
/** A stream key: 32 random bytes the publisher picks (librtmfp writes them as option `21 01` + key). */
export const STREAM_KEY_LENGTH = 32;

const OPTION_NAME = 0x00;
const OPTION_STREAM_KEY = 0x01;
/** `01 02`: always written by librtmfp; meaning unknown. */
const OPTION_UNKNOWN_02 = 0x02;
const OPTION_WINDOW = 0x03;
/** `04 04 92 A7 60` (300,000): always written by librtmfp; meaning unknown. */
const OPTION_UNKNOWN_04 = 0x04;
const OPTION_UPDATE_PERIOD = 0x05;
const OPTION_SEND_TO_ALL = 0x06;
const OPTION_FETCH_PERIOD = 0x07;
/** librtmfp tells the closing form from an announce by its length (P2PSession.cpp:51). */
const SHORT_FORM_LIMIT = 0x24;

export interface GroupStreamInfo {
  name: string;
  /** 32 bytes, the stream's identity in the group. */
  streamKey: Buffer;
  /** How long fragments are kept and offered (ms; librtmfp default 8,000). */
  windowMs: number;
  /** How often fragments maps are sent (ms; default 100). */
  availabilityUpdateMs: number;
  /** How long a member waits for a fragment to be pushed before pulling it (ms; default 2,500). */
  fetchPeriodMs: number;
  /** Fragments maps to every neighbour at each update rather than to one in turn. */
  sendToAll: boolean;
}

export function encodeStreamInfo(info: GroupStreamInfo): Buffer {
  if (info.streamKey.length !== STREAM_KEY_LENGTH) throw new RangeError(`a stream key has ${STREAM_KEY_LENGTH} bytes, not ${info.streamKey.length}`);
  if (info.name === '') throw new RangeError('a group stream needs a name');
  const vluValue = (n: number) => {
    const b = Buffer.alloc(vluLength(n));
    writeVlu(b, 0, n);
    return b;
  };
  return Buffer.concat([
    Buffer.from([GroupMediaMessage.STREAM_INFO]),
    encodeOption(OPTION_NAME, Buffer.from(info.name, 'utf8')),
    encodeOption(OPTION_STREAM_KEY, info.streamKey),
    encodeOption(OPTION_UNKNOWN_02),
    ...(info.sendToAll ? [encodeOption(OPTION_SEND_TO_ALL)] : []),
    encodeOption(OPTION_WINDOW, vluValue(info.windowMs)),
    encodeOption(OPTION_UNKNOWN_04, vluValue(300_000)),
    encodeOption(OPTION_UPDATE_PERIOD, vluValue(info.availabilityUpdateMs)),
    encodeOption(OPTION_FETCH_PERIOD, vluValue(info.fetchPeriodMs)),
  ]);
}

/**
 * `21` + VLU: the stream ends. The number is the fragment ID after the publisher's last fragment,
 * one that never carries a fragment: librtmfp's publisher counts one more after its last fragment
 * and sends that (GroupMedia.cpp:219-224, closePublisher: `++_fragmentCounter`; seen on the wire:
 * last fragment 4677, end 4678).
 */
export function encodeStreamEnd(endId: number): Buffer {
  const out = Buffer.alloc(1 + vluLength(endId));
  out[0] = GroupMediaMessage.STREAM_INFO;
  writeVlu(out, 1, endId);
  return out;
}

export type ParsedStreamInfo = ({ kind: 'announce' } & GroupStreamInfo) | { kind: 'end'; endId: number };

/** A `21` message: an announce (defaults for options left out) or the closing form. */
export function parseStreamInfo(message: Buffer): ParsedStreamInfo | undefined {
  if (message.length < 2 || message[0] !== GroupMediaMessage.STREAM_INFO) return undefined;
  try {
    const r = new ByteReader(message, 1);
    if (message.length - 1 < SHORT_FORM_LIMIT) {
      const endId = r.vlu();
      return r.remaining === 0 ? { kind: 'end', endId } : undefined;
    }
    const options = readOptionList(r);
    if (r.remaining !== 0) return undefined;
    const find = (type: number) => options.find((o) => o.type === type)?.value;
    const name = find(OPTION_NAME);
    const key = find(OPTION_STREAM_KEY);
    if (name === undefined || name.length === 0 || key === undefined || key.length !== STREAM_KEY_LENGTH) return undefined;
    const vluOf = (type: number, fallback: number) => {
      const v = find(type);
      if (v === undefined || v.length === 0) return fallback;
      const vr = new ByteReader(v);
      const n = vr.vlu();
      if (vr.remaining !== 0) throw new VluError('option value longer than its VLU');
      return n;
    };
    return {
      kind: 'announce',
      name: name.toString('utf8'),
      streamKey: Buffer.from(key),
      windowMs: vluOf(OPTION_WINDOW, 8000),
      availabilityUpdateMs: vluOf(OPTION_UPDATE_PERIOD, 100),
      fetchPeriodMs: vluOf(OPTION_FETCH_PERIOD, 2500),
      sendToAll: find(OPTION_SEND_TO_ALL) !== undefined,
    };
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}

/**
 * What a peer holds: its newest fragment `last`, and a bitmap of the ones before it, newest first:
 * bit r (1 << r) of byte k says whether fragment last − 1 − 8k − r is there.
 */
export interface FragmentsMap {
  last: number;
  bitmap: Buffer;
}

/** Most bitmap bytes we read or write: 8,000 fragments, far more than 8 s of any live stream. */
export const MAX_FRAGMENTS_MAP_BYTES = 1000;

/**
 * The map of fragments [first, last] for which `has` says yes (`last` itself is taken as held:
 * that is how librtmfp reads it). Every fragment from `first` up to `heldBelow` (excluded) is
 * known to be held and `has` is not asked about it: a member holds nearly all of its window, and
 * asking about each of its ~1,400 fragments for every map was 1.8% of a member's CPU (N = 50).
 */
export function encodeFragmentsMap(last: number, first: number, has: (id: number) => boolean, heldBelow = 0): Buffer {
  const span = Math.min(Math.max(0, last - Math.max(first, 1)), MAX_FRAGMENTS_MAP_BYTES * 8);
  const bytes = Math.ceil(span / 8);
  const out = Buffer.alloc(1 + vluLength(last) + bytes);
  out[0] = GroupMediaMessage.FRAGMENTS_MAP;
  const start = writeVlu(out, 1, last);
  // Bit i is fragment last - 1 - i: those from last - heldBelow on are held.
  const asked = Math.min(span, Math.max(0, last - heldBelow));
  let i = 0;
  for (; i < asked; i++) {
    if (has(last - 1 - i)) out[start + (i >> 3)]! |= 1 << (i & 7);
  }
  for (; i < span && (i & 7) !== 0; i++) out[start + (i >> 3)]! |= 1 << (i & 7);
  const whole = span & ~7;
  if (i < whole) {
    out.fill(0xff, start + (i >> 3), start + (whole >> 3));
    i = whole;
  }
  for (; i < span; i++) out[start + (i >> 3)]! |= 1 << (i & 7);
  return out;
}

export function parseFragmentsMap(message: Buffer): FragmentsMap | undefined {
  if (message.length < 2 || message[0] !== GroupMediaMessage.FRAGMENTS_MAP) return undefined;
  try {
    const r = new ByteReader(message, 1);
    const last = r.vlu();
    if (r.remaining > MAX_FRAGMENTS_MAP_BYTES) return undefined;
    return { last, bitmap: Buffer.from(r.rest()) };
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}

/** Whether the map says its sender holds fragment `id`. */
export function mapHas(map: FragmentsMap, id: number): boolean {
  if (id > map.last || id < 1) return false;
  if (id === map.last) return true;
  const i = map.last - 1 - id;
  const byte = i >> 3;
  return byte < map.bitmap.length && (map.bitmap[byte]! & (1 << (i & 7))) !== 0;
}

/** The oldest fragment a map covers (held or not). */
export function mapFirst(map: FragmentsMap): number {
  return Math.max(1, map.last - map.bitmap.length * 8);
}

/** `23` + mask: bit i asks for the fragments whose ID mod 8 is i. */
export function encodePushRequest(mask: number): Buffer {
  return Buffer.from([GroupMediaMessage.PUSH, mask & 0xff]);
}

export function parsePushRequest(message: Buffer): number | undefined {
  return message.length === 2 && message[0] === GroupMediaMessage.PUSH ? message[1] : undefined;
}

/** `2B` + VLU fragment ID. */
export function encodePull(fragmentId: number): Buffer {
  const out = Buffer.alloc(1 + vluLength(fragmentId));
  out[0] = GroupMediaMessage.PULL;
  writeVlu(out, 1, fragmentId);
  return out;
}

export function parsePull(message: Buffer): number | undefined {
  if (message.length < 2 || message[0] !== GroupMediaMessage.PULL) return undefined;
  try {
    const r = new ByteReader(message, 1);
    const id = r.vlu();
    return r.remaining === 0 && id > 0 ? id : undefined;
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}

export const ASK_CLOSE_MESSAGE: Buffer = Buffer.from([GroupMediaMessage.ASK_CLOSE]);

export function isAskClose(message: Buffer): boolean {
  return message.length === 1 && message[0] === GroupMediaMessage.ASK_CLOSE;
}

/** One piece of a media message, as it travels between peers. */
export interface MediaFragment {
  id: number;
  marker: 0x20 | 0x30 | 0x10 | 0x00;
  /**
   * Pieces after this one in its message (0 for a whole message and for the last piece): the
   * "split counter" counting down to the `00` piece.
   */
  remaining: number;
  /** RTMP message type (8 audio, 9 video, 0x12/0x0F data, 0x14/0x11 commands); first pieces only. */
  type: number;
  /** Milliseconds; first pieces only. */
  time: number;
  payload: Buffer;
}

/** Whether this fragment begins a media message (and carries its type and time). */
export function isMessageStart(f: Pick<MediaFragment, 'marker'>): boolean {
  return f.marker === GroupMediaMessage.MEDIA_DATA || f.marker === GroupMediaMessage.MEDIA_START;
}

/**
 * Cuts one media message into fragments numbered from `firstId`: one `20` when it fits in
 * MAX_FRAGMENT_PAYLOAD bytes, else a `30`, `10`s and a `00`. A message is at most 255 pieces
 * (the split counter is one byte): 244 KB.
 */
export function splitMediaMessage(firstId: number, type: number, time: number, payload: Buffer): MediaFragment[] {
  const pieces = Math.max(1, Math.ceil(payload.length / MAX_FRAGMENT_PAYLOAD));
  if (pieces > 256) throw new RangeError(`a media message of ${payload.length} bytes is too large for a group (at most ${256 * MAX_FRAGMENT_PAYLOAD})`);
  if (pieces === 1) return [{ id: firstId, marker: GroupMediaMessage.MEDIA_DATA, remaining: 0, type, time, payload }];
  const out: MediaFragment[] = [];
  for (let i = 0; i < pieces; i++) {
    const remaining = pieces - 1 - i;
    const marker = i === 0 ? GroupMediaMessage.MEDIA_START : remaining === 0 ? GroupMediaMessage.MEDIA_END : GroupMediaMessage.MEDIA_NEXT;
    out.push({ id: firstId + i, marker, remaining, type, time, payload: payload.subarray(i * MAX_FRAGMENT_PAYLOAD, (i + 1) * MAX_FRAGMENT_PAYLOAD) });
  }
  return out;
}

export function encodeMediaFragment(f: MediaFragment): Buffer {
  const start = isMessageStart(f);
  const split = f.marker === GroupMediaMessage.MEDIA_START || f.marker === GroupMediaMessage.MEDIA_NEXT;
  const header = 1 + vluLength(f.id) + (split ? 1 : 0) + (start ? 5 : 0);
  const out = Buffer.allocUnsafe(header + f.payload.length);
  out[0] = f.marker;
  let o = writeVlu(out, 1, f.id);
  if (split) out[o++] = f.remaining;
  if (start) {
    out[o++] = f.type;
    out.writeUInt32BE(f.time >>> 0, o);
    o += 4;
  }
  out.set(f.payload, o);
  return out;
}

/** A media fragment, or undefined when malformed (a `30`/`10` must count at least one piece to come). Its payload is a view into `message`. */
export function parseMediaFragment(message: Buffer): MediaFragment | undefined {
  const marker = message[0];
  if (marker !== 0x20 && marker !== 0x30 && marker !== 0x10 && marker !== 0x00) return undefined;
  try {
    const r = new ByteReader(message, 1);
    const id = r.vlu();
    if (id === 0) return undefined;
    let remaining = 0;
    if (marker === 0x30 || marker === 0x10) {
      remaining = r.u8();
      if (remaining === 0) return undefined;
    }
    let type = 0;
    let time = 0;
    if (marker === 0x20 || marker === 0x30) {
      type = r.u8();
      time = r.u32();
    }
    // A view into the message, not a copy: the message is kept whole to pass on (and RTMFP hands
    // each message over in a buffer of its own), so a copy only doubled the bytes received.
    return { id, marker, remaining, type, time, payload: r.rest() };
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}
