// Flash message types shared by RTMP and RTMFP (RFC 7425 carries RTMP's message types), and the
// command (20/17) and data (18/15) payloads: AMF0 values, or for the AMF3 types a format byte
// then AMF0 values in which AMF3 values arrive behind AVM+ switches.
import { Amf0Reader, Amf0Writer } from './amf0.js';
import { AmfError } from './amf-types.js';

/** Message types that carry Flash communication over either protocol. */
export const FlashMessageType = {
  UserControl: 4,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

export type ObjectEncoding = 0 | 3;

export interface CommandMessage {
  name: string;
  transactionId: number;
  /** The command object (connect's properties), or null. */
  commandObject: unknown;
  args: unknown[];
}

/** A command or data payload that is not what its type says. Transports decide what it costs the sender. */
export class MalformedMessageError extends AmfError {
  override name = 'MalformedMessageError';
}

/** Limits for AMF decoding of peer input: deep nesting is refused rather than recursed into. */
const READ_OPTIONS = { maxDepth: 64 } as const;

function amfValues(type: number, payload: Buffer): unknown[] {
  // AMF3 command and data messages start with a format byte (0); skip it.
  const body = (type === FlashMessageType.CommandAmf3 || type === FlashMessageType.DataAmf3) && payload[0] === 0 ? payload.subarray(1) : payload;
  try {
    return new Amf0Reader(body, READ_OPTIONS).readAll();
  } catch (err) {
    if (err instanceof AmfError) throw new MalformedMessageError(`malformed AMF in a type ${type} message: ${err.message}`);
    throw err;
  }
}

export function isCommandType(type: number): boolean {
  return type === FlashMessageType.CommandAmf0 || type === FlashMessageType.CommandAmf3;
}

export function isDataType(type: number): boolean {
  return type === FlashMessageType.DataAmf0 || type === FlashMessageType.DataAmf3;
}

export function decodeCommand(type: number, payload: Buffer): CommandMessage {
  const values = amfValues(type, payload);
  const [name, transactionId, commandObject, ...args] = values;
  if (typeof name !== 'string') throw new MalformedMessageError(`command message (type ${type}) does not start with a name`);
  return {
    name,
    transactionId: typeof transactionId === 'number' && Number.isFinite(transactionId) ? transactionId : 0,
    commandObject: commandObject ?? null,
    args,
  };
}

/**
 * The arguments of a command that never has a command object (setPeerInfo, onStatus), whether or
 * not its sender wrote the null that stands for one. Flash writes it; librtmfp leaves it out of
 * every command it writes without its `amf3` flag (FlashWriter::writeInvocation), so its
 * setPeerInfo is `"setPeerInfo", 0, "ip:port", ...` and its P2P publisher's statuses are
 * `"onStatus", 0, {level, code, description}`: read after a null that is not there, the first
 * address, or the status object, would be taken for the command object and lost.
 */
export function argumentsWithoutCommandObject(command: CommandMessage): unknown[] {
  return command.commandObject === null ? command.args : [command.commandObject, ...command.args];
}

/** A data message's values: a handler name such as "@setDataFrame" or "onMetaData", then its arguments. */
export function decodeData(type: number, payload: Buffer): unknown[] {
  return amfValues(type, payload);
}

/** A data payload as AMF0 (what the model keeps): type 15's leading format byte dropped. */
export function dataAsAmf0(type: number, payload: Buffer): Buffer {
  return type === FlashMessageType.DataAmf3 && payload[0] === 0 ? payload.subarray(1) : payload;
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
  return { type: encoding === 3 ? FlashMessageType.CommandAmf3 : FlashMessageType.CommandAmf0, payload: Buffer.from(writer.toBuffer()) };
}

/** Encodes a data message (always AMF0: every player reads it, and metadata is plain values). */
export function encodeData(name: string, ...args: unknown[]): Buffer {
  return Buffer.from(new Amf0Writer().writeValues(name, ...args).toBuffer());
}
