// The RTMP implementation of StreamProtocol for the CLI: rtmp://host[:port]/app/stream.
import { encodeAmf0 } from '../codec/amf0.js';
import { MessageType } from '../rtmp/message-types.js';
import { RtmpCallError, RtmpClient } from './rtmp-client.js';
import { parseRtmpUrl } from './rtmp-url.js';
import type { PlaySession, PublishSession, StreamProtocol } from './stream-client.js';

const SET_DATA_FRAME = encodeAmf0('@setDataFrame');

function target(url: string): { app: string; stream: string; url: ReturnType<typeof parseRtmpUrl> } {
  const parsed = parseRtmpUrl(url);
  if (parsed.stream === '') throw new Error(`no stream name in ${url} (expected rtmp://host/app/stream)`);
  return { app: parsed.app, stream: parsed.stream, url: parsed };
}

function readable(err: unknown): Error {
  if (err instanceof RtmpCallError) return new Error(`server refused: ${err.message}`);
  return err instanceof Error ? err : new Error(String(err));
}

/** True for AMF0 data starting with the string "onMetaData". */
function isMetadata(payload: Buffer): boolean {
  return payload.length > 13 && payload[0] === 2 && payload.readUInt16BE(1) === 10 && payload.toString('latin1', 3, 13) === 'onMetaData';
}

export const rtmpStreamProtocol: StreamProtocol = {
  async publish(url: string): Promise<PublishSession> {
    const t = target(url);
    let client: RtmpClient;
    try {
      client = await RtmpClient.connect(t.url);
    } catch (err) {
      throw readable(err);
    }
    try {
      const stream = await client.publish(t.stream);
      const session: PublishSession = {
        send(kind, timestamp, payload) {
          if (kind === 'audio') stream.send(MessageType.Audio, timestamp, payload);
          else if (kind === 'video') stream.send(MessageType.Video, timestamp, payload);
          else stream.send(MessageType.DataAmf0, timestamp, isMetadata(payload) ? [SET_DATA_FRAME, payload] : payload);
        },
        get bufferedBytes() {
          return client.connection.queuedBytes;
        },
        async close() {
          stream.close();
          await new Promise((r) => setTimeout(r, 100));
          client.close();
        },
      };
      client.connection.addCloseListener((info) => session.onEnd?.(info.reason));
      return session;
    } catch (err) {
      client.close();
      throw readable(err);
    }
  },

  async play(url, onFrame): Promise<PlaySession> {
    const t = target(url);
    let client: RtmpClient;
    try {
      client = await RtmpClient.connect(t.url);
    } catch (err) {
      throw readable(err);
    }
    const session: PlaySession = {
      onFrame,
      async close() {
        client.close();
      },
    };
    try {
      const stream = await client.play(t.stream, { onFrame: (kind, ts, payload) => session.onFrame?.(kind, ts, payload) });
      stream.onStatus = (info) => {
        if (info.code === 'NetStream.Play.UnpublishNotify' || info.code === 'NetStream.Play.Stop') session.onEnd?.(`${String(info.code)}: the publisher stopped`);
      };
      stream.onEnd = (reason) => {
        if (reason.startsWith('connection closed')) session.onEnd?.(reason);
      };
      return session;
    } catch (err) {
      client.close();
      throw readable(err);
    }
  },
};
