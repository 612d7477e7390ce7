// The remote shared-object message (RTMP spec 1.0 §7.1.3; RFC 7425 carries it unchanged on an
// RTMFP flow): type 19 holds AMF0 values, type 16 the same layout behind one format byte 0x00,
// its values AMF0 unless switched to AMF3 by the AVM+ marker 0x11. The spec draws the fields
// without widths; the widths below are the ones Red5 and crtmpserver agree on (research file
// lua-and-shared-objects.md §B1.2):
//
//   [u16 name length][UTF-8 name][u32 version][u32 flags][u32 reserved]
//   then events until the body ends: [u8 event type][u32 data length][data]
import { AmfError } from './amf-types.js';
import { Amf0Reader } from './amf0-reader.js';
import { Amf0Writer } from './amf0-writer.js';
import { FlashMessageType, MalformedMessageError, type ObjectEncoding } from './flash-command.js';

/** Event types 1-11 and their directions (spec table; Red5 and crtmpserver use the same numbers). */
export const SharedObjectEventType = {
  /** C→S: subscribe (empty). */
  Use: 1,
  /** C→S: unsubscribe (empty). */
  Release: 2,
  /** C→S: set a slot (key, value). */
  RequestChange: 3,
  /** S→C: a slot changed (key, value): to everyone but the requester. */
  Change: 4,
  /** S→C: the requester's change was applied (key only). */
  Success: 5,
  /** Both ways: a handler call (name, arguments), to every user including the sender. */
  SendMessage: 6,
  /** S→C: a status (code, level), e.g. SharedObject.NoWriteAccess / error. */
  Status: 7,
  /** S→C: forget every slot (the answer to Use when the full state follows). */
  Clear: 8,
  /** S→C: a slot was deleted (key). */
  Remove: 9,
  /** C→S: delete a slot (key). */
  RequestRemove: 10,
  /** S→C: the Use succeeded (empty). */
  UseSuccess: 11,
} as const;

export type SharedObjectEvent =
  | { type: 1 | 2 | 8 | 11 }
  | { type: 3 | 4; key: string; value: unknown }
  | { type: 5 | 9 | 10; key: string }
  | { type: 6; handler: string; args: unknown[] }
  | { type: 7; code: string; level: string }
  /** A type outside 1-11 (csimi saw 12-14 from an unnamed server): kept raw for the receiver to skip. */
  | { type: number; unknown: true; data: Buffer };

export interface SharedObjectMessage {
  name: string;
  version: number;
  /** flags & 2 (tolerant: other bits, seen on unnamed servers, are ignored). */
  persistent: boolean;
  /** The flags word as received; we send 2 or 0, as Red5 and crtmpserver do. */
  flags?: number;
  events: SharedObjectEvent[];
}

export function isSharedObjectType(type: number): boolean {
  return type === FlashMessageType.SharedObjectAmf0 || type === FlashMessageType.SharedObjectAmf3;
}

/** The message type that carries shared objects for a connection's object encoding. */
export function sharedObjectType(encoding: ObjectEncoding): number {
  return encoding === 3 ? FlashMessageType.SharedObjectAmf3 : FlashMessageType.SharedObjectAmf0;
}

/** Limits for peer input: deep nesting is refused rather than recursed into. */
const READ_OPTIONS = { maxDepth: 64 } as const;
const HEADER_AFTER_NAME = 12;
const EVENT_HEADER = 5;

/**
 * Decodes a type 16 or 19 body. Throws MalformedMessageError for a truncated header or event, an
 * event longer than the body, or a value that is not valid AMF: the message is then useless, but
 * its framing (RTMP chunks, an RTMFP flow message) was sound, so only this message is lost.
 */
