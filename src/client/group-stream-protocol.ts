// What `covey publish --group` and `covey play --group` need over RTMFP: a NetConnection to the
// server of the URL, a NetGroup joined by groupspec, and the URL's stream carried through the
// group (group-media.ts). The publisher also publishes the stream to the server as usual, so
// members without a P2P neighbour can fall back to it; a player that gets no frame from the group
// within a bounded time plays the server's stream instead, and says so.
import { NetCallError } from './net-connection.js';
import { NetGroup } from './net-group.js';
import { playFromGroup, publishToGroup, type GroupPlayer } from './group-media.js';
import { parseGroupspec, groupspecForName, type Groupspec } from './group-spec.js';
import type { RtmfpClient } from './rtmfp-client.js';
import type { RtmpUrl } from './rtmp-url.js';
import type { PlaySession, PublishSession, StreamProtocol } from './stream-client.js';
import { drainBeforeClose, sendFrame } from './publish-session-parts.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A groupspec as the user gave it (`G:...`), or built from a group name. */
export function groupspecFromArgument(text: string): Groupspec {
  return text.startsWith('G:') ? parseGroupspec(text) : groupspecForName(text);
}

export interface GroupPlayOptions {
  /** Play from the server when no frame came from the group within this long (default 8 s). */
  fallbackMs?: number;
  /** End when the group brings nothing new for this long once the stream was found (a publisher gone without a word); default none. */
  idleMs?: number;
  /** One-line notices (joined, fell back, why the group stream ended). */
  onInfo?: (line: string) => void;
}

/** A play session that can say where its media came from. */
export interface GroupPlaySession extends PlaySession {
  /** Fragments from peers and frames from the server, so far. */
  readonly counts: { fragmentsFromPeers: number; pushed: number; pulled: number; framesFromServer: number; fellBack: boolean };
}


export function groupStreamProtocol(parseUrl: (url: string) => RtmpUrl, connectTo: (url: RtmpUrl) => Promise<RtmfpClient>): Pick<StreamProtocol, 'publishToGroup' | 'playFromGroup'> {
  async function connect(url: RtmpUrl): Promise<RtmfpClient> {
    try {
      return await connectTo(url);
    } catch (err) {
      throw err instanceof NetCallError ? new Error(`server refused: ${err.message}`) : err;
    }
  }
  async function join(client: RtmfpClient, spec: Groupspec): Promise<NetGroup> {
    try {
      return await NetGroup.join(client, spec);
    } catch (err) {
      await client.close();
      throw err;
    }
  }
  return {
    async publishToGroup(text, groupspec, onInfo): Promise<PublishSession> {
      const url = parseUrl(text);
      const spec = groupspecFromArgument(groupspec);
      const client = await connect(url);
      const group = await join(client, spec);
      let server;
      try {
        // The same stream on the server, for members that cannot reach a peer.
        server = await client.publish(url.stream);
      } catch (err) {
        await client.close();
        throw err instanceof NetCallError ? new Error(`server refused: ${err.message}`) : err;
      }
      const publisher = publishToGroup(group, url.stream);
      onInfo(`publishing ${url.stream} into group ${spec.groupIdHex.slice(0, 16)}… (${spec.text}) and to the server; players: covey play ${text} --group ${spec.text}`);
      const session: PublishSession = {
        send(kind, timestamp, payload) {
          publisher.send(kind, timestamp, payload);
          sendFrame(server, kind, timestamp, payload);
        },
        get bufferedBytes() {
          return client.bufferedBytes;
        },
        async close() {
          await drainBeforeClose(() => client.bufferedBytes, () => client.closedReason !== undefined);
          onInfo(`${publisher.lastFragment} fragments published into the group, ${publisher.stats.fragmentsSent} sent to ${publisher.neighbors} neighbours`);
          publisher.close();
          server.close();
          // Neighbours hear the stream's last fragment before our sessions close.
          await sleep(200);
          group.leave();
          // Awaited: the close has to reach the server before the process exits (NetConnection.close).
          await client.close();
        },
      };
      client.onEnd = (reason) => session.onEnd?.(reason);
      return session;
    },

    async playFromGroup(text, groupspec, onFrame, options: GroupPlayOptions = {}): Promise<GroupPlaySession> {
      const url = parseUrl(text);
      const spec = groupspecFromArgument(groupspec);
      const client = await connect(url);
      const group = await join(client, spec);
      const fallbackMs = options.fallbackMs ?? 8000;
      let player: GroupPlayer | undefined;
      let fellBack = false;
      let framesFromServer = 0;
      let timer: NodeJS.Timeout | undefined;
      let closing = false;
      const session: GroupPlaySession = {
        onFrame,
        get counts() {
          const s = player?.stats;
          return { fragmentsFromPeers: s?.fragmentsFromPeers ?? 0, pushed: s?.fragmentsPushedToUs ?? 0, pulled: s?.fragmentsPulled ?? 0, framesFromServer, fellBack };
        },
        async close() {
          closing = true;
          clearTimeout(timer);
          player?.close();
          group.leave();
          await client.close();
        },
      };
      player = playFromGroup(group, url.stream, { idleMs: options.idleMs, onFrame: (kind, ts, payload) => session.onFrame?.(kind, ts, payload) });
      player.onEnd = (reason) => {
        if (fellBack || closing) return;
        options.onInfo?.(reason);
        session.onEnd?.(reason);
      };
      options.onInfo?.(`joined group ${spec.groupIdHex.slice(0, 16)}… as ${client.peerId}; waiting up to ${fallbackMs / 1000} s for the stream from peers`);
      timer = setTimeout(() => {
        if (player!.startedAt !== undefined || client.closedReason !== undefined) return;
        fellBack = true;
        const neighbors = group.neighbors.length;
        player!.close();
        options.onInfo?.(`no frame from the group within ${fallbackMs / 1000} s (${neighbors} P2P neighbour${neighbors === 1 ? '' : 's'}${neighbors === 0 ? ': UDP between peers blocked, or a symmetric NAT?' : ' without the stream'}); playing ${url.stream} from the server`);
        client
          .play(url.stream, {
            onFrame: (kind, ts, payload) => {
              framesFromServer++;
              session.onFrame?.(kind, ts, payload);
            },
          })
          .then(
            (stream) => {
              stream.onStatus = (info) => {
                if (info.code === 'NetStream.Play.UnpublishNotify' || info.code === 'NetStream.Play.Stop') setTimeout(() => session.onEnd?.(`${String(info.code)}: the publisher stopped`), 300);
              };
            },
            (err: Error) => session.onEnd?.(`cannot play ${url.stream} from the server either: ${err instanceof NetCallError ? err.message : err.message}`),
          );
      }, fallbackMs);
      timer.unref();
      client.onEnd = (reason) => session.onEnd?.(`connection to the server closed: ${reason}`);
      return session;
    },
  };
}
