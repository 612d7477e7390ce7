// One remote shared object of an application: its slots, its version and history, its users.
// FMS's semantics (research file lua-and-shared-objects.md §B3), which Red5 and crtmpserver only
// approximate:
// - every applied batch (one client message's changes, or one server-side batch) bumps the
//   version once, and its events go out as one message under that version;
// - the requester gets Success for each slot it asked to change or delete, every other user gets
//   Change or Remove (Red5 sends Remove to the requester too; FMS answers the requester with
//   success, which is also what lets a client that keeps its pending requests converge);
// - send reaches every user, the sender included;
// - a user coming back with version v gets only what changed since v (changes, and removals
//   while they are within `resyncDepth` versions), one further behind gets Clear then everything.
// Changes are applied synchronously as they arrive, so each object has one total order, and each
// user's channel (one ordered flow or TCP stream) sees its events in that order.
import { Amf0Writer } from '../codec/amf0-writer.js';
import {
  encodeSharedObjectMessage,
  SharedObjectEventType as E,
  type SharedObjectEvent,
} from '../codec/shared-object-message.js';
import type { ObjectEncoding } from './flash-transport.js';

/** Who uses an object: a client connection (or a test double). */
export interface SharedObjectUser {
  readonly id: string;
  readonly objectEncoding: ObjectEncoding;
  /** Sends one encoded shared-object message (type 19 or 16) on the NetConnection. */
  sendSharedObjectMessage(type: number, payload: Buffer): void;
}

/** One slot change of a batch: `value` undefined (or null on the wire) deletes the slot. */
export interface SlotChange {
  key: string;
  value: unknown;
}

interface Slot {
  value: unknown;
  /** The version of the batch that last set it. */
  version: number;
  /** Bytes of its key and AMF0 value, for the size limits. */
  bytes: number;
}

/** What persistence keeps of an object (values as the codecs decode them). */
export interface SharedObjectSnapshot {
  version: number;
  slots: Record<string, unknown>;
}

/** Bytes a slot costs against the size limits: its key plus its value as AMF0 (AMF3-only values behind 0x11). */
const sizer = new Amf0Writer();
export function slotBytes(key: string, value: unknown): number {
  sizer.output.reset();
  sizer.resetReferences();
  sizer.writeValue(value);
  return Buffer.byteLength(key) + sizer.output.byteLength;
}

/** Messages encoded once per object encoding, whatever the number of users. */
class EncodedMessage {
  private readonly encoded: Array<{ type: number; payload: Buffer } | undefined> = [];

  constructor(
    private readonly name: string,
    private readonly version: number,
    private readonly persistent: boolean,
    private readonly events: SharedObjectEvent[],
  ) {}

  sendTo(user: SharedObjectUser): void {
    const encoding = user.objectEncoding;
    const m = (this.encoded[encoding] ??= encodeSharedObjectMessage(encoding, { name: this.name, version: this.version, persistent: this.persistent, events: this.events }));
    user.sendSharedObjectMessage(m.type, m.payload);
  }
}

export class SharedObject {
  readonly users = new Set<SharedObjectUser>();
  /** Holds of server-side code (scripts): while any, the object stays loaded without users. */
  scriptHolds = 0;
  /** Current version: that of the last applied batch. */
  version: number;
  /** Versions at or below this have no history here: a client that old gets the full state. */
  private historyFrom: number;
  private readonly slots = new Map<string, Slot>();
  /** Deleted slots and the version that deleted them, kept while within resyncDepth. */
  private readonly removed = new Map<string, number>();
  private totalBytes = 0;

  constructor(
    readonly name: string,
    readonly persistent: boolean,
    /** How many versions of removals are kept for deltas (FMS resyncDepth). */
    private readonly resyncDepth: number,
    /** The version to start from: the persisted one, or above an earlier incarnation's. */
    initialVersion = 0,
    initialSlots: Record<string, unknown> = {},
  ) {
    this.version = initialVersion;
    this.historyFrom = initialVersion;
    for (const key of Object.keys(initialSlots)) {
      const value = initialSlots[key];
      const bytes = slotBytes(key, value);
      this.slots.set(key, { value, version: initialVersion, bytes });
      this.totalBytes += bytes;
    }
  }

