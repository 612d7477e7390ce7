// One application (the first segment of the connect URL path): its clients and its streams. A
// stream name has at most one live publisher here; players of a name wait for it.
import type { AppHooks } from './app-hooks.js';
import type { FlashClient } from './flash-client.js';
import { Publication, type PublicationOptions } from './publication.js';
import type { StreamName } from './stream-name.js';
import type { Subscriber } from './subscriber.js';
import { Subscription } from './subscription.js';
import type { Logger } from '../util/log.js';
import type { SharedObjects } from './shared-objects.js';

/** Everything known about one stream name: its publication, if any, and its players. */
interface StreamSlot {
  publication: Publication | undefined;
  subscriptions: Set<Subscription>;
}

export interface ApplicationOptions extends PublicationOptions {
  /**
   * A publish of a name whose publisher has sent no audio or video for this long takes the name
   * over (as SRS frees a silent publisher's): the old publisher is told (NetStream.Publish.Idle)
   * and its players go on with the new one. 0: never; the name is refused (BadName) while its
   * publisher is connected. Meant for a publisher alive but stuck (a frozen encoder, an RTMP
   * connection whose peer vanished without a reset): a dead RTMFP peer frees its name by itself.
   */
  publishTakeoverMs: number;
}

export class Application {
  readonly clients = new Set<FlashClient>();
  private readonly slots = new Map<string, StreamSlot>();

  constructor(
    readonly name: string,
    readonly hooks: AppHooks,
    readonly log: Logger,
    /** Its remote shared objects (kept by the server across the app's comings and goings). */
    readonly sharedObjects: SharedObjects,
    private readonly options: Partial<ApplicationOptions> = {},
    /**
     * Its last stream went (no publication, no player left). The server then drops an application
     * that holds nothing: a stream no client made (a script's) ends without a client leaving.
     */
    private readonly onStreamsGone?: () => void,
  ) {}

  /** The live publication of a name (without query string), if any. */
  publication(key: string): Publication | undefined {
    return this.slots.get(key)?.publication;
  }

  get publications(): Publication[] {
    const out: Publication[] = [];
    for (const slot of this.slots.values()) if (slot.publication) out.push(slot.publication);
    return out;
  }

  subscriptionCount(key?: string): number {
    if (key !== undefined) return this.slots.get(key)?.subscriptions.size ?? 0;
    let n = 0;
    for (const slot of this.slots.values()) n += slot.subscriptions.size;
    return n;
  }

  /**
   * Starts publishing `name`; undefined when someone already publishes it (BadName), unless that
   * publisher has been silent for publishTakeoverMs, and then the name is taken over.
   */
  publish(name: StreamName, publisher: { id: string; protocol: string; remoteAddress: string }): Publication | undefined {
    const publisherId = publisher.id;
    const current = this.slots.get(name.key)?.publication;
    if (current !== undefined) {
      const takeoverMs = this.options.publishTakeoverMs ?? 0;
      const idleMs = Date.now() - current.lastMediaAt;
      if (takeoverMs === 0 || idleMs < takeoverMs) return undefined;
      this.log.info({ stream: name.key, publisher: current.publisherId, by: publisherId, idleMs }, 'publish taken over: its publisher had sent nothing');
      current.onTakenOver?.(publisherId, idleMs);
      current.close(); // its players are told (UnpublishNotify), and wait on for the new one
    }
    const slot = this.slot(name.key);
    const publication = new Publication(name, publisherId, slot.subscriptions, (p) => this.unpublished(p), this.options);
    slot.publication = publication;
    const { protocol, remoteAddress: peer } = publisher;
    this.log.info({ stream: name.key, publisher: publisherId, protocol, peer, players: slot.subscriptions.size }, 'publish started');
    for (const subscription of slot.subscriptions) subscription.attach(publication, true);
    return publication;
  }

  /** Starts playing `name`, live now or when a publisher comes. */
  subscribe(name: StreamName, subscriber: Subscriber, clientId: string, reset: boolean): Subscription {
    const slot = this.slot(name.key);
    const subscription = new Subscription(name, subscriber, clientId, (s) => this.unsubscribed(s));
    slot.subscriptions.add(subscription);
    subscription.start(slot.publication, reset);
    return subscription;
  }

  private slot(key: string): StreamSlot {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { publication: undefined, subscriptions: new Set() };
      this.slots.set(key, slot);
    }
    return slot;
  }

  private unpublished(publication: Publication): void {
    const key = publication.name.key;
    const slot = this.slots.get(key);
    if (slot?.publication !== publication) return;
    slot.publication = undefined;
    const gopOverflows = publication.gopCache.overflows;
    this.log.info({ stream: key, frames: publication.frames, bytes: publication.bytes, players: slot.subscriptions.size, ...(gopOverflows > 0 && { gopOverflows }) }, 'publish stopped');
    for (const subscription of slot.subscriptions) subscription.detach();
    this.dropIfEmpty(key, slot);
  }

  private unsubscribed(subscription: Subscription): void {
    const key = subscription.name.key;
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    slot.subscriptions.delete(subscription);
    this.dropIfEmpty(key, slot);
  }

  private dropIfEmpty(key: string, slot: StreamSlot): void {
    if (slot.publication !== undefined || slot.subscriptions.size > 0) return;
    this.slots.delete(key);
    if (this.slots.size === 0) this.onStreamsGone?.();
  }
}
