// A remote shared object as Flash's SharedObject.getRemote gives it: connect it over a
// NetConnection (RTMP or RTMFP), read `data`, change slots with setProperty, call handlers on
// every user with send, close. The server's answers arrive as sync events (clear, change,
// success, delete) in batches, one per message.
//
// Convergence: `data` shows the server's state with our unconfirmed requests on top. The server
// applies requests in one order and answers ours with Success, in the order we asked, so each
// Success confirms the oldest pending request of its slot; once every request is answered,
// `data` is exactly the server's state, whatever other users did meanwhile.
import { MalformedMessageError } from '../codec/flash-command.js';
import {
  decodeSharedObjectMessage,
  encodeSharedObjectMessage,
  SharedObjectEventType as E,
  type SharedObjectEvent,
  type SharedObjectMessage,
} from '../codec/shared-object-message.js';
import type { NetConnection } from './net-connection.js';

export interface SyncChange {
  /** As Flash's SyncEvent.changeList codes: clear, change (by another user or the server), success (ours applied), delete. */
  code: 'clear' | 'change' | 'success' | 'delete' | 'reject';
  name?: string;
  oldValue?: unknown;
  /** change and success: the slot's value as the server now has it (undefined: deleted). */
  value?: unknown;
  /** The object's version after this batch. */
  version?: number;
}

export interface SharedObjectStatus {
  code: string;
  level: string;
}

export class SharedObjectError extends Error {
  constructor(
    message: string,
    readonly status?: SharedObjectStatus,
  ) {
    super(message);
  }
}

/** The slots a NetConnection routes its shared-object messages through. */
export interface SharedObjectHost {
  /** @internal */
  attachSharedObject(name: string, receiver: (message: SharedObjectMessage) => void, closed: (reason: string) => void): void;
  /** @internal */
  detachSharedObject(name: string): void;
  /** @internal */
  sendSharedObjectMessage(message: SharedObjectMessage): void;
}

