// An application's remote shared objects: created on first use (transient, or persistent and
// loaded from the store), found by name, gone with their last user (transient), and the checks
// between a client's message and the object: hooks, limits, persistence flag. Each client
// message is handled in order, to the end, before the next: one total order per object.
import {
  SharedObjectEventType as E,
  type SharedObjectMessage,
} from '../codec/shared-object-message.js';
import type { Logger } from '../util/log.js';
import { TokenBucket } from '../util/token-bucket.js';
import type { AppHooks, ChangeDecision } from './app-hooks.js';
import type { FlashClient } from './flash-client.js';
import { DEFAULT_SHARED_OBJECT_LIMITS, type SharedObjectLimits } from './shared-object-limits.js';
import { SharedObject, sendStatus, slotBytes, type SharedObjectSnapshot, type SharedObjectUser, type SlotChange } from './shared-object.js';

/** Where persistent objects live between uses (see shared-object-store.ts). */
export interface SharedObjectStore {
  /** The saved state of an object, or undefined when there is none (lazy: called on first use). */
  load(app: string, name: string): SharedObjectSnapshot | undefined;
  /** The object changed: save it soon (the store coalesces; `snapshot` is read when it writes). */
  changed(app: string, name: string, snapshot: () => SharedObjectSnapshot): void;
}

/** Status codes clients know (Red5 and FMS use them; research file §B3.1). */
export const SharedObjectStatus = {
  NoReadAccess: 'SharedObject.NoReadAccess',
  NoWriteAccess: 'SharedObject.NoWriteAccess',
  BadPersistence: 'SharedObject.BadPersistence',
  ObjectCreationFailed: 'SharedObject.ObjectCreationFailed',
} as const;

/**
 * Versions of a transient object start above any a client could hold from before a restart of
 * the server: seconds since 2020 (about 2.1e8 in 2026; u32 lasts until 2156). Within one run, an
 * object that comes back starts above the version its previous incarnation reached.
 */
const EPOCH_2020_MS = Date.UTC(2020, 0, 1);
/** Names of vanished transient objects whose last version is remembered (then a floor for all). */
const MAX_RETIRED = 10_000;

export interface SharedObjectsOptions {
  app: string;
  hooks: () => AppHooks;
  log: Logger;
  limits?: Partial<SharedObjectLimits>;
  store?: SharedObjectStore;
}

export class SharedObjects {
  readonly limits: SharedObjectLimits;
  private readonly objects = new Map<string, SharedObject>();
  /** Last versions of transient objects that vanished, oldest first. */
  private readonly retired = new Map<string, number>();
  private retiredFloor: number;
  private readonly rates = new Map<SharedObjectUser, TokenBucket>();
  private readonly log: Logger;

  constructor(private readonly options: SharedObjectsOptions) {
    this.limits = { ...DEFAULT_SHARED_OBJECT_LIMITS, ...options.limits };
    this.log = options.log;
    this.retiredFloor = Math.floor((Date.now() - EPOCH_2020_MS) / 1000);
  }

  get size(): number {
    return this.objects.size;
  }

  /** A live object by name (server-side code, tests). */
  get(name: string): SharedObject | undefined {
    return this.objects.get(name);
  }

  /**
   * One message from a client, every event in order; the changes in it are one batch. A message
   * refused whole is answered NoWriteAccess at level "error" when it asked for changes (the client
   * drops its oldest unanswered batch: the server answers batches in order, so that is the one),
   * at level "warning" when it did not (sends only): a client can tell the two apart.
   */
  handle(client: FlashClient, message: SharedObjectMessage): void {
    const { name } = message;
    const events = message.events;
    const refuse = () => {
      const changes = events.some((e) => e.type === E.RequestChange || e.type === E.RequestRemove);
      sendStatus(client, name, this.objects.get(name)?.version ?? 0, message.persistent, SharedObjectStatus.NoWriteAccess, changes ? 'error' : 'warning');
    };
    if (events.length > this.limits.maxEventsPerMessage) {
      this.log.info({ client: client.id, object: name, events: events.length, max: this.limits.maxEventsPerMessage }, 'shared object message refused: too many events');
      return refuse();
    }
    let rate = this.rates.get(client);
    if (rate === undefined) {
      const perSecond = this.limits.maxEventsPerSecondPerClient;
      rate = new TokenBucket(perSecond, perSecond);
      this.rates.set(client, rate);
    }
    if (!rate.take(Math.max(1, events.length))) {
      this.log.debug({ client: client.id, object: name, events: events.length }, 'shared object message refused: over the event rate');
      return refuse();
    }
    let batch: SlotChange[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      this.change(client, name, message.persistent, batch);
      batch = [];
    };
    for (const event of events) {
      switch (event.type) {
        case E.RequestChange:
          batch.push({ key: (event as { key: string }).key, value: (event as { value: unknown }).value });
          break;
        case E.RequestRemove:
          batch.push({ key: (event as { key: string }).key, value: undefined });
          break;
        case E.Use:
          flush();
          this.use(client, name, message.persistent, message.version);
          break;
        case E.Release:
          flush();
          this.release(client, name);
          break;
        case E.SendMessage: {
          flush();
          const object = this.objects.get(name);
          if (object?.users.has(client)) {
            const send = event as { handler: string; args: unknown[] };
            object.send(send.handler, send.args);
          } else {
            sendStatus(client, name, object?.version ?? 0, message.persistent, SharedObjectStatus.NoWriteAccess, 'warning');
          }
          break;
        }
        default:
          // Server-to-client events, and types outside 1-11 (12-14 seen from an unnamed server): nothing to do.
          this.log.debug({ client: client.id, object: name, event: event.type }, 'shared object event ignored');
      }
    }
    flush();
  }

