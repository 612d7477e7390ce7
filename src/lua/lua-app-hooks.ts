// The model's AppHooks answered by Lua apps, with MonaServer's event names: onConnection and
// onDisconnection at app level, the rest members of the client object set in onConnection (RPCs,
// onMessage, onPublish, onUnpublish, onSubscribe, onJoinGroup, onUnjoinGroup).
//
// Where MonaServer2 is wrong, Covey answers as MonaServer v1 and FMS do: the table onConnection
// returns becomes fields of Connect.Success itself (MonaServer2 nests it malformed), an RPC gets
// one answer (_result or _error, never both), an unknown method gets _error (MonaServer2 sends
// nothing), and _error carries level "error" and code NetConnection.Call.Failed (not swapped).
import { CallRefused, type AppHooks, type ChangeDecision, type ConnectDecision, type Refusal } from '../flash/app-hooks.js';
import type { FlashClient } from '../flash/flash-client.js';
import type { GroupMembership } from '../flash/group-registry.js';
import type { NetGroup } from '../flash/net-group.js';
import type { Publication } from '../flash/publication.js';
import type { StreamName } from '../flash/stream-name.js';
import type { LuaApps, LuaClientEntry } from './lua-apps.js';
import type { LuaAppRuntime } from './lua-app-runtime.js';
import { LuaSharedObjects } from './lua-shared-objects.js';
import type { LuaRef, LuaVm } from './lua-vm.js';

/** What a client is told: the script's message without the "file:line: " that error() put in front. */
export function clientMessage(message: string): string {
  return message.replace(/^[^\s:]+:\d+: /, '');
}

/**
 * The app path a client asked for: tcUrl's path (RTMP clients name only the first segment in
 * `app`, and put the rest in tcUrl), else app and instance.
 */
function connectPath(app: string, instance: string, tcUrl: string | undefined): string {
  if (app === '') return '';
  if (tcUrl !== undefined) {
    try {
      const path = decodeURIComponent(new URL(tcUrl).pathname).replace(/^\/+|\/+$/g, '');
      if (path.startsWith(app)) return path;
    } catch {
      // Not a URL: use what connect said.
    }
  }
  return instance === '' ? app : `${app}/${instance}`;
}

export class LuaAppHooks implements AppHooks {
  /** Clients accepted by a Lua app, by client id. */
  readonly clients = new Map<string, LuaClientEntry>();
  /** The Lua publication objects of live publications, by client id and stream name. */
  private readonly publications = new Map<string, LuaRef>();
  /** The Lua publication and subscription objects of accepted plays, by client id and stream name. */
  private readonly subscriptions = new Map<string, Array<[LuaRef, LuaRef]>>();
  /** Clients (by id) whose object got an onSharedObjectChange member: only theirs cost a Lua call per change. */
  private readonly changeHooked = new Set<string>();
  /** Lua calls made for shared-object change requests (tests, stats). */
  sharedObjectChangeCalls = 0;

  constructor(
    private readonly vm: LuaVm,
    private readonly runtime: LuaAppRuntime,
    private readonly apps: LuaApps,
    private readonly sharedObjects: LuaSharedObjects,
  ) {}

  /** The runtime saw a watched member set on a client object (lua-app-runtime.ts, Client.__newindex). */
  memberSet(clientId: string, name: string): void {
    if (name === 'onSharedObjectChange') this.changeHooked.add(clientId);
  }

