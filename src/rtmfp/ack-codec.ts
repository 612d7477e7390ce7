// Bodies of the flow chunks (RFC 7016 §2.3.11-2.3.17): User Data and Next User Data headers,
// Data Acknowledgement Bitmap and Ranges, Buffer Probe and Flow Exception Report.
// Parsers take a chunk body (without the 3-byte chunk header) and throw ChunkError on anything
// malformed; writers append whole chunks to a ChunkWriter and answer whether they fit.
import { ByteReader, VluError, encodeOption, encodeVlu, vluLength } from '../codec/vlu.js';
import { CHUNK_HEADER_LENGTH, ChunkType, UserDataFlag, UserDataOption } from './chunk-types.js';
import type { ChunkWriter } from './chunk-writer.js';
import type { ReceivedAck } from './flow-context.js';

/** A chunk body that cannot be accepted: malformed, truncated, or outside what the flow allows. */
export class ChunkError extends Error {
  override name = 'ChunkError';
}

// Local copies for the per-chunk paths.
const F_OPTIONS = UserDataFlag.OPTIONS;
const CT_ACK_BITMAP = ChunkType.ACK_BITMAP;
const CT_ACK_RANGES = ChunkType.ACK_RANGES;
const vluLen = vluLength;

function safeVlu(r: ByteReader, what: string): number {
  let v: number;
  try {
    v = r.vlu();
  } catch (e) {
    if (e instanceof VluError) throw new ChunkError(`${what}: ${e.message}`);
    throw e;
  }
  if (!Number.isSafeInteger(v)) throw new ChunkError(`${what}: value too large`);
  return v;
}

function u8(r: ByteReader, what: string): number {
  if (r.remaining < 1) throw new ChunkError(`${what}: truncated`);
  return r.u8();
}

// ---- User Data (0x10) and Next User Data (0x11) -------------------------------------------

export interface UserDataChunk {
  flags: number;
  flowId: number;
  sequenceNumber: number;
  fsnOffset: number;
  /** User's Per-Flow Metadata option, if present (a view into the body). */
  metadata?: Buffer;
  /** Return Flow Association option, if present. */
  returnFlowId?: number;
  /** An option the flow must understand (type below 0x2000) but we do not: reject the flow. */
  unknownMandatoryOption: boolean;
  /** The user data: a view into the body, to its end. */
  data: Buffer;
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.length);
}

/** Parses a User Data chunk body (type 0x10). */
export function parseUserDataHeader(body: Uint8Array): UserDataChunk {
  const r = new ByteReader(asBuffer(body));
  const flags = u8(r, 'user data flags');
  const flowId = safeVlu(r, 'user data flow id');
  const sequenceNumber = safeVlu(r, 'user data sequence number');
  const fsnOffset = safeVlu(r, 'user data fsnOffset');
  if (fsnOffset > sequenceNumber) throw new ChunkError('user data fsnOffset exceeds its sequence number');
  const out: UserDataChunk = { flags, flowId, sequenceNumber, fsnOffset, unknownMandatoryOption: false, data: EMPTY };
  if (flags & F_OPTIONS) {
    for (;;) {
      if (r.remaining < 1) throw new ChunkError('user data option list has no end marker');
      const length = safeVlu(r, 'user data option length');
      if (length === 0) break;
      if (length > r.remaining) throw new ChunkError('user data option runs past its chunk');
      const end = r.offset + length;
      const type = safeVlu(r, 'user data option type');
      if (r.offset > end) throw new ChunkError('user data option type runs past its option');
      const value = r.bytes(end - r.offset);
      if (type === UserDataOption.METADATA) out.metadata = value;
      else if (type === UserDataOption.RETURN_FLOW_ASSOCIATION) {
        out.returnFlowId = safeVlu(new ByteReader(value), 'return flow association');
      } else if (type < UserDataOption.MANDATORY_CUTOFF) out.unknownMandatoryOption = true;
    }
  }
  out.data = r.rest();
  return out;
}

/** Parses a Next User Data chunk body (type 0x11): flags, then user data. */
export function parseNextUserData(body: Uint8Array): { flags: number; data: Buffer } {
  const b = asBuffer(body);
  if (b.length < 1) throw new ChunkError('next user data: truncated');
  return { flags: b[0]!, data: b.subarray(1) };
}

/** Body bytes before the data in a User Data chunk without options. */
export function userDataHeaderLength(flowId: number, sequenceNumber: number, fsnOffset: number): number {
  return 1 + vluLen(flowId) + vluLen(sequenceNumber) + vluLen(fsnOffset);
}