  /** The client is gone: it stops using every object. */
  leaveAll(client: SharedObjectUser): void {
    this.rates.delete(client);
    for (const object of [...this.objects.values()]) if (object.release(client)) this.vacate(object);
  }

  /**
   * Server-side code (a script) holds an object, created (or loaded) if needed: it stays loaded
   * without users until every hold is released (FMS: a transient object lives on while the
   * server script holds it). Returns why not when the app holds its limit of objects or the name
   * is taken with the other persistence.
   */
  hold(name: string, persistent: boolean): SharedObject | string {
    let object = this.objects.get(name);
    if (object !== undefined && object.persistent !== persistent) return `shared object "${name}" exists ${object.persistent ? 'persistent' : 'transient'} (SharedObject.BadPersistence)`;
    if (object === undefined) {
      const created = this.create(name, persistent);
      if (typeof created === 'string') return created;
      object = created;
    }
    object.scriptHolds++;
    return object;
  }

  /** Releases one hold: without users and holds, a transient object vanishes, a persistent one is unloaded (its pending write still goes out). */
  unhold(object: SharedObject): void {
    if (object.scriptHolds > 0) object.scriptHolds--;
    this.vacate(object);
  }

  /**
   * Changes from the application's own code (a script) to an object it holds: applied as one
   * batch under one version, announced as Change/Remove to every user, with no Success (FMS: a
   * server-side setProperty always succeeds and only notifies clients). Returns why nothing
   * changed when the batch would take the object past a size limit (undefined: applied).
   */
  write(object: SharedObject, changes: SlotChange[]): string | undefined {
    const over = this.overLimits(object, changes);
    if (over !== undefined) return `shared object "${object.name}" not changed: ${over}`;
    if (object.apply(changes) && object.persistent) this.options.store?.changed(this.options.app, object.name, () => object.snapshot());
    return undefined;
  }

  /** A new object (a persistent one loaded from the store), or why it cannot be had. */
  private create(name: string, persistent: boolean): SharedObject | string {
    if (this.objects.size >= this.limits.maxObjectsPerApp) return `the application holds its limit of ${this.limits.maxObjectsPerApp} shared objects`;
    let object: SharedObject;
    if (persistent) {
      let saved: SharedObjectSnapshot | undefined;
      try {
        saved = this.options.store?.load(this.options.app, name);
      } catch (err) {
        // Not there is not an error (load says undefined): this is a file that exists and cannot
        // be read (a folder in its place, an I/O error). Starting empty would overwrite it.
        this.log.error({ object: name, reason: (err as Error).message }, 'shared object file cannot be read: the object is refused');
        return `shared object "${name}" cannot be read from the store: ${(err as Error).message}`;
      }
      object = new SharedObject(name, true, this.limits.resyncDepth, saved?.version ?? 0, saved?.slots);
    } else {
      // One above any version a client of an earlier incarnation may hold, so it gets the full state.
      object = new SharedObject(name, false, this.limits.resyncDepth, (this.retired.get(name) ?? this.retiredFloor) + 1);
      this.retired.delete(name);
    }
    this.objects.set(name, object);
    this.log.debug({ object: name, persistent, version: object.version, slots: object.slotCount }, 'shared object created');
    return object;
  }

  private use(client: FlashClient, name: string, persistent: boolean, knownVersion: number): void {
    let object = this.objects.get(name);
    if (object !== undefined && object.persistent !== persistent) {
      this.log.info({ client: client.id, object: name, persistent }, 'shared object use refused: it exists with the other persistence');
      return sendStatus(client, name, object.version, persistent, SharedObjectStatus.BadPersistence);
    }
    const refusal = this.callHook(() => this.options.hooks().onSharedObjectUse?.(client, name, persistent));
    if (typeof refusal === 'string') {
      this.log.info({ client: client.id, object: name, reason: refusal }, 'shared object use refused');
      return sendStatus(client, name, object?.version ?? 0, persistent, SharedObjectStatus.NoReadAccess);
    }
    if (object === undefined) {
      const created = this.create(name, persistent);
      if (typeof created === 'string') {
        this.log.info({ client: client.id, object: name, reason: created }, 'shared object use refused: it cannot be created');
        return sendStatus(client, name, 0, persistent, SharedObjectStatus.ObjectCreationFailed);
      }
      object = created;
    }
    if (!object.users.has(client) && object.users.size >= this.limits.maxUsersPerObject) {
      this.log.info({ client: client.id, object: name, max: this.limits.maxUsersPerObject }, 'shared object use refused: the object has its limit of users');
      return sendStatus(client, name, object.version, persistent, SharedObjectStatus.NoReadAccess);
    }
    const resync = object.use(client, knownVersion);
    this.log.debug({ client: client.id, object: name, knownVersion, version: object.version, resync }, 'shared object used');
  }