  onConnect(client: FlashClient): ConnectDecision {
    const request = client.request!;
    const path = connectPath(request.app, request.instance, request.tcUrl);
    const routed = this.apps.route(path);
    if (routed === undefined) return { invalidApp: `no application "${request.app}" on this server` };
    const { app } = routed;
    if (app.failure !== undefined) return `application /${app.path} failed to load: ${app.failure}`;
    if (app.env === undefined) return `application /${app.path} is not running`;
    const [query] = (request.tcUrl ?? '').split('?').slice(1);
    const ref = this.vm.callForRef(this.runtime.newClient, [{
      id: client.id,
      protocol: client.protocol,
      address: client.remoteAddress,
      path: `/${path}`,
      query: query ?? '',
      properties: request.properties,
      arguments: request.args,
    }]);
    const entry: LuaClientEntry = { client, ref, app };
    let values: unknown[] | undefined;
    try {
      values = this.apps.event(app, 'onConnection', [ref, ...request.args]);
    } catch (err) {
      this.vm.release(ref);
      this.changeHooked.delete(client.id);
      const message = clientMessage(this.apps.reportError(app, 'onConnection rejected a client', err));
      return message === '' ? 'client rejected' : message;
    }
    if (values?.[0] === false) {
      this.vm.release(ref);
      this.changeHooked.delete(client.id);
      return 'client rejected';
    }
    this.clients.set(client.id, entry);
    app.clients.add(entry);
    if (app.clientsTable) this.vm.call(this.runtime.setField, [app.clientsTable, client.id, ref]);
    const fields = values?.[0];
    if (fields !== null && typeof fields === 'object' && !Array.isArray(fields)) return { accept: fields as Record<string, unknown> };
    return undefined;
  }

  onDisconnect(client: FlashClient): void {
    const entry = this.clients.get(client.id);
    this.changeHooked.delete(client.id);
    if (entry === undefined) return;
    this.clients.delete(client.id);
    // Dropped by a reload already: its app is gone.
    if (!entry.app.clients.delete(entry)) return;
    if (entry.app.clientsTable) this.vm.call(this.runtime.setField, [entry.app.clientsTable, client.id, null]);
    try {
      this.apps.event(entry.app, 'onDisconnection', [entry.ref]);
    } catch (err) {
      this.apps.reportError(entry.app, 'onDisconnection failed', err);
    }
    this.vm.release(entry.ref);
  }

  onCall(client: FlashClient, method: string, args: unknown[]): unknown {
    const entry = this.live(client);
    if (entry === undefined) throw new CallRefused(`Method not found (${method}): the application was reloaded`);
    let found: unknown;
    let values: unknown[];
    try {
      [found, ...values] = this.vm.call(this.runtime.rpc, [entry.ref, method, ...args]);
    } catch (err) {
      throw new CallRefused(clientMessage(this.apps.reportError(entry.app, `call ${method} failed`, err)));
    }
    if (found !== true) throw new CallRefused(`Method not found (${method}) in application /${entry.app.path}`);
    return values[0];
  }

  onPublish(client: FlashClient, name: StreamName): Refusal {
    const entry = this.live(client);
    if (entry === undefined) return undefined;
    // The publication object the script sees in onPublish, onUnpublish and the packet callbacks.
    const publication = this.vm.ref({ name: name.key });
    const refusal = this.refusable(client, 'onPublish', [publication], `Not allowed to publish ${name.key}`);
    if (refusal !== undefined) {
      this.vm.release(publication);
      return refusal;
    }
    const key = `${client.id} ${name.key}`;
    const old = this.publications.get(key);
    if (old) this.vm.release(old);
    this.publications.set(key, publication);
    return undefined;
  }

  onPublished(client: FlashClient, publication: Publication): void {
    const entry = this.live(client);
    const ref = this.publications.get(`${client.id} ${publication.name.key}`);
    if (entry === undefined || ref === undefined) return;
    const [audio, video, data] = this.vm.call(this.runtime.packetCallbacks, [ref]);
    if (!audio && !video && !data) return;
    const wanted = { audio, video, data };
    const names = { audio: 'onAudio', video: 'onVideo', data: 'onData' } as const;
    publication.observer = (frame) => {
      if (!wanted[frame.kind] || !entry.app.clients.has(entry)) return;
      try {
        this.vm.call(this.runtime.clientEvent, [ref, names[frame.kind], frame.timestamp, frame.payload]);
      } catch (err) {
        // One report, then no more calls for this publication: a failing callback per packet would flood the log.
        this.apps.reportError(entry.app, `publication:${names[frame.kind]} failed (callbacks stopped for ${publication.name.key})`, err);
        publication.observer = undefined;
      }
    };
  }

  onUnpublish(client: FlashClient, name: StreamName): void {
    const key = `${client.id} ${name.key}`;
    const publication = this.publications.get(key);
    this.publications.delete(key);
    this.notify(client, 'onUnpublish', [publication ?? { name: name.key }]);
    if (publication) this.vm.release(publication);
  }

