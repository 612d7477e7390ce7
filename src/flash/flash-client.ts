// One client's NetConnection as the server sees it, whatever carries it: the connect handshake,
// NetStreams by id, the stream commands (publish, play, pause...), calls both ways, and the media
// a publishing stream sends. A transport feeds it decoded commands and messages and implements
// FlashTransport for what goes back.
import { randomBytes } from 'node:crypto';
import { encodeAmf0 } from '../codec/amf0.js';
import { amfObjectProperties } from '../codec/amf-types.js';
import type { Logger } from '../util/log.js';
import { CallRefused, type ConnectDecision } from './app-hooks.js';
import type { Application } from './application.js';
import { parseConnectRequest, type ConnectRequest } from './connect-request.js';
import type { FlashServer } from './flash-server.js';
import type { FlashTransport, ObjectEncoding } from './flash-transport.js';
import type { Publication } from './publication.js';
import { statusInfo, type StatusInfo } from './status.js';
import { parseStreamName } from './stream-name.js';
import type { SharedObjectUser } from './shared-object.js';
import type { SharedObjectMessage } from '../codec/shared-object-message.js';
import type { Subscription } from './subscription.js';

export interface FlashClientLimits {
  /** NetStreams one client may have at once. */
  maxStreams: number;
  /** Calls to the client awaiting an answer. */
  maxPendingCalls: number;
  callTimeoutMs: number;
}

export const DEFAULT_FLASH_CLIENT_LIMITS: FlashClientLimits = { maxStreams: 64, maxPendingCalls: 256, callTimeoutMs: 30_000 };

/** A command as the transport decoded it. */
export interface FlashCommand {
  name: string;
  transactionId: number;
  commandObject: unknown;
  args: unknown[];
}

/** Our side of a NetStream. */
interface NetStream {
  id: number;
  publication?: Publication;
  subscription?: Subscription;
}

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** A call to the client answered with _error; `info` is what it sent. */
export class CallError extends Error {
  constructor(
    message: string,
    readonly info: unknown,
  ) {
    super(message);
  }
}

const CONNECT_PROPERTIES = { fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 };
const REJECTED = 'NetConnection.Connect.Rejected';
/** No application by that name: what Flash Media Server and MonaServer v1 answer (MonaServer2: Connect.Failed). */
const INVALID_APP = 'NetConnection.Connect.InvalidApp';

export class FlashClient implements SharedObjectUser {
  readonly id = randomBytes(8).toString('hex');
  readonly log: Logger;
  state: 'new' | 'connecting' | 'connected' | 'closed' = 'new';
  app: Application | undefined;
  request: ConnectRequest | undefined;
  objectEncoding: ObjectEncoding = 0;
  readonly connectedAt = Date.now();
  private readonly streams = new Map<number, NetStream>();
  private nextStreamId = 1;
  /** Our calls to the client awaiting its answer (made on the first call: most clients never get one). */
  private pending: Map<number, PendingCall> | undefined;
  private nextTransactionId = 1;
  private readonly limits: FlashClientLimits;
  /** Messages that came while an application decided on connect, replayed once it accepted. */
  private backlog: Array<() => void> | undefined;
  /** Streams we told that their media goes nowhere (told once each); made when first needed. */
  private refusedMedia: Set<number> | undefined;

  constructor(
    readonly server: FlashServer,
    readonly transport: FlashTransport,
    limits: Partial<FlashClientLimits> = {},
  ) {
    this.limits = { ...DEFAULT_FLASH_CLIENT_LIMITS, ...limits };
    this.log = transport.log.child({ client: this.id });
  }

