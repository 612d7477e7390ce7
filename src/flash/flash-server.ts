// The root of the protocol-neutral model: applications by name, created on first connect when
// they exist. Transports hand it their clients; publications and subscriptions made through one
// transport are seen by the others, because they all meet here.
import type { Logger } from '../util/log.js';
import type { AppHooks } from './app-hooks.js';
import { Application } from './application.js';
import { FlashClient, type FlashClientLimits } from './flash-client.js';
import type { FlashTransport } from './flash-transport.js';
import { GroupRegistry, type GroupLimits } from './group-registry.js';

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
}

export class FlashServer {
  readonly log: Logger;
  readonly apps = new Map<string, Application>();
  readonly clients = new Set<FlashClient>();
  /** NetGroup memberships, per application. */
  readonly groups: GroupRegistry;
  private readonly options: FlashServerOptions;

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
    let app = this.apps.get(name);
    if (app) return app;
    if (this.options.appExists && !this.options.appExists(name)) return undefined;
    app = new Application(name, this.options.hooks?.(name) ?? {}, this.log.child({ app: name }), { gopCacheBytes: this.options.gopCacheBytes });
    this.apps.set(name, app);
    return app;
  }

  /** @internal FlashClient tells us when it is gone. */
  forget(client: FlashClient): void {
    this.clients.delete(client);
    const app = client.app;
    if (app && app.clients.size === 0 && app.publications.length === 0 && app.subscriptionCount() === 0) this.apps.delete(app.name);
  }
}
