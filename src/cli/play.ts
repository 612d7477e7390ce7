// `covey play URL -o out.flv | -o - [--duration S]`: records a live stream into an FLV file (or
// stdout), timestamps starting at zero, until the publisher stops, the duration is reached or
// the user interrupts.
import type { Command } from 'commander';
import { createWriteStream, type WriteStream } from 'node:fs';
import { encodeFlvHeader, encodeFlvTag, FlvTagType } from '../codec/flv.js';
import { streamProtocolFor, type StreamFrameKind } from '../client/stream-client.js';
import '../client/stream-protocols.js';
import { Progress } from './progress.js';
import { checkStreamUrl } from './argument-checks.js';
import { parsePeerId } from '../client/peer-sessions.js';
import { exitWithError, UsageError } from './exit.js';
import { groupspecFromArgument } from '../client/group-stream-protocol.js';

const TAG_TYPES: Record<StreamFrameKind, number> = { audio: FlvTagType.Audio, video: FlvTagType.Video, data: FlvTagType.ScriptData };

/** Data messages that are about the connection, not the media: not written to the file. */
function isControlData(payload: Buffer): boolean {
  return payload.length > 3 && payload[0] === 2 && payload.toString('latin1', 3, 4) === '|';
}

export interface PlayOptions {
  output: string;
  /** Stop after this much media time, in seconds. */
  duration?: number;
  /** Give up when no media came within this many seconds. */
  wait: number;
  quiet?: boolean;
  /** Play directly from the peer of this ID (RTMFP), the server only introducing. */
  peer?: string;
  /** Play from this NetGroup (a groupspec, or a name to build one from), peers carrying the media. */
  group?: string;
  /** With group: fall back to the server's stream when no frame came from peers within this many seconds. */
  p2pWait?: number;
}

