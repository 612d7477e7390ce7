// Publications for scripts: the ones a script makes (mona:publish / mona:newPublication: frames
// pushed from Lua reach players like any publisher's), and the listing mona.publications gives.
//
// Covey's streams belong to the application named by the first segment of the connect path, so a
// Lua app publishes into, and lists, that application's streams (www/live and www/live/room:
// "live"; the root app: the empty path's). MonaServer's publications are server-wide.
import { decodeAmf0, encodeAmf0 } from '../codec/amf0.js';
import type { FlashServer } from '../flash/flash-server.js';
import type { Publication } from '../flash/publication.js';
import { parseStreamName } from '../flash/stream-name.js';
import type { LuaApp } from './lua-apps.js';

/** What a script sees of a publication: a snapshot taken when it asks. */
export interface PublicationInfo {
  name: string;
  publisherId: string;
  /** Whether a script made it (mona:publish). */
  byScript: boolean;
  frames: number;
  bytes: number;
  /** Bytes per second since it started. */
  byteRate: number;
  /** The latest audio/video timestamp (ms). */
  lastTime: number;
  /** Players of the name. */
  listeners: number;
  /** Its metadata (@setDataFrame onMetaData), if any. */
  properties: Record<string, unknown> | undefined;
}

interface MadePublication {
  app: LuaApp;
  publication: Publication;
}

export class LuaPublications {
  private flash: FlashServer | undefined;
  private readonly made = new Map<number, MadePublication>();
  private nextId = 1;

  /** The model the publications live in (the server makes it after the Lua host). */
  attach(flash: FlashServer): void {
    this.flash = flash;
  }

  /** Starts a publication made by a script; returns its id, or throws a one-line Error. */
  publish(app: LuaApp, rawName: string): number {
    if (this.flash === undefined) throw new Error('mona:publish: the server is not running yet (call it from onStart or later)');
    const name = parseStreamName(rawName);
    if (name.key === '') throw new Error('mona:publish: an empty stream name');
    const application = this.flash.application(applicationOf(app));
    if (application === undefined) throw new Error(`mona:publish: no application "${applicationOf(app)}"`);
    const id = this.nextId++;
    const publication = application.publish(name, { id: `lua:/${app.path}#${id}`, protocol: 'lua', remoteAddress: `/${app.path}` });
    if (publication === undefined) throw new Error(`${name.key} is already being published`);
    this.made.set(id, { app, publication });
    // A reload or stop of the app ends what it published.
    app.onStop.push(() => this.close(id));
    return id;
  }

  /** Media from the script (FLV tag bodies, as publication:onAudio/onVideo receive them). */
  push(id: number, kind: 'audio' | 'video', time: number, payload: Buffer): void {
    const publication = this.live(id);
    if (payload.length === 0) throw new Error(`publication:write${kind === 'audio' ? 'Audio' : 'Video'}: an empty packet`);
    const timestamp = toTimestamp(time);
    if (kind === 'audio') publication.pushAudio(timestamp, payload);
    else publication.pushVideo(timestamp, payload);
  }

  /** A data message (AMF0: the handler name, then its values), at the publication's latest time. */
  pushData(id: number, payload: Buffer): void {
    const publication = this.live(id);
    publication.pushData(publication.lastTimestamp, payload);
  }

  /** Metadata kept for late joiners (onMetaData), as @setDataFrame does. */
  setProperties(id: number, properties: unknown): void {
    const publication = this.live(id);
    publication.setDataFrame(publication.lastTimestamp, encodeAmf0('onMetaData', properties ?? {}));
  }

  close(id: number): void {
    const made = this.made.get(id);
    if (made === undefined) return;
    this.made.delete(id);
    made.publication.close();
  }

  /** The publications of the app's model application, as snapshots. */
  list(app: LuaApp): PublicationInfo[] {
    const application = this.flash?.apps.get(applicationOf(app));
    return (application?.publications ?? []).map((p) => this.info(p));
  }

  find(app: LuaApp, name: string): PublicationInfo | undefined {
    const publication = this.flash?.apps.get(applicationOf(app))?.publication(parseStreamName(name).key);
    return publication && this.info(publication);
  }

  private info(p: Publication): PublicationInfo {
    const seconds = Math.max(0.001, (Date.now() - p.startedAt) / 1000);
    let properties: Record<string, unknown> | undefined;
    if (p.dataFrame !== undefined) {
      try {
        const [, value] = decodeAmf0(p.dataFrame.payload);
        if (value !== null && typeof value === 'object') properties = value as Record<string, unknown>;
      } catch {
        // Metadata that does not decode: none to show.
      }
    }
    return {
      name: p.name.key,
      publisherId: p.publisherId,
      byScript: p.publisherId.startsWith('lua:'),
      frames: p.frames,
      bytes: p.bytes,
      byteRate: Math.round(p.bytes / seconds),
      lastTime: p.lastTimestamp,
      listeners: p.subscriptions.size,
      properties,
    };
  }

  private live(id: number): Publication {
    const made = this.made.get(id);
    if (made === undefined || made.publication.closed) throw new Error('this publication is closed');
    return made.publication;
  }
}

/** The model application a Lua app's streams belong to: its path's first segment. */
function applicationOf(app: LuaApp): string {
  return app.path.split('/')[0]!;
}

/** Timestamps are 32-bit milliseconds on the wire. */
function toTimestamp(time: number): number {
  if (!Number.isFinite(time) || time < 0) throw new Error(`a time in ms (a number >= 0), got ${String(time)}`);
  return Math.floor(time) >>> 0;
}
