// Reads what the shared-object fan-out bench's lean users need of a shared-object message (type 19,
// or 16 with its format byte), without decoding it: whether it holds UseSuccess, and the numbers a
// Change event sets the one-letter slot to. Bytes come through `byteAt`, so a lean RTMFP user
// decrypts only the blocks read here (the name, header and event headers of a ~30-byte update).
// Layout (src/codec/shared-object-message.ts): [u16 name length][name][u32 version][u32 flags]
// [u32 reserved], then events [u8 type][u32 length][data]; a Change's data is [u16 key length]
// [key][AMF0 value], a number being marker 0x00 and 8 bytes big-endian.
import { FlashMessageType } from '../../src/codec/flash-command.js';
import { SharedObjectEventType } from '../../src/codec/shared-object-message.js';

const AMF0_NUMBER = 0x00;
const double = Buffer.alloc(8);

export interface SharedObjectUpdateSink {
  /** The server accepted this user's Use. */
  useSuccess(): void;
  /** A Change event set the slot to `value`. */
  value(value: number): void;
}

/**
 * Scans the message body at [from, end) of type `type` for UseSuccess and Change events of the
 * slot whose one-byte name is `slot`. Answers false when the body is not a shared-object
 * message it can walk (truncated, lengths past the end).
 */
export function readSharedObjectUpdates(type: number, byteAt: (at: number) => number, from: number, end: number, slot: number, sink: SharedObjectUpdateSink): boolean {
  let o = from;
  if (type === FlashMessageType.SharedObjectAmf3) o++;
  else if (type !== FlashMessageType.SharedObjectAmf0) return false;
  if (o + 2 > end) return false;
  o += 2 + ((byteAt(o) << 8) | byteAt(o + 1)) + 12;
  while (o + 5 <= end) {
    const event = byteAt(o);
    const length = ((byteAt(o + 1) << 24) | (byteAt(o + 2) << 16) | (byteAt(o + 3) << 8) | byteAt(o + 4)) >>> 0;
    const data = o + 5;
    o = data + length;
    if (o > end) return false;
    if (event === SharedObjectEventType.UseSuccess) sink.useSuccess();
    // [u16 1][slot][0x00][8 bytes]: 12 bytes.
    else if (event === SharedObjectEventType.Change && length === 12 && byteAt(data) === 0 && byteAt(data + 1) === 1 && byteAt(data + 2) === slot && byteAt(data + 3) === AMF0_NUMBER) {
      for (let i = 0; i < 8; i++) double[i] = byteAt(data + 4 + i);
      sink.value(double.readDoubleBE(0));
    }
  }
  return o === end;
}