export async function recordStream(url: string, options: PlayOptions): Promise<void> {
  checkStreamUrl(url);
  const protocol = streamProtocolFor(url);
  if (options.peer !== undefined) {
    if (protocol.playFromPeer === undefined) throw new UsageError(`--peer needs an rtmfp:// URL (peers meet through an RTMFP server), got ${url}`);
    try {
      parsePeerId(options.peer);
    } catch (err) {
      throw new UsageError(`--peer: ${(err as Error).message}`);
    }
  }
  if (options.group !== undefined) {
    if (options.peer !== undefined) throw new UsageError('--group and --peer cannot be used together');
    if (protocol.playFromGroup === undefined) throw new UsageError(`--group needs an rtmfp:// URL (group members meet through an RTMFP server), got ${url}`);
    try {
      groupspecFromArgument(options.group);
    } catch (err) {
      throw new UsageError(`--group: ${(err as Error).message}`);
    }
  }
  const out: NodeJS.WritableStream = options.output === '-' ? process.stdout : createWriteStream(options.output);
  let fileError: Error | undefined;
  out.on('error', (err: Error) => (fileError = err));
  const progress = new Progress();
  let base: number | undefined;
  let mediaMs = 0;
  let bytes = 0;
  let lastReport = 0;
  let finish!: (reason: string | Error) => void;
  const finished = new Promise<string | Error>((resolve) => (finish = resolve));
  let headerWritten = false;

  const onFrame = (kind: StreamFrameKind, timestamp: number, payload: Buffer) => {
    if (kind === 'data' && isControlData(payload)) return;
    if (!headerWritten) {
      out.write(encodeFlvHeader({ hasAudio: true, hasVideo: true }));
      headerWritten = true;
    }
    // Timestamps start at zero in the file, wherever the live stream was when we joined.
    if (kind !== 'data') base ??= timestamp;
    const ts = base === undefined ? 0 : Math.max(0, (timestamp - base) | 0);
    out.write(encodeFlvTag({ type: TAG_TYPES[kind], timestamp: ts, data: payload }));
    bytes += payload.length;
    mediaMs = Math.max(mediaMs, ts);
    if (!options.quiet && Date.now() - lastReport >= 1000) {
      lastReport = Date.now();
      progress.update(mediaMs, bytes);
    }
    if (options.duration !== undefined && mediaMs >= options.duration * 1000) finish('duration reached');
  };

  const groupSession =
    options.group === undefined
      ? undefined
      : await protocol.playFromGroup!(url, options.group, onFrame, { fallbackMs: (options.p2pWait ?? 8) * 1000, onInfo: (line) => console.error(`covey play: ${line}`) });
  // From before the connect: an interrupt while connecting or starting ends the play cleanly too
  // (a SIGINT between the server's Play.Start and our handler killed the process without a close).
  const onSignal = () => finish('interrupted');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const session =
    groupSession ??
    (options.peer === undefined
      ? await protocol.play(url, onFrame)
      : await protocol.playFromPeer!(url, options.peer, onFrame, (peerId) => console.error(`covey play: peer ID ${peerId}`), options.wait * 1000));
  session.onEnd = (reason) => finish(reason);
  const waitTimer = setTimeout(() => {
    if (base === undefined) finish(new Error(`no media within ${options.wait} s: is the stream published? (${url})`));
  }, options.wait * 1000);
  const outcome = await finished;
  clearTimeout(waitTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await session.close();
  if (!options.quiet && bytes > 0) progress.update(mediaMs, bytes);
  progress.done();
  if (groupSession) {
    const c = groupSession.counts;
    console.error(`covey play: ${c.fragmentsFromPeers} fragments from peers (${c.pushed} pushed, ${c.pulled} pulled), ${c.framesFromServer} frames from the server${c.fellBack ? ' (fell back to the server)' : ''}`);
  }
  if (out !== process.stdout) await new Promise<void>((resolve) => (out as WriteStream).end(() => resolve()));
  if (fileError) throw new Error(`cannot write ${options.output}: ${fileError.message}`);
  if (outcome instanceof Error) throw outcome;
}

export function registerPlay(program: Command): void {
  program
    .command('play')
    .description('record a live stream from an rtmfp:// or rtmp:// URL into an FLV file or stdout')
    .argument('<url>', 'rtmfp://host[:port]/app/stream (UDP) or rtmp://host[:port]/app/stream (TCP); port 1935 by default')
    .requiredOption('-o, --output <file>', 'FLV file to write, or - for stdout')
    .option('--duration <seconds>', 'stop after this much media time')
    .option('--peer <peerId>', 'play directly from the peer that publishes the stream (rtmfp:// only; the server only introduces): its peer ID, as covey publish --p2p prints it')
    .option('--group <spec>', 'play from a NetGroup (rtmfp:// only): its members carry the stream peer to peer; a groupspec (G:...) or a group name to build one from, as covey publish --group prints it')
    .option('--p2p-wait <seconds>', 'with --group: play from the server when no frame came from peers within this time', '8')
    .option('--wait <seconds>', 'fail when no media comes within this time', '10')
    .option('-q, --quiet', 'no progress lines')
    .action(async (url: string, flags: { output: string; duration?: string; wait: string; quiet?: boolean; peer?: string; group?: string; p2pWait: string }) => {
      const duration = flags.duration === undefined ? undefined : Number(flags.duration);
      const wait = Number(flags.wait);
      const p2pWait = Number(flags.p2pWait);
      if (!(p2pWait > 0)) exitWithError('play', new UsageError(`--p2p-wait must be a positive number of seconds, got ${flags.p2pWait}`));
      if (duration !== undefined && !(duration > 0)) {
        exitWithError('play', new UsageError(`--duration must be a positive number of seconds, got ${flags.duration}`));
      }
      if (!(wait > 0)) exitWithError('play', new UsageError(`--wait must be a positive number of seconds, got ${flags.wait}`));
      try {
        await recordStream(url, { output: flags.output, duration, wait: flags.group !== undefined ? Math.max(wait, p2pWait + 5) : wait, quiet: flags.quiet, peer: flags.peer, group: flags.group, p2pWait });
      } catch (err) {
        exitWithError('play', err);
      }
      process.exit(0);
    });
}
