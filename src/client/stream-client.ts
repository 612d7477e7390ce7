// What `covey publish` and `covey play` need from a protocol's client, so that rtmp:// and
// rtmfp:// URLs work the same way. Each protocol registers itself by URL scheme
// (see stream-protocols.ts).

export type StreamFrameKind = 'audio' | 'video' | 'data';

/** A stream being published. Payloads are FLV tag bodies; data is AMF0 (name, then values). */
export interface PublishSession {
  /** Audio and video tag bodies, data as AMF0; an onMetaData data frame is kept by the server for late joiners. */
  send(kind: StreamFrameKind, timestamp: number, payload: Buffer): void;
  /** Bytes accepted but not yet sent: a publisher slows down when this grows. */
  readonly bufferedBytes: number;
  /** Called if the server or network ends the session. */
  onEnd?: (reason: string) => void;
  close(): Promise<void>;
}

/** A stream being played. */
export interface PlaySession {
  /** Called for every frame, timestamps as the server sent them. */
  onFrame?: (kind: StreamFrameKind, timestamp: number, payload: Buffer) => void;
  /** The publisher stopped, or the connection ended. */
  onEnd?: (reason: string) => void;
  close(): Promise<void>;
}

export interface StreamProtocol {
  /** Throws one readable line when `url` cannot name a stream (port, application, name); sends nothing. */
  check(url: string): void;
  /** Connects and starts publishing; rejects with one readable line (refused, bad name...). */
  publish(url: string): Promise<PublishSession>;
  /**
   * Connects and starts playing; rejects with one readable line. Frames may follow at once.
   * `signal` gives up waiting for the play to start (the session is closed, then it rejects).
   */
  play(url: string, onFrame: PlaySession['onFrame'], options?: { signal?: AbortSignal }): Promise<PlaySession>;
  /**
   * Protocols with peers (RTMFP) only: publishes the stream to players that connect to this
   * process directly, the server only introducing them. `onPeerId` hears our peer ID once connected.
   */
  publishDirect?(url: string, onPeerId: (peerId: string) => void): Promise<PublishSession>;
  /** Protocols with peers only: plays the stream directly from the peer that publishes it. */
  playFromPeer?(url: string, peerId: string, onFrame: PlaySession['onFrame'], onPeerId: (peerId: string) => void, timeoutMs?: number): Promise<PlaySession>;
  /**
   * Protocols with peers only: publishes the stream into a NetGroup (groupspec, or a name to build
   * one from), and to the server as usual. `onInfo` hears one-line notices.
   */
  publishToGroup?(url: string, groupspec: string, onInfo: (line: string) => void): Promise<PublishSession>;
  /** Protocols with peers only: plays the stream from a NetGroup, from the server if no peer carries it in time. */
  playFromGroup?(url: string, groupspec: string, onFrame: PlaySession['onFrame'], options?: { fallbackMs?: number; idleMs?: number; onInfo?: (line: string) => void }): Promise<PlaySession & { readonly counts: { fragmentsFromPeers: number; pushed: number; pulled: number; framesFromServer: number; fellBack: boolean } }>;
}

const protocols = new Map<string, StreamProtocol>();

/** Registers a protocol for a URL scheme such as "rtmp" or "rtmfp". */
export function registerStreamProtocol(scheme: string, protocol: StreamProtocol): void {
  protocols.set(scheme.toLowerCase(), protocol);
}

/** The protocol for a URL; throws one readable line for a malformed URL or an unknown scheme. */
export function streamProtocolFor(url: string): StreamProtocol {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (m === null) throw new Error(`not a stream URL: ${url} (expected ${[...protocols.keys()].map((s) => `${s}://`).join(' or ')}host/app/stream)`);
  const protocol = protocols.get(m[1]!.toLowerCase());
  if (protocol === undefined) throw new Error(`unsupported URL scheme ${m[1]}:// (supported: ${[...protocols.keys()].join(', ')})`);
  return protocol;
}