export function decodeSharedObjectMessage(type: number, payload: Buffer): SharedObjectMessage {
  let offset = 0;
  if (type === FlashMessageType.SharedObjectAmf3) {
    // Red5 accepts 0 or 3 here, crtmpserver only 0: be as tolerant as Red5.
    if (payload.length < 1 || (payload[0] !== 0 && payload[0] !== 3)) throw new MalformedMessageError(`shared object message (type 16) without its format byte 0x00`);
    offset = 1;
  } else if (type !== FlashMessageType.SharedObjectAmf0) {
    throw new MalformedMessageError(`type ${type} is not a shared object message`);
  }
  if (payload.length - offset < 2) throw new MalformedMessageError(`shared object message of ${payload.length} bytes has no name`);
  const nameLength = payload.readUInt16BE(offset);
  offset += 2;
  if (payload.length - offset < nameLength + HEADER_AFTER_NAME) {
    throw new MalformedMessageError(`shared object message truncated: header needs ${nameLength + HEADER_AFTER_NAME} bytes after the name length, ${payload.length - offset} left`);
  }
  const name = payload.toString('utf8', offset, offset + nameLength);
  offset += nameLength;
  const version = payload.readUInt32BE(offset);
  const flags = payload.readUInt32BE(offset + 4);
  offset += HEADER_AFTER_NAME; // version, flags, reserved
  const events: SharedObjectEvent[] = [];
  while (offset < payload.length) {
    if (payload.length - offset < EVENT_HEADER) throw new MalformedMessageError(`shared object "${name}": event header truncated (${payload.length - offset} bytes left)`);
    const eventType = payload[offset]!;
    const length = payload.readUInt32BE(offset + 1);
    offset += EVENT_HEADER;
    if (length > payload.length - offset) {
      throw new MalformedMessageError(`shared object "${name}": event ${eventType} claims ${length} bytes, ${payload.length - offset} left`);
    }
    const data = payload.subarray(offset, offset + length);
    offset += length;
    try {
      decodeEvent(eventType, data, events);
    } catch (err) {
      if (err instanceof AmfError && !(err instanceof MalformedMessageError)) throw new MalformedMessageError(`shared object "${name}": event ${eventType}: ${err.message}`);
      throw err;
    }
  }
  return { name, version, persistent: (flags & 2) !== 0, flags, events };
}

function decodeEvent(type: number, data: Buffer, out: SharedObjectEvent[]): void {
  const reader = new Amf0Reader(data, READ_OPTIONS);
  switch (type) {
    case SharedObjectEventType.Use:
    case SharedObjectEventType.Release:
    case SharedObjectEventType.Clear:
    case SharedObjectEventType.UseSuccess:
      // Empty by the spec; anything inside is ignored rather than fatal.
      out.push({ type });
      return;
    case SharedObjectEventType.RequestChange:
    case SharedObjectEventType.Change:
      // One pair per event is what clients send; Red5 and crtmpserver read pairs until the data ends, so do we.
      do {
        const key = reader.readShortString('shared object slot name');
        out.push({ type, key, value: reader.readValue() });
      } while (reader.hasMore);
      return;
    case SharedObjectEventType.Success:
    case SharedObjectEventType.Remove:
    case SharedObjectEventType.RequestRemove:
      out.push({ type, key: reader.readShortString('shared object slot name') });
      return;
    case SharedObjectEventType.SendMessage: {
      const handler = reader.readValue();
      if (typeof handler !== 'string') throw new MalformedMessageError('shared object send: the handler name is not a string');
      out.push({ type, handler, args: reader.readAll() });
      return;
    }
    case SharedObjectEventType.Status: {
      const code = reader.readShortString('shared object status code');
      const level = reader.readShortString('shared object status level');
      out.push({ type, code, level });
      return;
    }
    default:
      out.push({ type, unknown: true, data: Buffer.from(data) });
  }
}

/**
 * Encodes a message for a connection of the given object encoding: type 19 (AMF0), or type 16
 * with its format byte and every value behind an AVM+ switch, as Red5 writes it for AMF3 clients.
 */
export function encodeSharedObjectMessage(encoding: ObjectEncoding, message: SharedObjectMessage): { type: number; payload: Buffer } {
  const writer = new Amf0Writer();
  const out = writer.output;
  if (encoding === 3) out.writeUInt8(0);
  writer.writeShortString(message.name);
  out.writeUInt32BE(message.version >>> 0);
  out.writeUInt32BE(message.flags ?? (message.persistent ? 2 : 0));
  out.writeUInt32BE(0);
  const value = (v: unknown) => {
    // A fresh reference table per value: each event is read on its own.
    writer.resetReferences();
    if (encoding === 3) writer.writeAvmPlus(v);
    else writer.writeValue(v);
  };
  for (const event of message.events) {
    out.writeUInt8(event.type);
    const lengthAt = out.byteLength;
    out.writeUInt32BE(0);
    const start = out.byteLength;
    if ('unknown' in event) out.writeBytes(event.data);
    else if ('value' in event) {
      writer.writeShortString(event.key);
      value(event.value);
    } else if ('key' in event) writer.writeShortString(event.key);
    else if ('handler' in event) {
      // The handler name is a marked AMF0 string (Red5 reads it with a marker), in both containers.
      writer.resetReferences();
      writer.writeValue(event.handler);
      for (const arg of event.args) value(arg);
    } else if ('code' in event) {
      writer.writeShortString(event.code);
      writer.writeShortString(event.level);
    }
    out.patchUInt32BE(lengthAt, out.byteLength - start);
  }
  return { type: sharedObjectType(encoding), payload: Buffer.from(writer.toBuffer()) };
}
