// `covey play URL -o out.flv | -o - [--duration S]`: records a live stream into an FLV file (or
// stdout), timestamps starting at zero, until the publisher stops, the duration is reached or
// the user interrupts. What the file holds, and when there is none, is flv-recording.ts's.
import type { Command } from 'commander';
import { streamProtocolFor, type StreamFrameKind } from '../client/stream-client.js';
import '../client/stream-protocols.js';
import { Progress } from './progress.js';
import { checkStreamUrl } from './argument-checks.js';
import { parsePeerId } from '../client/peer-sessions.js';
import { exitWithError, UsageError } from './exit.js';
import { groupspecFromArgument } from '../client/group-stream-protocol.js';
import { checkOutputPath, FlvRecording, isCodedMedia } from './flv-recording.js';

/** Data messages that are about the connection, not the media: not written to the file. */
function isControlData(payload: Buffer): boolean {
  return payload.length > 3 && payload[0] === 2 && payload.toString('latin1', 3, 4) === '|';
}

export interface PlayOptions {
  output: string;
  /** Stop after this much media time, in seconds. */
  duration?: number;
  /**
   * Give up when no media (a coded audio or video frame) came within this many seconds; once it
   * flows, say so when it stops for as long.
   */
  wait: number;
  quiet?: boolean;
  /** Play directly from the peer of this ID (RTMFP), the server only introducing. */
  peer?: string;
  /** Play from this NetGroup (a groupspec, or a name to build one from), peers carrying the media. */
  group?: string;
  /** With group: fall back to the server's stream when no frame came from peers within this many seconds. */
  p2pWait?: number;
  /**
   * With group: end when the group brought nothing new for this many seconds (its publisher gone
   * without ending the stream: nothing else tells a member). Default: wait.
   */
  groupIdle?: number;
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
  checkOutputPath(options.output);
  const recording = new FlvRecording(options.output);
  const progress = new Progress();
  let base: number | undefined;
  let bytes = 0;
  let lastReport = 0;
  /** When the last coded audio or video frame came (Date.now()), 0 before the first. */
  let lastMediaAt = 0;
  let stalled = false;
  let finish!: (reason: string | Error) => void;
  const finished = new Promise<string | Error>((resolve) => (finish = resolve));

  const onFrame = (kind: StreamFrameKind, timestamp: number, payload: Buffer) => {
    if (kind === 'data' && isControlData(payload)) return;
    // Timestamps start at zero in the file, wherever the live stream was when we joined.
    if (kind !== 'data') base ??= timestamp;
    const ts = base === undefined ? 0 : Math.max(0, (timestamp - base) | 0);
    try {
      recording.write(kind, ts, payload);
    } catch (err) {
      finish(err as Error);
      return;
    }
    bytes += payload.length;
    if (isCodedMedia(kind, payload)) {
      if (stalled) console.error(`covey play: media again after ${((Date.now() - lastMediaAt) / 1000).toFixed(1)} s without`);
      stalled = false;
      lastMediaAt = Date.now();
    }
    if (!options.quiet && Date.now() - lastReport >= 1000) {
      lastReport = Date.now();
      progress.update(recording.mediaMs, bytes);
    }
    if (options.duration !== undefined && recording.mediaMs >= options.duration * 1000) finish('duration reached');
  };

  const groupSession =
    options.group === undefined
      ? undefined
      : await protocol.playFromGroup!(url, options.group, onFrame, {
          fallbackMs: (options.p2pWait ?? 8) * 1000,
          idleMs: (options.groupIdle ?? options.wait) * 1000,
          onInfo: (line) => console.error(`covey play: ${line}`),
        });
  // From before the connect: an interrupt while connecting or starting ends the play cleanly too
  // (a SIGINT between the server's Play.Start and our handler killed the process without a close).
  // An interrupt while the server has not answered the play yet (a silent server) gives up the
  // wait at once, closing the session, rather than after the 10 s the answer may take.
  const interrupt = new AbortController();
  const onSignal = () => {
    interrupt.abort();
    finish('interrupted');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let session;
  try {
    session =
      groupSession ??
      (options.peer === undefined
        ? await protocol.play(url, onFrame, { signal: interrupt.signal })
        : await protocol.playFromPeer!(url, options.peer, onFrame, (peerId) => console.error(`covey play: peer ID ${peerId}`), options.wait * 1000));
  } catch (err) {
    if (!interrupt.signal.aborted) throw err;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    console.error(`covey play: interrupted before the play started: ${options.output === '-' ? 'nothing written to stdout' : `${options.output} not written`}`);
    return;
  }
  session.onEnd = (reason) => finish(reason);
  // Metadata and sequence headers are not media: a stream published with nothing flowing has
  // them cached at the server, and the wait must not end on them.
  const startedAt = Date.now();
  const waitMs = options.wait * 1000;
  const watch = setInterval(() => {
    const now = Date.now();
    if (lastMediaAt === 0) {
      if (now - startedAt >= waitMs) finish(new Error(`no media within ${options.wait} s${base === undefined ? ': is the stream published?' : ' (the stream is published, but no audio or video frame came)'} (${url})`));
    } else if (!stalled && now - lastMediaAt >= waitMs && !(groupSession && !groupSession.counts.fellBack)) {
      // (From a group, silence ends the play at the idle limit instead, which is never longer.)
      stalled = true;
      console.error(`covey play: no media for ${options.wait} s: the stream has stalled; still recording`);
    }
  }, Math.min(waitMs, 250));
  const outcome = await finished;
  clearInterval(watch);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await session.close();
  if (!options.quiet && bytes > 0) progress.update(recording.mediaMs, bytes);
  progress.done();
  if (groupSession) {
    const c = groupSession.counts;
    console.error(`covey play: ${c.fragmentsFromPeers} fragments from peers (${c.pushed} pushed, ${c.pulled} pulled), ${c.framesFromServer} frames from the server${c.fellBack ? ' (fell back to the server)' : ''}`);
  }
  const wrote = await recording.finish();
  if (outcome instanceof Error) throw outcome;
  if (wrote) return;
  // No media came, and there is no file: say so rather than leave the user looking for one.
  const nothing = options.output === '-' ? 'nothing written to stdout' : `${options.output} not written`;
  if (outcome === 'interrupted') console.error(`covey play: interrupted before any media: ${nothing}`);
  else throw new Error(`the stream ended before any media (${outcome}): ${nothing}`);
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
    .option('--wait <seconds>', 'fail when no audio or video frame comes within this time (metadata and codec headers do not count); once media flows, report a stall as long (with --group: end, the publisher gone)', '10')
    .option('-q, --quiet', 'no progress lines')
    .addHelpText(
      'after',
      `
The file is created at the first audio or video frame, in a folder that must exist: a play
that fails before leaves none. Its onMetaData carries the recording's duration and size, not
the source's (on stdout, neither).`,
    )
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
        // From a group, --wait is also the idle limit: no publisher tells a member it vanished.
        await recordStream(url, { output: flags.output, duration, wait: flags.group !== undefined ? Math.max(wait, p2pWait + 5) : wait, quiet: flags.quiet, peer: flags.peer, group: flags.group, p2pWait, groupIdle: wait });
      } catch (err) {
        exitWithError('play', err);
      }
      process.exit(0);
    });
}