  onPlay(client: FlashClient, name: StreamName): Refusal {
    if (this.live(client) === undefined) return undefined;
    // The objects onSubscribe sees come back in onUnsubscribe (a client may play a name twice: in turn).
    const publication = this.vm.ref({ name: name.key });
    const subscription = this.vm.ref({ name: name.key, query: Object.fromEntries(name.query) });
    const refusal = this.refusable(client, 'onSubscribe', [publication, subscription], `Not authorized to play ${name.key}`);
    if (refusal !== undefined) {
      this.vm.release(publication);
      this.vm.release(subscription);
      return refusal;
    }
    const key = `${client.id} ${name.key}`;
    const list = this.subscriptions.get(key);
    if (list === undefined) this.subscriptions.set(key, [[publication, subscription]]);
    else list.push([publication, subscription]);
    return undefined;
  }

  onPlayStop(client: FlashClient, name: StreamName): void {
    const key = `${client.id} ${name.key}`;
    const list = this.subscriptions.get(key);
    const objects = list?.shift();
    if (list?.length === 0) this.subscriptions.delete(key);
    if (objects === undefined) return;
    this.notify(client, 'onUnsubscribe', objects);
    for (const ref of objects) this.vm.release(ref);
  }

  onAddressChanged(client: FlashClient, from: string): void {
    const entry = this.live(client);
    if (entry === undefined) return;
    this.vm.call(this.runtime.setField, [entry.ref, 'address', client.remoteAddress]);
    this.notify(client, 'onAddressChanged', [from]);
  }

  onJoinGroup(client: FlashClient, group: NetGroup<GroupMembership>, peerId: string): Refusal {
    return this.refusable(client, 'onJoinGroup', [{ id: group.id, size: group.size }, peerId], 'group join refused by the application');
  }

  // Remote shared objects (lua-shared-objects.ts has the server-side API): client:onSharedObjectUse(name,
  // persistent) refuses with false or error(); client:onSharedObjectChange(name, key, value) too,
  // or returns the value to store instead (mona.DELETE: delete the slot).
  onSharedObjectUse(client: FlashClient, name: string, persistent: boolean): Refusal {
    return this.refusable(client, 'onSharedObjectUse', [name, persistent], 'shared object use refused by the application');
  }

  onSharedObjectChange(client: FlashClient, name: string, key: string, value: unknown): ChangeDecision {
    if (!this.changeHooked.has(client.id)) return undefined;
    const entry = this.live(client);
    if (entry === undefined) return undefined;
    this.sharedObjectChangeCalls++;
    const refused = 'shared object change refused by the application';
    try {
      return LuaSharedObjects.decision(this.vm.call(this.sharedObjects.changeHook, [entry.ref, name, key, value]), refused);
    } catch (err) {
      const message = clientMessage(this.apps.reportError(entry.app, 'onSharedObjectChange refused', err));
      return message === '' ? refused : message;
    }
  }

  onLeaveGroup(client: FlashClient, group: NetGroup<GroupMembership>): void {
    this.notify(client, 'onUnjoinGroup', [{ id: group.id, size: group.size }]);
  }

  private live(client: FlashClient): LuaClientEntry | undefined {
    const entry = this.clients.get(client.id);
    return entry !== undefined && entry.app.clients.has(entry) ? entry : undefined;
  }

  /** A client event that may refuse: `return false` or error(message). */
  private refusable(client: FlashClient, event: string, args: unknown[], refused: string): Refusal {
    const entry = this.live(client);
    if (entry === undefined) return undefined;
    let found: unknown;
    let result: unknown;
    try {
      [found, result] = this.vm.call(this.runtime.clientEvent, [entry.ref, event, ...args]);
    } catch (err) {
      const message = clientMessage(this.apps.reportError(entry.app, `${event} refused`, err));
      return message === '' ? refused : message;
    }
    return found === true && result === false ? refused : undefined;
  }

  private notify(client: FlashClient, event: string, args: unknown[]): void {
    const entry = this.live(client);
    if (entry === undefined) return;
    try {
      this.vm.call(this.runtime.clientEvent, [entry.ref, event, ...args]);
    } catch (err) {
      this.apps.reportError(entry.app, `${event} failed`, err);
    }
  }
}