  private release(client: FlashClient, name: string): void {
    const object = this.objects.get(name);
    if (object?.release(client)) this.vacate(object);
  }

  /** A transient object goes with its last user and hold; a persistent one is unloaded (the store has it). */
  private vacate(object: SharedObject): void {
    if (object.users.size > 0 || object.scriptHolds > 0 || this.objects.get(object.name) !== object) return;
    this.objects.delete(object.name);
    if (!object.persistent) {
      this.retired.set(object.name, object.version);
      if (this.retired.size > MAX_RETIRED) {
        const [oldest, version] = this.retired.entries().next().value as [string, number];
        this.retired.delete(oldest);
        this.retiredFloor = Math.max(this.retiredFloor, version);
      }
    }
    this.log.debug({ object: object.name, persistent: object.persistent, version: object.version }, 'shared object unloaded: no users or script holds left');
  }

  /**
   * A client's batch of changes: all applied under one version, or (refused, over a limit) none.
   * The application's hook sees each change and may refuse the batch or replace a value; the
   * values it stores are checked against the limits like the client's own.
   */
  private change(client: FlashClient, name: string, persistent: boolean, changes: SlotChange[]): void {
    const object = this.objects.get(name);
    if (object === undefined || !object.users.has(client)) {
      this.log.debug({ client: client.id, object: name }, 'shared object change refused: not a user of it (Use first)');
      return sendStatus(client, name, object?.version ?? 0, persistent, SharedObjectStatus.NoWriteAccess);
    }
    const hooks = this.options.hooks();
    /** Slots whose last change in the batch the hook rewrote: the requester is told their value. */
    let rewritten: Set<string> | undefined;
    if (hooks.onSharedObjectChange !== undefined) {
      for (let i = 0; i < changes.length; i++) {
        const { key, value } = changes[i]!;
        const decision = this.callHook(() => hooks.onSharedObjectChange!(client, name, key, value ?? undefined));
        if (typeof decision === 'string') {
          this.log.info({ client: client.id, object: name, key, reason: decision }, 'shared object change refused');
          return object.status(client, SharedObjectStatus.NoWriteAccess);
        }
        if (typeof decision === 'object' && decision !== null) {
          // The batch is this message's own array (handle() starts a new one after each).
          changes[i] = { key, value: decision.value ?? undefined };
          (rewritten ??= new Set()).add(key);
        } else {
          rewritten?.delete(key);
        }
      }
      if (rewritten?.size === 0) rewritten = undefined;
    }
    const over = this.overLimits(object, changes);
    if (over !== undefined) {
      this.log.info({ client: client.id, object: name, reason: over, rewritten: rewritten?.size ?? 0 }, 'shared object change refused');
      return object.status(client, SharedObjectStatus.NoWriteAccess);
    }
    if (rewritten !== undefined) this.log.debug({ client: client.id, object: name, slots: [...rewritten] }, 'shared object change rewritten by the application');
    if (object.apply(changes, client, rewritten) && object.persistent) this.options.store?.changed(this.options.app, name, () => object.snapshot());
  }

  /** Why the batch would take the object past a limit, or undefined. */
  private overLimits(object: SharedObject, changes: SlotChange[]): string | undefined {
    const { maxSlotBytes, maxSlotsPerObject, maxObjectBytes } = this.limits;
    let slots = object.slotCount;
    let bytes = object.bytes;
    const seen = new Map<string, number>();
    for (const { key, value } of changes) {
      const before = seen.has(key) ? seen.get(key)! : object.slotBytes(key);
      const exists = seen.has(key) ? before > 0 : object.has(key);
      if (value === undefined || value === null) {
        if (exists) slots--;
        bytes -= before;
        seen.set(key, 0);
        continue;
      }
      const size = slotBytes(key, value);
      if (size > maxSlotBytes) return `slot "${key}" would hold ${size} bytes (limit ${maxSlotBytes})`;
      if (!exists) slots++;
      bytes += size - before;
      seen.set(key, size);
    }
    if (slots > maxSlotsPerObject && slots > object.slotCount) return `the object would have ${slots} slots (limit ${maxSlotsPerObject})`;
    if (bytes > maxObjectBytes && bytes > object.bytes) return `the object would hold ${bytes} bytes (limit ${maxObjectBytes})`;
    return undefined;
  }

  private callHook<T extends ChangeDecision>(call: () => T): T | string {
    try {
      return call();
    } catch (err) {
      this.log.error({ err }, 'shared object hook failed');
      return `application error: ${(err as Error).message}`;
    }
  }
}