  get protocol(): string {
    return this.transport.protocol;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  /** Calls a method of the client (its NetConnection.client object); resolves with its return value. */
  call(method: string, ...args: unknown[]): Promise<unknown> {
    if (this.state !== 'connected') return Promise.reject(new Error(`cannot call ${method}: client not connected`));
    const pending = (this.pending ??= new Map());
    if (pending.size >= this.limits.maxPendingCalls) return Promise.reject(new Error(`cannot call ${method}: ${pending.size} calls already waiting for the client`));
    const transactionId = ++this.nextTransactionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(transactionId);
        reject(new Error(`call ${method} not answered within ${this.limits.callTimeoutMs} ms`));
      }, this.limits.callTimeoutMs);
      timer.unref();
      pending.set(transactionId, { resolve, reject, timer });
      this.transport.sendCommand(0, this.objectEncoding, method, transactionId, null, ...args);
    });
  }

  /**
   * Calls a method of the client without asking for an answer: transaction 0, as Flash Media
   * Server's client.call without a responder (and MonaServer's writeInvocation) send it, so the
   * client neither answers nor reports a missing method back.
   */
  notify(method: string, ...args: unknown[]): void {
    if (this.state === 'connected') this.transport.sendCommand(0, this.objectEncoding, method, 0, null, ...args);
  }

  /** @internal A shared-object message to the client (see SharedObject). */
  sendSharedObjectMessage(type: number, payload: Buffer): void {
    if (this.state === 'connected') this.transport.sendSharedObject?.(type, payload);
  }

  /** A shared-object message from the client (types 19 and 16, decoded by the transport). */
  handleSharedObject(message: SharedObjectMessage): void {
    if (this.state === 'connecting') return this.defer(() => this.handleSharedObject(message));
    if (this.state !== 'connected') return;
    this.app!.sharedObjects.handle(this, message);
  }

  /** Sends a NetConnection status event (onStatus on stream 0). */
  sendStatus(info: StatusInfo): void {
    this.transport.sendCommand(0, this.objectEncoding, 'onStatus', 0, null, info);
  }

  /** The transport's address changed (its remoteAddress is the new one): the application is told. */
  handleAddressChange(from: string): void {
    if (this.state !== 'connected') return;
    this.log.info({ from, to: this.remoteAddress }, 'client address changed');
    try {
      this.app?.hooks.onAddressChanged?.(this, from);
    } catch (err) {
      this.log.error({ err }, 'onAddressChanged hook failed');
    }
  }

  /** Ends the client's connection from the server side (an app's kick). */
  disconnect(reason: string): void {
    this.transport.close(reason);
  }

  /** A command from the client, on the NetConnection (streamId 0) or a NetStream. */
  handleCommand(streamId: number, command: FlashCommand): void {
    if (this.state === 'closed') return;
    const { name } = command;
    if (name === 'connect') {
      if (streamId !== 0) {
        this.log.warn({ streamId }, 'connect on a NetStream refused');
        this.error(command, statusInfo('error', 'NetConnection.Call.Failed', 'connect belongs on the NetConnection, not a NetStream'));
        return;
      }
      void this.connect(command);
      return;
    }
    if (this.state === 'connecting') {
      // Clients may send createStream and the like right behind connect, without waiting.
      this.defer(() => this.handleCommand(streamId, command));
      return;
    }
    if (this.state !== 'connected') {
      this.transport.close(`command ${JSON.stringify(name)} before a successful connect`);
      return;
    }
    switch (name) {
      case '_result':
      case '_error':
        this.answer(command);
        return;
      case 'createStream':
        return this.createStream(command);
      case 'deleteStream':
        return this.deleteStream(Number(command.args[0]));
      case 'closeStream':
        return this.closeStream(streamId);
      case 'releaseStream':
        return this.result(command, undefined);
      case 'FCPublish':
        this.result(command, undefined);
        this.transport.sendCommand(0, this.objectEncoding, 'onFCPublish', 0, null, statusInfo('status', 'NetStream.Publish.Start', String(command.args[0] ?? '')));
        return;
      case 'FCUnpublish':
        this.result(command, undefined);
        this.unpublishByName(String(command.args[0] ?? ''));
        this.transport.sendCommand(0, this.objectEncoding, 'onFCUnpublish', 0, null, statusInfo('status', 'NetStream.Unpublish.Success', String(command.args[0] ?? '')));
        return;
      case 'FCSubscribe':
        this.transport.sendCommand(0, this.objectEncoding, 'onFCSubscribe', 0, null, statusInfo('status', 'NetStream.Play.Start', String(command.args[0] ?? '')));
        return;
      case 'FCUnsubscribe':
        return;
      case 'getStreamLength':
        // Live streams have no length.
        return this.result(command, 0);
      case '_checkbw':
        return this.result(command, undefined);
      case 'publish':
        return this.publish(streamId, command);
      case 'play':
        return this.play(streamId, command);
      case 'pause':
        this.streams.get(streamId)?.subscription?.pause(command.args[0] !== false);
        return;
      case 'receiveAudio':
        this.streams.get(streamId)?.subscription?.receiveAudio(command.args[0] !== false);
        return;
      case 'receiveVideo':
        this.streams.get(streamId)?.subscription?.receiveVideo(command.args[0] !== false);
        return;
      default:
        void this.invoke(command);
    }
  }

  handleAudio(streamId: number, timestamp: number, payload: Buffer): void {
    if (this.state === 'connecting') return this.defer(() => this.handleAudio(streamId, timestamp, payload));
    if (payload.length > 0) this.publicationFor(streamId)?.pushAudio(timestamp, payload);
  }

  handleVideo(streamId: number, timestamp: number, payload: Buffer): void {
    if (this.state === 'connecting') return this.defer(() => this.handleVideo(streamId, timestamp, payload));
    if (payload.length > 0) this.publicationFor(streamId)?.pushVideo(timestamp, payload);
  }

  /** A data message: handler name then values (@setDataFrame, @clearDataFrame, onCuePoint...). */
  handleData(streamId: number, timestamp: number, values: unknown[]): void {
    if (this.state === 'connecting') return this.defer(() => this.handleData(streamId, timestamp, values));
    const publication = this.publicationFor(streamId);
    if (publication === undefined) return;
    const [name, ...rest] = values;
    if (name === '@setDataFrame') {
      // "@setDataFrame", "onMetaData", {...}: keep and pass on without the directive.
      if (typeof rest[0] === 'string') publication.setDataFrame(timestamp, encodeAmf0(...rest));
    } else if (name === '@clearDataFrame') {
      publication.clearDataFrame();
    } else if (typeof name === 'string') {
      publication.pushData(timestamp, encodeAmf0(...values));
    }
  }

  /**
   * The publication media on a stream feeds. Media on a stream that is not publishing (never
   * created, playing, or refused) is dropped, and the client told once per stream.
   */
  private publicationFor(streamId: number): Publication | undefined {
    const stream = this.streams.get(streamId);
    if (stream?.publication !== undefined) return stream.publication;
    if (this.state !== 'connected') return undefined;
    const refused = (this.refusedMedia ??= new Set());
    if (refused.has(streamId) || refused.size >= 16) return undefined;
    refused.add(streamId);
    this.log.warn({ streamId }, 'media on a stream that is not publishing dropped');
    this.streamStatus(streamId, statusInfo('error', 'NetStream.Publish.Denied', `stream ${streamId} is not publishing: publish first`));
    return undefined;
  }

  /** The transport is gone: stop everything this client published or played. */
  handleClose(reason: string): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    for (const stream of this.streams.values()) this.stopStream(stream, false);
    this.streams.clear();
    for (const call of this.pending?.values() ?? []) {
      clearTimeout(call.timer);
      call.reject(new Error(`connection closed: ${reason}`));
    }
    this.pending = undefined;
    this.server.groups.leaveAll(this, reason);
    if (this.app) {
      this.app.sharedObjects.leaveAll(this);
      this.app.clients.delete(this);
      if (wasConnected) {
        try {
          this.app.hooks.onDisconnect?.(this);
        } catch (err) {
          this.log.error({ err }, 'onDisconnect hook failed');
        }
      }
    }
    this.server.forget(this);
  }

  private async connect(command: FlashCommand): Promise<void> {
    if (this.state !== 'new') {
      this.transport.close('second connect on one connection');
      return;
    }
    this.state = 'connecting';
    const parsed = parseConnectRequest(command.commandObject, command.args);
    if ('rejected' in parsed) return this.rejectConnect(command, parsed.rejected, parsed.invalidApp ? INVALID_APP : REJECTED);
    this.request = parsed;
    this.objectEncoding = parsed.objectEncoding;
    let app = this.server.application(parsed.app);
    if (app === undefined) return this.rejectConnect(command, parsed.app === '' ? 'no application in the connect URL (expected rtmp://host/app; this server has no root application)' : `no application "${parsed.app}" on this server`, INVALID_APP);
    this.app = app;
    let decision: ConnectDecision;
    try {
      // Only wait when the application has something to decide, so a plain connect completes at once.
      const pending = app.hooks.onConnect?.(this);
      decision = pending instanceof Promise ? await pending : pending;
    } catch (err) {
      decision = `application error: ${(err as Error).message}`;
    }
    if ((this.state as string) === 'closed') return;
    if (typeof decision === 'string') return this.rejectConnect(command, decision);
    if (typeof decision === 'object' && decision !== null && 'invalidApp' in decision) return this.rejectConnect(command, decision.invalidApp, INVALID_APP);
    const fields = typeof decision === 'object' && decision !== null ? decision.accept : undefined;
    if (this.server.apps.get(app.name) !== app) {
      // The server forgot the application while a hook decided (its last client left, or its last
      // stream ended): join the one it serves now, or this client would sit in an application
      // nobody else reaches (its streams unseen by the others, theirs by it).
      const current = this.server.application(app.name);
      if (current === undefined) return this.rejectConnect(command, `no application "${app.name}" on this server`, INVALID_APP);
      this.app = app = current;
    }
    this.state = 'connected';
    app.clients.add(this);
    this.log.info({ app: app.name, instance: parsed.instance || undefined, tcUrl: parsed.tcUrl, flashVer: parsed.properties.flashVer, objectEncoding: parsed.objectEncoding }, 'client connected');
    this.transport.sendCommand(0, 0, '_result', command.transactionId, CONNECT_PROPERTIES, {
      // An application's fields first: it cannot change what the protocol needs.
      ...fields,
      ...statusInfo('status', 'NetConnection.Connect.Success', 'Connection succeeded.', {
        objectEncoding: this.objectEncoding,
        clientid: this.id,
        data: { version: '3,5,7,7009' },
      }),
    });
    this.transport.connected?.();
    const backlog = this.backlog;
    this.backlog = undefined;
    for (const replay of backlog ?? []) replay();
  }

  private defer(replay: () => void): void {
    const backlog = (this.backlog ??= []);
    if (backlog.length >= 64) {
      this.transport.close('more than 64 messages sent while connect was still being decided');
      return;
    }
    backlog.push(replay);
  }

  private rejectConnect(command: FlashCommand, description: string, code = REJECTED): void {
    this.backlog = undefined;
    this.log.info({ reason: description, code }, 'connect rejected');
    this.transport.sendCommand(0, 0, '_error', command.transactionId, null, statusInfo('error', code, description));
    this.transport.close(`connect rejected: ${description}`);
  }

  /**
   * Answers a command. Transaction 0 means "no answer wanted", except where the client cannot go
   * on without one (`always`): librtmfp sends createStream with transaction 0 and waits for its
   * _result, as MonaServer gives it.
   */
  private result(command: FlashCommand, value: unknown, always = false): void {
    if (command.transactionId !== 0 || always) this.transport.sendCommand(0, this.objectEncoding, '_result', command.transactionId, null, value);
  }

  private error(command: FlashCommand, info: StatusInfo, always = false): void {
    if (command.transactionId !== 0 || always) this.transport.sendCommand(0, this.objectEncoding, '_error', command.transactionId, null, info);
  }

  private answer(command: FlashCommand): void {
    const call = this.pending?.get(command.transactionId);
    if (call === undefined) return;
    this.pending!.delete(command.transactionId);
    clearTimeout(call.timer);
    const value = command.args[0];
    if (command.name === '_result') call.resolve(value);
    else {
      const description = amfObjectProperties(value)?.description;
      call.reject(new CallError(typeof description === 'string' ? description : 'call failed', value));
    }
  }

  private async invoke(command: FlashCommand): Promise<void> {
    const hooks = this.app!.hooks;
    const method = hooks.methods !== undefined && Object.hasOwn(hooks.methods, command.name) ? hooks.methods[command.name] : undefined;
    const onCall = hooks.onCall;
    if (method === undefined && onCall === undefined) {
      this.error(command, statusInfo('error', 'NetConnection.Call.Failed', `Method not found (${command.name}).`));
      return;
    }
    try {
      const value = await (method !== undefined ? method(this, ...command.args) : onCall!.call(hooks, this, command.name, command.args));
      if (this.state === 'connected') this.result(command, value);
    } catch (err) {
      if (this.state !== 'connected') return;
      const code = err instanceof CallRefused ? err.code : 'NetConnection.Call.Failed';
      if (!(err instanceof CallRefused)) this.log.warn({ err, method: command.name }, 'method failed');
      this.error(command, statusInfo('error', code, (err as Error).message));
    }
  }

  private createStream(command: FlashCommand): void {
    if (this.streams.size >= this.limits.maxStreams) {
      this.error(command, statusInfo('error', 'NetConnection.Call.Failed', `too many streams (${this.limits.maxStreams})`), true);
      return;
    }
    let id = this.nextStreamId;
    while (this.streams.has(id)) id = id >= 0xffff ? 1 : id + 1;
    this.nextStreamId = id >= 0xffff ? 1 : id + 1;
    this.streams.set(id, { id });
    this.result(command, id, true);
  }

  private deleteStream(id: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.stopStream(stream, true);
    this.streams.delete(id);
    this.transport.streamDeleted?.(id);
  }

  private closeStream(id: number): void {
    const stream = this.streams.get(id);
    if (stream) this.stopStream(stream, true);
  }

  private stopStream(stream: NetStream, tell: boolean): void {
    this.refusedMedia?.delete(stream.id);
    if (stream.publication) {
      const publication = stream.publication;
      stream.publication = undefined;
      publication.close();
      try {
        this.app?.hooks.onUnpublish?.(this, publication.name);
      } catch (err) {
        this.log.error({ err }, 'onUnpublish hook failed');
      }
      if (tell) this.streamStatus(stream.id, statusInfo('status', 'NetStream.Unpublish.Success', `${publication.name.key} is now unpublished.`, { details: publication.name.key }));
    }
    if (stream.subscription) {
      const subscription = stream.subscription;
      stream.subscription = undefined;
      subscription.close();
      try {
        this.app?.hooks.onPlayStop?.(this, subscription.name);
      } catch (err) {
        this.log.error({ err }, 'onPlayStop hook failed');
      }
      if (tell) this.streamStatus(stream.id, statusInfo('status', 'NetStream.Play.Stop', `Stopped playing ${subscription.name.key}.`, { details: subscription.name.key }));
    }
  }

  private unpublishByName(raw: string): void {
    const key = parseStreamName(raw).key;
    for (const stream of this.streams.values()) {
      if (stream.publication?.name.key === key) this.stopStream(stream, true);
    }
  }

  private streamStatus(streamId: number, info: StatusInfo): void {
    this.transport.sendCommand(streamId, this.objectEncoding, 'onStatus', 0, null, { ...info, clientid: this.id });
  }

  private publish(streamId: number, command: FlashCommand): void {
    const stream = this.streams.get(streamId);
    const raw = command.args[0];
    if (stream === undefined) {
      this.log.warn({ streamId }, 'publish on a stream that was not created');
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Publish.BadName', `stream ${streamId} was not created (call createStream first)`));
      return;
    }
    if (raw === false || raw === null || raw === undefined) {
      // publish(false) / publish(null): stop publishing.
      this.stopStream(stream, true);
      return;
    }
    this.stopStream(stream, false);
    const name = parseStreamName(String(raw));
    const type = typeof command.args[1] === 'string' ? command.args[1] : 'live';
    if (name.key === '') {
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Publish.BadName', 'empty stream name'));
      return;
    }
    const refusal = this.app!.hooks.onPublish?.(this, name);
    if (typeof refusal === 'string') {
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Publish.Failed', refusal, { details: name.key }));
      return;
    }
    const publication = this.app!.publish(name, this);
    if (publication === undefined) {
      this.log.info({ stream: name.key }, 'publish refused: name already published');
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Publish.BadName', `${name.key} is already being published.`, { details: name.key }));
      return;
    }
    if (type !== 'live') this.log.info({ stream: name.key, type }, 'recording is not supported; publishing live');
    stream.publication = publication;
    publication.onTakenOver = (by, idleMs) => {
      if (stream.publication !== publication) return;
      this.stopStream(stream, false);
      this.log.info({ stream: name.key, by, idleMs }, 'publish taken over by another publisher');
      this.streamStatus(stream.id, statusInfo('status', 'NetStream.Publish.Idle', `${name.key} was taken over by another publisher: nothing published for ${idleMs} ms.`, { details: name.key }));
    };
    try {
      this.app!.hooks.onPublished?.(this, publication);
    } catch (err) {
      this.log.error({ err }, 'onPublished hook failed');
    }
    this.streamStatus(streamId, statusInfo('status', 'NetStream.Publish.Start', `${name.key} is now published.`, { details: name.key }));
  }

  private play(streamId: number, command: FlashCommand): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      this.log.warn({ streamId }, 'play on a stream that was not created');
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Play.Failed', `stream ${streamId} was not created (call createStream first)`));
      return;
    }
    const raw = command.args[0];
    this.stopStream(stream, false);
    if (raw === false || raw === null || raw === undefined) return;
    const name = parseStreamName(String(raw));
    if (name.key === '') {
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Play.StreamNotFound', 'empty stream name'));
      return;
    }
    const refusal = this.app!.hooks.onPlay?.(this, name);
    if (typeof refusal === 'string') {
      this.streamStatus(streamId, statusInfo('error', 'NetStream.Play.Failed', refusal, { details: name.key }));
      return;
    }
    // play(name, start, duration, reset): reset defaults to true.
    const reset = command.args[3] !== false && command.args[3] !== 0;
    const subscriber = this.transport.openSubscriber(streamId);
    stream.subscription = this.app!.subscribe(name, subscriber, this.id, reset);
    this.log.info({ stream: name.key, streamId, live: stream.subscription.live }, 'play started');
  }
}