  get slotCount(): number {
    return this.slots.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Bytes of one slot now (0 when absent). */
  slotBytes(key: string): number {
    return this.slots.get(key)?.bytes ?? 0;
  }

  get(key: string): unknown {
    return this.slots.get(key)?.value;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  keys(): IterableIterator<string> {
    return this.slots.keys();
  }

  snapshot(): SharedObjectSnapshot {
    const slots: Record<string, unknown> = {};
    for (const [key, slot] of this.slots) slots[key] = slot.value;
    return { version: this.version, slots };
  }

  /**
   * Adds a user (or re-syncs one already here) that last saw `knownVersion` (0: nothing), and
   * answers it: Use Success, then either the changes and removals since its version, or Clear
   * and every slot.
   */
  use(user: SharedObjectUser, knownVersion: number): 'delta' | 'full' {
    this.users.add(user);
    const events: SharedObjectEvent[] = [{ type: E.UseSuccess }];
    const delta = knownVersion > 0 && knownVersion >= this.historyFrom && knownVersion <= this.version;
    if (delta) {
      for (const [key, slot] of this.slots) if (slot.version > knownVersion) events.push({ type: E.Change, key, value: slot.value });
      for (const [key, version] of this.removed) if (version > knownVersion) events.push({ type: E.Remove, key });
    } else {
      events.push({ type: E.Clear });
      for (const [key, slot] of this.slots) events.push({ type: E.Change, key, value: slot.value });
    }
    new EncodedMessage(this.name, this.version, this.persistent, events).sendTo(user);
    return delta ? 'delta' : 'full';
  }

  release(user: SharedObjectUser): boolean {
    return this.users.delete(user);
  }

  /**
   * Applies one batch in order (later changes of a key win) under one new version, if anything
   * changed: the requester (if any: server-side writes have none) gets Success for every key it
   * asked about, every other user one message with the Changes and Removes. Checks (access,
   * limits) are the caller's: here every change applies. `rewritten`: slots whose value the
   * application replaced (see there).
   */
  apply(changes: readonly SlotChange[], requester?: SharedObjectUser, rewritten?: ReadonlySet<string>): boolean {
    const next = this.version + 1;
    const announced: SharedObjectEvent[] = [];
    for (const { key, value } of changes) {
      if (value === undefined || value === null) {
        const slot = this.slots.get(key);
        if (slot === undefined) continue;
        this.slots.delete(key);
        this.totalBytes -= slot.bytes;
        this.removed.set(key, next);
        announced.push({ type: E.Remove, key });
      } else {
        const bytes = slotBytes(key, value);
        const old = this.slots.get(key);
        this.totalBytes += bytes - (old?.bytes ?? 0);
        this.slots.set(key, { value, version: next, bytes });
        this.removed.delete(key);
        announced.push({ type: E.Change, key, value });
      }
    }
    const changed = announced.length > 0;
    if (changed) {
      this.version = next;
      this.forgetOldRemovals();
    }
    if (requester !== undefined) {
      // Success for every key asked about, in the order asked (repeats included): the client
      // pops one pending request per Success.
      const answer: SharedObjectEvent[] = changes.map(({ key }) => ({ type: E.Success, key }));
      // A slot the application rewrote: after its Success (which settles the request), the
      // value everyone else got, in the same message and version. FMS gives the same end state
      // when a server script sets a slot in onSync after a client's change (success, then
      // change: FMS 2 SSAS reference p.132-133), there under two versions. Change alone would
      // leave a client that confirms requests by Success holding its own value.
      if (rewritten !== undefined) {
        for (const key of rewritten) {
          const slot = this.slots.get(key);
          answer.push(slot === undefined ? { type: E.Remove, key } : { type: E.Change, key, value: slot.value });
        }
      }
      new EncodedMessage(this.name, this.version, this.persistent, answer).sendTo(requester);
    }
    if (changed) {
      const message = new EncodedMessage(this.name, this.version, this.persistent, collapse(announced));
      for (const user of this.users) if (user !== requester) message.sendTo(user);
    }
    return changed;
  }

  /** A handler call to every user, the sender included (FMS: "broadcast ... includes the sender"). */
  send(handler: string, args: unknown[]): void {
    const message = new EncodedMessage(this.name, this.version, this.persistent, [{ type: E.SendMessage, handler, args }]);
    for (const user of this.users) message.sendTo(user);
  }

  /** A status event to one user (code, level), about this object. */
  status(user: SharedObjectUser, code: string, level = 'error'): void {
    sendStatus(user, this.name, this.version, this.persistent, code, level);
  }

  /** Removals older than resyncDepth versions are forgotten, and with them the ability to send deltas from before. */
  private forgetOldRemovals(): void {
    const floor = this.version - this.resyncDepth;
    if (floor <= this.historyFrom) return;
    this.historyFrom = floor;
    for (const [key, version] of this.removed) if (version <= floor) this.removed.delete(key);
  }
}

/** A status event about an object, which may not exist (BadPersistence, ObjectCreationFailed). */
export function sendStatus(user: SharedObjectUser, name: string, version: number, persistent: boolean, code: string, level = 'error'): void {
  new EncodedMessage(name, version, persistent, [{ type: E.Status, code, level }]).sendTo(user);
}

/** One event per key, the last: a batch that set a key twice announces its final value once. */
function collapse(events: SharedObjectEvent[]): SharedObjectEvent[] {
  if (events.length < 2) return events;
  const last = new Map<string, SharedObjectEvent>();
  for (const event of events) {
    const key = (event as { key: string }).key;
    last.delete(key);
    last.set(key, event);
  }
  return [...last.values()];
}