/**
 * The option list a flow sends until its first acknowledgement: metadata, the return flow
 * association if any, and the end marker.
 */
export function encodeUserDataOptions(metadata: Uint8Array, returnFlowId?: number): Buffer {
  const parts = [encodeOption(UserDataOption.METADATA, metadata)];
  if (returnFlowId !== undefined) parts.push(encodeOption(UserDataOption.RETURN_FLOW_ASSOCIATION, encodeVlu(returnFlowId)));
  parts.push(MARKER);
  return Buffer.concat(parts);
}

const MARKER = Buffer.from([0]);

// ---- Acknowledgements (0x50 bitmap, 0x51 ranges) -------------------------------------------

export interface ParsedAck {
  flowId: number;
  ack: ReceivedAck;
}

function ackHeader(r: ByteReader, kind: string): { flowId: number; bufferBlocksAvailable: number; cumulativeAck: number } {
  const flowId = safeVlu(r, `${kind} flow id`);
  const bufferBlocksAvailable = safeVlu(r, `${kind} buffer blocks`);
  const cumulativeAck = safeVlu(r, `${kind} cumulative ack`);
  return { flowId, bufferBlocksAvailable, cumulativeAck };
}

/** Parses a Data Acknowledgement Bitmap chunk body (type 0x50). */
export function parseAckBitmap(body: Uint8Array): ParsedAck {
  const r = new ByteReader(asBuffer(body));
  const h = ackHeader(r, 'ack bitmap');
  const ranges: Array<[number, number]> = [];
  // Bit 0 (least significant) of the first byte stands for cumulativeAck + 2.
  const base = h.cumulativeAck + 2;
  const bits = r.remaining * 8;
  if (!Number.isSafeInteger(base + bits)) throw new ChunkError('ack bitmap runs past the sequence space');
  let runStart = -1;
  for (let i = 0; i < bits; i++) {
    const byte = body[r.offset + (i >> 3)]!;
    if (byte === 0 && (i & 7) === 0 && runStart < 0) {
      i += 7;
      continue;
    }
    const set = (byte >> (i & 7)) & 1;
    if (set) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      ranges.push([base + runStart, base + i - 1]);
      runStart = -1;
    }
  }
  if (runStart >= 0) ranges.push([base + runStart, base + bits - 1]);
  return {
    flowId: h.flowId,
    ack: { bufferBlocksAvailable: h.bufferBlocksAvailable, cumulativeAck: h.cumulativeAck, ranges },
  };
}

/** Parses a Data Acknowledgement Ranges chunk body (type 0x51). */
export function parseAckRanges(body: Uint8Array): ParsedAck {
  const r = new ByteReader(asBuffer(body));
  const h = ackHeader(r, 'ack ranges');
  const ranges: Array<[number, number]> = [];
  let cursor = h.cumulativeAck;
  while (r.remaining > 0) {
    const holesMinusOne = safeVlu(r, 'ack range holes');
    const receivedMinusOne = safeVlu(r, 'ack range received');
    const from = cursor + holesMinusOne + 2;
    const to = from + receivedMinusOne;
    if (!Number.isSafeInteger(to)) throw new ChunkError('ack range runs past the sequence space');
    ranges.push([from, to]);
    cursor = to;
  }
  return {
    flowId: h.flowId,
    ack: { bufferBlocksAvailable: h.bufferBlocksAvailable, cumulativeAck: h.cumulativeAck, ranges },
  };
}

/** Parses either acknowledgement form by chunk type. */
export function parseAck(chunkType: number, body: Uint8Array): ParsedAck {
  if (chunkType === CT_ACK_BITMAP) return parseAckBitmap(body);
  if (chunkType === CT_ACK_RANGES) return parseAckRanges(body);
  throw new ChunkError(`chunk type 0x${chunkType.toString(16)} is not an acknowledgement`);
}

/** The received ranges above the cumulative ack, as parallel arrays (what a RecvFlow keeps). */
export interface AckRangeList {
  readonly starts: ArrayLike<number>;
  readonly ends: ArrayLike<number>;
  readonly count: number;
}

/** Body length of the ranges form with all ranges. */
export function ackRangesBodyLength(flowId: number, blocks: number, cumulativeAck: number, list: AckRangeList): number {
  let n = vluLen(flowId) + vluLen(blocks) + vluLen(cumulativeAck);
  let cursor = cumulativeAck;
  for (let i = 0; i < list.count; i++) {
    const s = list.starts[i]!;
    const e = list.ends[i]!;
    n += vluLen(s - cursor - 2) + vluLen(e - s);
    cursor = e;
  }
  return n;
}

