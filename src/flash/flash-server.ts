// The root of the protocol-neutral model: applications by name, created on first connect when
// they exist. Transports hand it their clients; publications and subscriptions made through one
// transport are seen by the others, because they all meet here.
import type { Logger } from '../util/log.js';
import type { AppHooks } from './app-hooks.js';
import { Application } from './application.js';
import { FlashClient, type FlashClientLimits } from './flash-client.js';
import type { FlashTransport } from './flash-transport.js';
import { GroupRegistry, type GroupLimits } from './group-registry.js';
import type { SharedObjectLimits } from './shared-object-limits.js';
import { SharedObjects, type SharedObjectStore } from './shared-objects.js';

export interface FlashServerOptions {
  log: Logger;
  /** Whether an application of that name exists (a folder under www/); default: every name. */
  appExists?: (name: string) => boolean;
  /** Hooks for an application (scripts, tests); default: none, accept everything. */
  hooks?: (name: string) => AppHooks | undefined;
  limits?: Partial<FlashClientLimits>;
  /** Bounds on NetGroups (see DEFAULT_GROUP_LIMITS). */
  groups?: Partial<GroupLimits>;
  /** Payload bytes of each publication's GOP cache at most; 0 disables it (default: DEFAULT_GOP_CACHE_BYTES). */
  gopCacheBytes?: number;
  /** A name whose publisher sent no media for this long may be taken over by a new publish; 0 (default): never (see ApplicationOptions). */
  publishTakeoverMs?: number;
  /** Bounds on remote shared objects (see DEFAULT_SHARED_OBJECT_LIMITS). */
  sharedObjects?: Partial<SharedObjectLimits>;
  /** Where persistent shared objects are kept; none: in memory only, while used. */
  sharedObjectStore?: SharedObjectStore;
}

export class FlashServer {
  readonly log: Logger;
  readonly apps = new Map<string, Application>();
  readonly clients = new Set<FlashClient>();
  /** NetGroup memberships, per application. */
  readonly groups: GroupRegistry;
  private readonly options: FlashServerOptions;
  /**
   * Shared objects per application name. They outlive the Application object (dropped when idle),
   * so a transient object that comes back still starts above the versions clients may hold.
   */
  private readonly sharedObjectsByApp = new Map<string, SharedObjects>();

  constructor(options: FlashServerOptions) {
    this.options = options;
    this.log = options.log;
    this.groups = new GroupRegistry({ limits: options.groups });
  }

  /** A new client on a transport; it then receives the transport's commands and media. */
  createClient(transport: FlashTransport): FlashClient {
    const client = new FlashClient(this, transport, this.options.limits);
    this.clients.add(client);
    return client;
  }

  /** The application to connect a client to, or undefined when there is none by that name. */
  application(name: string): Application | undefined {
    const app = this.apps.get(name);
    if (app) return app;
    if (this.options.appExists && !this.options.appExists(name)) return undefined;
    const hooks = this.options.hooks?.(name) ?? {};
    const log = this.log.child({ app: name });
    const made: Application = new Application(name, hooks, log, this.sharedObjectsOf(name, log), { gopCacheBytes: this.options.gopCacheBytes, publishTakeoverMs: this.options.publishTakeoverMs }, () => this.dropIfIdle(made));
    this.apps.set(name, made);
    return made;
  }

  /** The shared objects of an application (made on first use; they stay while the server runs). */
  sharedObjectsOf(app: string, log: Logger = this.log.child({ app })): SharedObjects {
    let objects = this.sharedObjectsByApp.get(app);
    if (objects === undefined) {
      // Hooks are read at each use: they belong to the Application of the moment.
      objects = new SharedObjects({ app, hooks: () => this.apps.get(app)?.hooks ?? {}, log, limits: this.options.sharedObjects, store: this.options.sharedObjectStore });
      this.sharedObjectsByApp.set(app, objects);
    }
    return objects;
  }

  /** @internal FlashClient tells us when it is gone. */
  forget(client: FlashClient): void {
    this.clients.delete(client);
    if (client.app) this.dropIfIdle(client.app);
  }

  /**
   * Forgets an application that holds nothing (no client, publication or player): its last client
   * left, or its last stream ended (a script's publication, which no client leaving would drop).
   */
  private dropIfIdle(app: Application): void {
    if (app.clients.size === 0 && app.publications.length === 0 && app.subscriptionCount() === 0 && this.apps.get(app.name) === app) this.apps.delete(app.name);
  }
}
