// `covey publish FILE.flv URL [--loop]`: publishes an FLV file in real time, as a live encoder
// would, over whichever protocol the URL names.
import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { FlvParser, FlvTagType, MediaFormatError } from '../codec/flv.js';
import { streamProtocolFor, type PublishSession, type StreamFrameKind } from '../client/stream-client.js';
import '../client/stream-protocols.js';
import { Progress } from './progress.js';
import { checkFlvFile, checkStreamUrl } from './argument-checks.js';
import { exitWithError, UsageError } from './exit.js';
import { groupspecFromArgument } from '../client/group-stream-protocol.js';

/** The publisher waits while more than this is waiting to be sent (a slow link). */
const MAX_BUFFERED = 4 * 1024 * 1024;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Sleeps `ms`, or less when `stop` turns true (looked at every 50 ms). */
async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  for (let left = ms; left > 0 && !stop(); left = until - Date.now()) await sleep(Math.min(left, 50));
}

function kindOf(type: number): StreamFrameKind | undefined {
  return type === FlvTagType.Audio ? 'audio' : type === FlvTagType.Video ? 'video' : type === FlvTagType.ScriptData ? 'data' : undefined;
}

export async function publishFile(file: string, url: string, options: { loop?: boolean; quiet?: boolean; p2p?: boolean; group?: string }): Promise<void> {
  checkStreamUrl(url);
  await checkFlvFile(file);
  const protocol = streamProtocolFor(url);
  if (options.p2p && protocol.publishDirect === undefined) throw new UsageError(`--p2p needs an rtmfp:// URL (peers meet through an RTMFP server), got ${url}`);
  if (options.group !== undefined) {
    if (options.p2p) throw new UsageError('--group and --p2p cannot be used together');
    if (protocol.publishToGroup === undefined) throw new UsageError(`--group needs an rtmfp:// URL (group members meet through an RTMFP server), got ${url}`);
    try {
      groupspecFromArgument(options.group);
    } catch (err) {
      throw new UsageError(`--group: ${(err as Error).message}`);
    }
  }
  const session: PublishSession =
    options.group !== undefined
      ? await protocol.publishToGroup!(url, options.group, (line) => console.error(`covey publish: ${line}`))
      : options.p2p
        ? await protocol.publishDirect!(url, (peerId) => console.error(`covey publish: peer ID ${peerId} (players: covey play --peer ${peerId} ${url})`))
        : await protocol.publish(url);
  let ended: string | undefined;
  let closing = false;
  session.onEnd = (reason) => {
    if (!closing) ended = reason;
  };
  const progress = new Progress();
  let interrupted = false;
  const onSignal = () => (interrupted = true);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  let offset = 0; // added to the file's timestamps on each loop
  let lastTs = 0;
  let bytes = 0;
  let frames = 0;
  let lastReport = 0;
  /** Set when the file ends inside a tag (cut short): published up to there, then warned. */
  let truncated = false;
  try {
    do {
      const parser = new FlvParser();
      let first: number | undefined;
      let loopEnd = offset;
      for await (const chunk of createReadStream(file, { highWaterMark: 64 * 1024 })) {
        let tags;
        try {
          tags = parser.push(chunk as Buffer);
        } catch (err) {
          if (err instanceof MediaFormatError) throw new Error(`${file}: ${err.message}`);
          throw err;
        }
        for (const tag of tags) {
          if (interrupted || ended) break;
          const kind = kindOf(tag.type);
          if (kind === undefined) continue;
          first ??= tag.timestamp;
          const ts = offset + tag.timestamp - first;
          // Real time: wait until the wall clock reaches the tag's time.
          const wait = ts - (Date.now() - started);
          // Wakes early to end: a file with a long gap must not hold an interrupt or a takeover.
          if (wait > 0) await sleepUnless(wait, () => interrupted || ended !== undefined);
          while (session.bufferedBytes > MAX_BUFFERED && !ended && !interrupted) await sleep(10);
          if (ended || interrupted) break;
          session.send(kind, ts, tag.data);
          bytes += tag.data.length;
          frames++;
          lastTs = ts;
          loopEnd = Math.max(loopEnd, ts);
          if (!options.quiet && Date.now() - lastReport >= 1000) {
            lastReport = Date.now();
            progress.update(ts, bytes);
          }
        }
        if (interrupted || ended) break;
      }
      if (!interrupted && !ended && !truncated) {
        try {
          parser.end();
        } catch (err) {
          if (!(err instanceof MediaFormatError)) throw err;
          truncated = true;
        }
      }
      // Next loop continues one frame interval (a guess: 40 ms) after the last timestamp.
      offset = loopEnd + 40;
    } while (options.loop && !interrupted && !ended);
    if (!options.quiet) progress.update(lastTs, bytes);
  } finally {
    progress.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    closing = true;
    await session.close();
  }
  if (ended) throw new Error(ended.startsWith('NetStream.') ? `the server ended our publishing: ${ended}` : `connection ended: ${ended}`);
  if (truncated) {
    console.error(`covey publish: warning: ${file} is cut short, its last tag incomplete; published ${(lastTs / 1000).toFixed(1)} s of media, ${frames} frames, up to there`);
  }
}

export function registerPublish(program: Command): void {
  program
    .command('publish')
    .description('publish an FLV file in real time to an rtmfp:// or rtmp:// URL, as a live encoder would')
    .argument('<file>', 'FLV file (H.264/AAC, or anything FLV holds, Enhanced RTMP included)')
    .argument('<url>', 'rtmfp://host[:port]/app/stream (UDP) or rtmp://host[:port]/app/stream (TCP); port 1935 by default')
    .option('--loop', 'start over at the end of the file, until interrupted')
    .option('--p2p', 'publish with direct connections (rtmfp:// only): players reach this process by its peer ID, printed on stderr, and get the media from it directly; the server only introduces them')
    .option('--group <spec>', 'publish into a NetGroup (rtmfp:// only) whose members carry the stream peer to peer, and to the server as usual (for members with no P2P neighbour); a groupspec (G:...) or a group name to build one from')
    .option('-q, --quiet', 'no progress lines')
    .action(async (file: string, url: string, flags: { loop?: boolean; quiet?: boolean; p2p?: boolean; group?: string }) => {
      try {
        await publishFile(file, url, flags);
      } catch (err) {
        exitWithError('publish', err);
      }
      process.exit(0);
    });
}