export class SharedObject {
  /** The slots, as the server has them plus our unconfirmed changes. */
  readonly data: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  /** The version of the last state received (0: none yet). Kept across connections, for deltas. */
  version = 0;
  connected = false;
  /** Every batch of sync changes, as it arrives (a message's events form one batch). */
  onSync?: (changes: SyncChange[]) => void;
  /** Status events (SharedObject.NoWriteAccess and the like). */
  onStatus?: (status: SharedObjectStatus) => void;
  /** Handlers `send` calls (ours and other users'). */
  handlers: Record<string, (...args: unknown[]) => void> = {};
  /** Every status received, in order. */
  readonly statuses: SharedObjectStatus[] = [];
  private readonly confirmed = new Map<string, unknown>();
  /** Our requests not yet answered, per slot, oldest first (undefined: delete). */
  private readonly pending = new Map<string, unknown[]>();
  /** The slots of each change message sent and not yet answered, oldest first. */
  private readonly unanswered: string[][] = [];
  private queued: SharedObjectEvent[] = [];
  private host: (SharedObjectHost & NetConnection) | undefined;
  private waiting: { resolve: (changes: SyncChange[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private syncWaiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly persistent = false,
  ) {}

  /**
   * Uses the object over `connection`, telling the server the version we hold: resolves with the
   * first batch (a full state starts with clear; a delta does not), rejects with the server's
   * error status (BadPersistence, NoReadAccess...) or when the connection ends.
   */
  connect(connection: NetConnection, timeoutMs = 10_000): Promise<SyncChange[]> {
    if (this.host !== undefined) return Promise.reject(new SharedObjectError(`shared object "${this.name}" is already connected`));
    const host = connection as NetConnection & SharedObjectHost;
    this.host = host;
    host.attachSharedObject(this.name, (m) => this.receive(m), (reason) => this.lost(reason));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.failConnect(new SharedObjectError(`shared object "${this.name}": no answer to use within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = { resolve, reject, timer };
      host.sendSharedObjectMessage({ name: this.name, version: this.version, persistent: this.persistent, events: [{ type: E.Use }] });
    });
  }

  /**
   * Sets a slot (null or undefined deletes it). Changes made in one turn of the event loop go in
   * one message, which the server applies as one batch under one version.
   */
  setProperty(key: string, value: unknown): void {
    if (this.host === undefined) throw new SharedObjectError(`shared object "${this.name}" is not connected`);
    const stored = value === null ? undefined : value;
    let queue = this.pending.get(key);
    if (queue === undefined) this.pending.set(key, (queue = []));
    queue.push(stored);
    this.show(key);
    this.enqueue(value === undefined ? { type: E.RequestRemove, key } : { type: E.RequestChange, key, value });
  }

  /** Calls `handler` on every user of the object, us included. */
  send(handler: string, ...args: unknown[]): void {
    if (this.host === undefined) throw new SharedObjectError(`shared object "${this.name}" is not connected`);
    this.enqueue({ type: E.SendMessage, handler, args });
  }

  /** Stops using the object (Release); `data` and `version` stay, for a later connect. */
  close(): void {
    if (this.host === undefined) return;
    this.flush();
    this.host.sendSharedObjectMessage({ name: this.name, version: this.version, persistent: this.persistent, events: [{ type: E.Release }] });
    this.detach();
  }

  /** Resolves once `check` holds after a sync (or at once if it holds now); rejects after the timeout. */
  waitFor(check: () => boolean, timeoutMs = 10_000, what = 'shared object condition'): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.syncWaiters = this.syncWaiters.filter((w) => w !== waiter);
        resolve();
      };
      const timer = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== waiter);
        reject(new SharedObjectError(`${what}: not within ${timeoutMs} ms (version ${this.version}, data ${JSON.stringify(this.data)})`));
      }, timeoutMs);
      this.syncWaiters.push(waiter);
    });
  }

  /** Requests still waiting for the server's Success. */
  get pendingCount(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  private enqueue(event: SharedObjectEvent): void {
    if (this.queued.length === 0) queueMicrotask(() => this.flush());
    this.queued.push(event);
  }

  private flush(): void {
    if (this.queued.length === 0 || this.host === undefined) return;
    const events = this.queued;
    this.queued = [];
    const keys: string[] = [];
    for (const e of events) if (e.type === E.RequestChange || e.type === E.RequestRemove) keys.push((e as { key: string }).key);
    if (keys.length > 0) this.unanswered.push(keys);
    this.host.sendSharedObjectMessage({ name: this.name, version: this.version, persistent: this.persistent, events });
  }

  /** What `data[key]` shows: our latest unconfirmed request, else the server's value. */
  private show(key: string): void {
    const queue = this.pending.get(key);
    const has = queue !== undefined && queue.length > 0;
    const value = has ? queue[queue.length - 1] : this.confirmed.get(key);
    if (value === undefined) delete this.data[key];
    else this.data[key] = value;
  }

  private receive(message: SharedObjectMessage): void {
    const changes: SyncChange[] = [];
    let versioned = false;
    for (const event of message.events) {
      switch (event.type) {
        case E.UseSuccess:
          this.connected = true;
          versioned = true;
          break;
        case E.Clear:
          for (const key of Object.keys(this.data)) delete this.data[key];
          this.confirmed.clear();
          for (const key of this.pending.keys()) this.show(key);
          changes.push({ code: 'clear' });
          versioned = true;
          break;
        case E.Change: {
          const { key, value } = event as { key: string; value: unknown };
          const oldValue = this.data[key];
          if (value === null || value === undefined) this.confirmed.delete(key);
          else this.confirmed.set(key, value);
          this.show(key);
          changes.push({ code: 'change', name: key, oldValue, value: value ?? undefined });
          versioned = true;
          break;
        }
        case E.Remove: {
          const { key } = event as { key: string };
          const oldValue = this.data[key];
          this.confirmed.delete(key);
          this.show(key);
          changes.push({ code: 'delete', name: key, oldValue });
          versioned = true;
          break;
        }
        case E.Success: {
          const { key } = event as { key: string };
          const queue = this.pending.get(key);
          if (queue === undefined || queue.length === 0) break;
          // The server answers each message's slots in the order asked, all in one message.
          const batch = this.unanswered[0];
          if (batch !== undefined) {
            batch.shift();
            if (batch.length === 0) this.unanswered.shift();
          }
          const value = queue.shift();
          if (queue.length === 0) this.pending.delete(key);
          if (value === undefined) this.confirmed.delete(key);
          else this.confirmed.set(key, value);
          this.show(key);
          changes.push({ code: 'success', name: key, value });
          versioned = true;
          break;
        }
        case E.SendMessage: {
          const { handler, args } = event as { handler: string; args: unknown[] };
          if (Object.hasOwn(this.handlers, handler)) this.handlers[handler]!(...args);
          break;
        }
        case E.Status: {
          const status = event as unknown as SharedObjectStatus;
          const copy = { code: status.code, level: status.level };
          this.statuses.push(copy);
          this.onStatus?.(copy);
          if (!this.connected && this.waiting !== undefined && copy.level === 'error') {
            this.failConnect(new SharedObjectError(`shared object "${this.name}": ${copy.code}`, copy));
            return;
          }
          if (copy.code === 'SharedObject.NoWriteAccess' && copy.level === 'error') {
            // Our oldest unanswered change message was refused whole: its requests are dropped.
            for (const key of this.unanswered.shift() ?? []) {
              const queue = this.pending.get(key);
              queue?.shift();
              if (queue?.length === 0) this.pending.delete(key);
              this.show(key);
              changes.push({ code: 'reject', name: key });
            }
          }
          break;
        }
        default:
          break;
      }
    }
    if (versioned) {
      this.version = message.version;
      for (const change of changes) change.version = message.version;
    }
    if (this.waiting !== undefined && this.connected) {
      const { resolve, timer } = this.waiting;
      this.waiting = undefined;
      clearTimeout(timer);
      resolve(changes);
    }
    if (changes.length > 0) this.onSync?.(changes);
    for (const waiter of this.syncWaiters.slice()) waiter();
  }

  private failConnect(error: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    this.detach();
    if (waiting === undefined) return;
    clearTimeout(waiting.timer);
    waiting.reject(error);
  }

  /** The connection ended: unconfirmed requests are dropped (they may or may not have applied; the next connect tells). */
  private lost(reason: string): void {
    this.host = undefined;
    this.connected = false;
    this.queued = [];
    this.pending.clear();
    this.unanswered.length = 0;
    for (const key of Object.keys(this.data)) this.show(key);
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) {
      clearTimeout(waiting.timer);
      waiting.reject(new SharedObjectError(`shared object "${this.name}": connection closed: ${reason}`));
    }
  }

  private detach(): void {
    this.host?.detachSharedObject(this.name);
    this.host = undefined;
    this.connected = false;
    this.pending.clear();
    this.unanswered.length = 0;
    this.queued = [];
    for (const key of Object.keys(this.data)) this.show(key);
  }
}

/** Routes one received shared-object message (types 16 and 19) to the object it names. */
export function decodeIncomingSharedObject(type: number, payload: Buffer): SharedObjectMessage | undefined {
  try {
    return decodeSharedObjectMessage(type, payload);
  } catch (err) {
    if (err instanceof MalformedMessageError) return undefined;
    throw err;
  }
}

export { encodeSharedObjectMessage };
