// What `covey publish --p2p` and `covey play --peer` need (StreamProtocol's publishDirect and
// playFromPeer) over RTMFP: a NetConnection to the server of the URL, which only introduces peers,
// and a direct P2P NetStream named by the URL's stream.
import { NetCallError } from './net-connection.js';
import type { RtmfpClient } from './rtmfp-client.js';
import type { RtmpUrl } from './rtmp-url.js';
import type { PlaySession, PublishSession, StreamProtocol } from './stream-client.js';
import { drainBeforeClose } from './publish-session-parts.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function directStreamProtocol(parseUrl: (url: string) => RtmpUrl, connectTo: (url: RtmpUrl) => Promise<RtmfpClient>): Pick<StreamProtocol, 'publishDirect' | 'playFromPeer'> {
  async function connect(url: RtmpUrl): Promise<RtmfpClient> {
    try {
      return await connectTo(url);
    } catch (err) {
      throw err instanceof NetCallError ? new Error(`server refused: ${err.message}`) : err;
    }
  }
  return {
    async publishDirect(text, onPeerId): Promise<PublishSession> {
      const url = parseUrl(text);
      const client = await connect(url);
      let publisher;
      try {
        publisher = client.publishDirect(url.stream);
      } catch (err) {
        await client.close();
        throw err;
      }
      // Only now: a player that reads the ID at once must find the stream published.
      onPeerId(client.peerId);
      const session: PublishSession = {
        send: (kind, timestamp, payload) => publisher.send(kind, timestamp, payload),
        get bufferedBytes() {
          return publisher.bufferedBytes;
        },
        async close() {
          // Players get what was sent, then UnpublishNotify, before the P2P sessions close.
          await drainBeforeClose(() => publisher.bufferedBytes, () => client.closedReason !== undefined);
          publisher.close();
          await sleep(100);
          await client.close();
        },
      };
      client.onEnd = (reason) => session.onEnd?.(reason);
      return session;
    },

    async playFromPeer(text, peerId, onFrame, onPeerId, timeoutMs): Promise<PlaySession> {
      const url = parseUrl(text);
      const client = await connect(url);
      onPeerId(client.peerId);
      const session: PlaySession = {
        onFrame,
        async close() {
          play?.close();
          await client.close();
        },
      };
      let play: Awaited<ReturnType<RtmfpClient['playDirect']>> | undefined;
      try {
        play = await client.playDirect(peerId, url.stream, { timeoutMs, onFrame: (kind, ts, payload) => session.onFrame?.(kind, ts, payload) });
      } catch (err) {
        await client.close();
        throw err;
      }
      play.onEnd = (reason) => session.onEnd?.(reason);
      client.onEnd = (reason) => session.onEnd?.(`connection to the server closed: ${reason}`);
      return session;
    },
  };
}
