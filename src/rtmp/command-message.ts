// Command (types 20/17) and data (types 18/15) message payloads: AMF0 values, or for the AMF3
// types a format byte then AMF0 values in which AMF3 values arrive behind AVM+ switches.
import { Amf0Reader, Amf0Writer } from '../codec/amf0.js';
import { AmfError } from '../codec/amf-types.js';
import { ChunkStreamError } from './chunk-stream-error.js';
import { MessageType } from './message-types.js';

export type ObjectEncoding = 0 | 3;

export interface CommandMessage {
  name: string;
  transactionId: number;
  /** The command object (connect's properties), or null. */
  commandObject: unknown;
  args: unknown[];
}

/** Limits for AMF decoding of peer input: deep nesting is refused rather than recursed into. */
const READ_OPTIONS = { maxDepth: 64 } as const;

function amfValues(type: number, payload: Buffer): unknown[] {
  // AMF3 command and data messages start with a format byte (0); skip it.
  const body = (type === MessageType.CommandAmf3 || type === MessageType.DataAmf3) && payload[0] === 0 ? payload.subarray(1) : payload;
  try {
    return new Amf0Reader(body, READ_OPTIONS).readAll();
  } catch (err) {
    if (err instanceof AmfError) throw new ChunkStreamError(`malformed AMF in a type ${type} message: ${err.message}`);
    throw err;
  }
}

export function decodeCommand(type: number, payload: Buffer): CommandMessage {
  const values = amfValues(type, payload);
  const [name, transactionId, commandObject, ...args] = values;
  if (typeof name !== 'string') throw new ChunkStreamError(`command message (type ${type}) does not start with a name`);
  return {
    name,
    transactionId: typeof transactionId === 'number' && Number.isFinite(transactionId) ? transactionId : 0,
    commandObject: commandObject ?? null,
    args,
  };
}

/** A data message's values: a handler name such as "@setDataFrame" or "onMetaData", then its arguments. */
export function decodeData(type: number, payload: Buffer): unknown[] {
  return amfValues(type, payload);
}

function isComplex(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !(value instanceof Date);
}

/**
 * Encodes a command for a connection of the given object encoding: AMF0 (type 20), or type 17
 * with objects behind AVM+ switches, which is what Flash Player sends and expects on AMF3.
 */
export function encodeCommand(
  encoding: ObjectEncoding,
  name: string,
  transactionId: number,
  commandObject: unknown,
  ...args: unknown[]
): { type: number; payload: Buffer } {
  const writer = new Amf0Writer();
  if (encoding === 3) writer.output.writeUInt8(0);
  writer.writeValue(name).writeValue(transactionId);
  for (const value of [commandObject, ...args]) {
    if (encoding === 3 && isComplex(value)) writer.writeAvmPlus(value);
    else writer.writeValue(value);
  }
  return { type: encoding === 3 ? MessageType.CommandAmf3 : MessageType.CommandAmf0, payload: Buffer.from(writer.toBuffer()) };
}

/** Encodes a data message (always AMF0: every player reads it, and metadata is plain values). */
export function encodeData(name: string, ...args: unknown[]): Buffer {
  return Buffer.from(new Amf0Writer().writeValues(name, ...args).toBuffer());
}
