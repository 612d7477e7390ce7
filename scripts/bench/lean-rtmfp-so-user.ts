// A benchmark-only RTMFP user of one shared object: Covey's client opens the session, connects and
// uses the object (lean-session-player.ts); then this LeanReceiver (lean-player.ts) takes the
// session over: it acknowledges the server's flows as Covey's client does and answers pings, and
// reads of each new message only what finds the slot's new value (so-update-reader.ts), decrypting
// those blocks alone. An update is one whole fragment (about 30 bytes); a shared-object message in
// several fragments (changes of large slots with it) is gathered, decrypted whole, then read.
import { FlashMessageType } from '../../src/codec/flash-command.js';
import { TC_MESSAGE_HEADER_LENGTH } from '../../src/codec/tc-message.js';
import { Fragment, UserDataFlag } from '../../src/rtmfp/chunk-types.js';
import { LeanReceiver, type LeanFlow, type LeanSession } from './lean-player.js';
import { readSharedObjectUpdates, type SharedObjectUpdateSink } from './so-update-reader.js';

/** A shared-object message in several fragments, gathered so far. */
interface Gathering {
  next: number;
  parts: Buffer[];
}

export class LeanRtmfpSoUser extends LeanReceiver {
  private readonly sink: SharedObjectUpdateSink;
  private readonly gathering = new Map<LeanFlow, Gathering>();
  private readonly byteAt = (at: number): number => this.byte(at);

  /** Reports each number the server announces for the one-letter slot `slot`. */
  constructor(
    session: LeanSession,
    private readonly slot: number,
    onValue: (value: number) => void,
  ) {
    super(session);
    this.sink = { useSuccess: () => {}, value: onValue };
  }

  protected override newFragment(flow: LeanFlow, flags: number, seq: number, end: number): void {
    const position = flags & UserDataFlag.FRAGMENT_MASK;
    const at = this.cursor;
    if (position === Fragment.WHOLE || position === Fragment.BEGIN) {
      this.gathering.delete(flow);
      if ((flags & UserDataFlag.ABANDON) !== 0 || end - at < TC_MESSAGE_HEADER_LENGTH) return;
      const type = this.byte(at);
      if (type !== FlashMessageType.SharedObjectAmf0 && type !== FlashMessageType.SharedObjectAmf3) return;
      if (position === Fragment.BEGIN) this.gathering.set(flow, { next: seq + 1, parts: [this.bytes(at, end)] });
      else if (!readSharedObjectUpdates(type, this.byteAt, at + TC_MESSAGE_HEADER_LENGTH, end, this.slot, this.sink)) this.malformed++;
      return;
    }
    const g = this.gathering.get(flow);
    if (g === undefined) return;
    if ((flags & UserDataFlag.ABANDON) !== 0 || seq !== g.next) {
      // Out of order or given up: not an update this reader can read, counted as lost.
      this.gathering.delete(flow);
      this.malformed++;
      return;
    }
    g.next++;
    g.parts.push(this.bytes(at, end));
    if (position !== Fragment.END) return;
    this.gathering.delete(flow);
    const message = Buffer.concat(g.parts);
    if (!readSharedObjectUpdates(message[0]!, (i) => message[i]!, TC_MESSAGE_HEADER_LENGTH, message.length, this.slot, this.sink)) this.malformed++;
  }

  /** The plaintext of [from, end) of the packet being read. */
  private bytes(from: number, end: number): Buffer {
    const b = Buffer.allocUnsafe(end - from);
    for (let i = 0; i < b.length; i++) b[i] = this.byte(from + i);
    return b;
  }
}