/** Body length of the bitmap form (Infinity if there are no ranges worth a bitmap). */
export function ackBitmapBodyLength(flowId: number, blocks: number, cumulativeAck: number, list: AckRangeList): number {
  const head = vluLen(flowId) + vluLen(blocks) + vluLen(cumulativeAck);
  if (list.count === 0) return head;
  const lastBit = list.ends[list.count - 1]! - (cumulativeAck + 2);
  return head + (lastBit >> 3) + 1;
}

/**
 * Writes an acknowledgement chunk: the shorter of bitmap and ranges. If neither fits whole,
 * a ranges chunk holding as many leading ranges as fit (truncation only hides receptions,
 * which the sender will learn of later). Answers false, writing nothing, if not even the
 * header fits.
 */
export function writeAck(w: ChunkWriter, flowId: number, blocks: number, cumulativeAck: number, list: AckRangeList): boolean {
  const room = w.roomForBody;
  const head = vluLen(flowId) + vluLen(blocks) + vluLen(cumulativeAck);
  if (head > room) return false;
  const rangesLen = ackRangesBodyLength(flowId, blocks, cumulativeAck, list);
  // The bitmap is only worth considering when it could be shorter; bound its size first so a far
  // range never makes us touch a huge bitmap.
  if (list.count > 0) {
    const bitmapLen = ackBitmapBodyLength(flowId, blocks, cumulativeAck, list);
    if (bitmapLen < rangesLen && bitmapLen <= room) {
      w.begin(CT_ACK_BITMAP);
      w.vlu(flowId);
      w.vlu(blocks);
      w.vlu(cumulativeAck);
      const start = w.offset;
      const bytes = bitmapLen - head;
      w.buf.fill(0, start, start + bytes);
      const base = cumulativeAck + 2;
      for (let i = 0; i < list.count; i++) {
        for (let seq = list.starts[i]!; seq <= list.ends[i]!; seq++) {
          const bit = seq - base;
          w.buf[start + (bit >> 3)]! |= 1 << (bit & 7);
        }
      }
      w.offset = start + bytes;
      w.end();
      return true;
    }
  }
  w.begin(CT_ACK_RANGES);
  w.vlu(flowId);
  w.vlu(blocks);
  w.vlu(cumulativeAck);
  let left = room - head;
  let cursor = cumulativeAck;
  for (let i = 0; i < list.count; i++) {
    const s = list.starts[i]!;
    const e = list.ends[i]!;
    const holes = s - cursor - 2;
    const received = e - s;
    const need = vluLen(holes) + vluLen(received);
    if (need > left) break;
    w.vlu(holes);
    w.vlu(received);
    left -= need;
    cursor = e;
  }
  w.end();
  return true;
}

/** Chunk bytes (header included) of the largest acknowledgement writeAck would produce. */
export function ackChunkLength(flowId: number, blocks: number, cumulativeAck: number, list: AckRangeList): number {
  const ranges = ackRangesBodyLength(flowId, blocks, cumulativeAck, list);
  const bitmap = list.count > 0 ? ackBitmapBodyLength(flowId, blocks, cumulativeAck, list) : ranges;
  return CHUNK_HEADER_LENGTH + Math.min(ranges, bitmap);
}

// ---- Buffer Probe (0x18) and Flow Exception Report (0x5e) -----------------------------------

/** The flow ID that is all of a Buffer Probe body (0x18); trailing bytes are ignored. */
export function parseFlowIdChunk(body: Uint8Array): number {
  return safeVlu(new ByteReader(asBuffer(body)), 'flow id');
}

export const parseBufferProbe = parseFlowIdChunk;

export function writeBufferProbe(w: ChunkWriter, flowId: number): boolean {
  if (vluLen(flowId) > w.roomForBody) return false;
  w.begin(ChunkType.BUFFER_PROBE);
  w.vlu(flowId);
  w.end();
  return true;
}

export function parseFlowException(body: Uint8Array): { flowId: number; code: number } {
  const r = new ByteReader(asBuffer(body));
  const flowId = safeVlu(r, 'flow exception flow id');
  const code = safeVlu(r, 'flow exception code');
  return { flowId, code };
}

export function writeFlowException(w: ChunkWriter, flowId: number, code: number): boolean {
  if (vluLen(flowId) + vluLen(code) > w.roomForBody) return false;
  w.begin(ChunkType.FLOW_EXCEPTION);
  w.vlu(flowId);
  w.vlu(code);
  w.end();
  return true;
}

const EMPTY = Buffer.alloc(0);
