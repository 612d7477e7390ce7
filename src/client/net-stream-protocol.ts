// StreamProtocol (what `covey publish` and `covey play` need) on top of any NetConnection: the
// same code serves rtmp:// and rtmfp://, each supplying only how to connect.
import { unlessAborted } from './abortable.js';
import { NetCallError, type NetConnection } from './net-connection.js';
import type { RtmpUrl } from './rtmp-url.js';
import type { PlaySession, PublishSession, StreamProtocol } from './stream-client.js';
import { drainBeforeClose, sendFrame } from './publish-session-parts.js';

/** How long a player keeps listening after the publisher is announced gone. */
const END_GRACE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readable(err: unknown): Error {
  if (err instanceof NetCallError) return new Error(`server refused: ${err.message}`);
  return err instanceof Error ? err : new Error(String(err));
}

export function netStreamProtocol(scheme: string, parseUrl: (url: string) => RtmpUrl, connect: (url: RtmpUrl, signal?: AbortSignal) => Promise<NetConnection>): StreamProtocol {
  function target(text: string): RtmpUrl {
    const url = parseUrl(text);
    if (url.stream === '') throw new Error(`no stream name in ${text} (expected ${scheme}://host/app/stream)`);
    return url;
  }
  async function open(url: RtmpUrl, signal?: AbortSignal): Promise<NetConnection> {
    try {
      return await connect(url, signal);
    } catch (err) {
      throw readable(err);
    }
  }

  return {
    check(text: string): void {
      target(text);
    },
    async publish(text: string): Promise<PublishSession> {
      const url = target(text);
      const client = await open(url);
      try {
        const stream = await client.publish(url.stream);
        const session: PublishSession = {
          send: (kind, timestamp, payload) => sendFrame(stream, kind, timestamp, payload),
          get bufferedBytes() {
            return client.bufferedBytes;
          },
          async close() {
            // What was sent must reach the server before the stream is closed.
            await drainBeforeClose(() => client.bufferedBytes, () => client.closedReason !== undefined);
            stream.close();
            await sleep(100);
            await client.close();
          },
        };
        client.onEnd = (reason) => session.onEnd?.(reason);
        // The server took our name for another publisher (we had sent nothing for its
        // takeover time): what we send now goes nowhere.
        stream.onStatus = (info) => {
          if (info.code === 'NetStream.Publish.Idle') session.onEnd?.(`${String(info.code)}: ${String(info.description)}`);
        };
        return session;
      } catch (err) {
        await client.close();
        throw readable(err);
      }
    },

    async play(text, onFrame, options = {}): Promise<PlaySession> {
      const url = target(text);
      const client = await open(url, options.signal);
      const session: PlaySession = {
        onFrame,
        async close() {
          await client.close();
        },
      };
      try {
        const stream = await unlessAborted(client.play(url.stream, { onFrame: (kind, ts, payload) => session.onFrame?.(kind, ts, payload) }), options.signal, 'the play to start');
        stream.onStatus = (info) => {
          // Media may still be on its way on other flows (RTMFP): give it a moment before ending.
          if (info.code === 'NetStream.Play.UnpublishNotify' || info.code === 'NetStream.Play.Stop') setTimeout(() => session.onEnd?.(`${String(info.code)}: the publisher stopped`), END_GRACE_MS);
        };
        stream.onEnd = (reason) => {
          if (reason.startsWith('connection closed')) session.onEnd?.(reason);
        };
        return session;
      } catch (err) {
        await client.close();
        throw readable(err);
      }
    },
  };
}
