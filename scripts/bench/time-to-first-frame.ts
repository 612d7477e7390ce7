// Time to first frame: one publisher (FFmpeg sending a pre-encoded 720p H.264 + AAC file, a
// keyframe every 2 s, looped in real time over RTMP), and players joining one after another at
// random moments over RTMFP and RTMP. For each player: from Play.Start, and from the play request,
// to its first coded video frame, which must be a keyframe; and whether the media it got has a
// timestamp gap (consecutive audio, or video, timestamps far apart). Prints median, p90, p99 and max per
// protocol, then what the GOP cache costs in memory per publication (when the model has one).
//
//   node --import tsx scripts/bench/time-to-first-frame.ts [--players 40] [--seconds 40] [--server-args="--gop-cache-bytes 0"]
//
// --players is per protocol; they join at random over --seconds, so at random places in the GOP.
// With 40 a protocol, p99 is the second worst. The server is the built `covey serve` (see
// coveyServerArgs); --server-args adds flags to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect as tcpConnect, createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { coveyServerArgs, fmt, sleep, stopBenchProcesses } from './bench-util.js';
import { benchInput } from './bench-input.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import type { NetConnection, StatusInfo } from '../../src/client/net-connection.js';
import { isVideoKeyframe, isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { FlvParser } from '../../src/codec/flv.js';
import { readFileSync } from 'node:fs';

const { values: args } = parseArgs({
  options: {
    players: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '40' },
    'server-args': { type: 'string', default: '' },
  },
});
const PLAYERS = Number(args.players);
const SECONDS = Number(args.seconds);
/** A gap this long between a player's consecutive media timestamps is a hole in its recording. */
const GAP_MS = 200;
/** How long each player stays after its first keyframe, to see that timestamps run on without a gap. */
const WATCH_MS = 1000;

type Protocol = 'rtmfp' | 'rtmp';

interface Join {
  protocol: Protocol;
  /** ms from the play command to Play.Start, and from Play.Start to the first coded video frame. */
  startMs: number;
  firstFrameMs: number;
  keyframe: boolean;
  /**
   * Largest step between consecutive timestamps of one kind (audio, video; headers included).
   * Per kind because RTMFP carries audio and video on flows of their own, so the two interleave
   * as they arrive: a joiner's cached video burst lands after the audio of the same second.
   */
  maxGapMs: number;
  error?: string;
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4').bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

async function waitTcp(port: number, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > ms) throw new Error(`nothing listening on ${port}`);
    await sleep(100);
  }
}

/** One player: connects, plays, and times Play.Start and the first coded video frame. */
async function join(protocol: Protocol, url: string, stream: string): Promise<Join> {
  const result: Join = { protocol, startMs: NaN, firstFrameMs: NaN, keyframe: false, maxGapMs: 0 };
  let client: NetConnection | undefined;
  try {
    client = protocol === 'rtmfp' ? await RtmfpClient.connect(url) : await RtmpClient.connect(url);
    const ns = await client.createNetStream();
    let requested = 0;
    let started = 0;
    let firstAt = 0;
    const lastTs: Record<'audio' | 'video', number | undefined> = { audio: undefined, video: undefined };
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no video frame within 10 s')), 10_000);
      // Times are taken in the handlers themselves: frames can come in the same read as Play.Start.
      ns.onStatus = (info: StatusInfo) => {
        if (info.code === 'NetStream.Play.Start') started = performance.now();
      };
      ns.onFrame = (kind, ts, payload) => {
        if (kind === 'data') return;
        const last = lastTs[kind];
        if (last !== undefined) result.maxGapMs = Math.max(result.maxGapMs, Math.abs(ts - last));
        lastTs[kind] = ts;
        if (firstAt === 0 && kind === 'video' && !isVideoSequenceHeader(payload)) {
          firstAt = performance.now();
          result.keyframe = isVideoKeyframe(payload);
          setTimeout(() => {
            clearTimeout(timer);
            resolve();
          }, WATCH_MS);
        }
      };
    });
    requested = performance.now();
    ns.sendCommand('play', stream, -2);
    await done;
    result.startMs = started - requested;
    result.firstFrameMs = firstAt - started;
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    client?.close();
  }
  return result;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function report(joins: Join[]): void {
  console.log('\nprotocol  players  errors  not-keyframe  gaps>200ms   Play.Start->first frame ms: median    p90    p99    max   request->first frame p50/p99');
  for (const protocol of ['rtmfp', 'rtmp'] as const) {
    const mine = joins.filter((j) => j.protocol === protocol);
    const ok = mine.filter((j) => j.error === undefined);
    const ttff = ok.map((j) => j.firstFrameMs).sort((a, b) => a - b);
    const total = ok.map((j) => j.startMs + j.firstFrameMs).sort((a, b) => a - b);
    console.log(
      `${protocol.padEnd(8)}  ${String(mine.length).padStart(7)}  ${String(mine.length - ok.length).padStart(6)}  ${String(ok.filter((j) => !j.keyframe).length).padStart(12)}  ${String(ok.filter((j) => j.maxGapMs > GAP_MS).length).padStart(10)}` +
        `   ${' '.repeat(26)}${fmt(percentile(ttff, 50)).padStart(6)} ${fmt(percentile(ttff, 90)).padStart(6)} ${fmt(percentile(ttff, 99)).padStart(6)} ${fmt(ttff.at(-1) ?? NaN).padStart(6)}   ${fmt(percentile(total, 50))}/${fmt(percentile(total, 99))}`,
    );
    for (const j of mine) if (j.error) console.log(`  ${protocol} error: ${j.error}`);
  }
}

/**
 * What the GOP cache holds for one publication of the input and what that costs the heap: the
 * input's frames pushed through a Publication of the model as a transport would (each payload
 * in a buffer of its own), with several publications at once to average out the allocator.
 * Skipped when the model has no GOP cache (before it was added).
 */
async function gopCacheMemory(input: string): Promise<void> {
  let model: typeof import('../../src/flash/publication.js');
  let cacheModule: Record<string, unknown>;
  const { parseStreamName } = await import('../../src/flash/stream-name.js');
  try {
    model = await import('../../src/flash/publication.js');
    cacheModule = (await import(String(new URL('../../src/flash/gop-cache.js', import.meta.url)))) as Record<string, unknown>;
  } catch {
    console.log('\nGOP cache memory: the model has no GOP cache (src/flash/gop-cache.ts): nothing to measure');
    return;
  }
  const defaultBytes = cacheModule.DEFAULT_GOP_CACHE_BYTES as number;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log('\nGOP cache memory: run node with --expose-gc to measure it');
    return;
  }
  const tags = new FlvParser().push(readFileSync(input));
  const publications = 20;
  const measure = async (gopCacheBytes: number): Promise<{ used: number; held: number; peak: number }> => {
    const pubs = Array.from({ length: publications }, (_, i) =>
      new model.Publication(parseStreamName(`m${i}`), 'bench', new Set(), () => {}, { gopCacheBytes }));
    await settle();
    const before = process.memoryUsage();
    let peak = 0;
    // Stop half way through a GOP (11 s into the 2 s GOPs): what a publication holds on average.
    for (const tag of tags) {
      if (tag.timestamp > 11_000) break;
      // A payload of its own for each publication, as each transport would receive: one shared
      // buffer would be counted once for all 20 and hide the cost.
      for (const p of pubs) {
        const payload = Buffer.from(tag.data);
        if (tag.type === 8) p.pushAudio(tag.timestamp, payload);
        else if (tag.type === 9) p.pushVideo(tag.timestamp, payload);
      }
      peak = Math.max(peak, pubs[0]!.gopCache.bytes);
    }
    await settle();
    const after = process.memoryUsage();
    const used = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / publications;
    const held = pubs[0]!.gopCache.bytes;
    pubs.length = 0;
    return { used, held, peak };
  };
  // V8 returns a dead buffer's memory after the collection, from a background task: collect, let
  // the loop turn, and collect again before reading arrayBuffers (one gc() read 2 MiB of dead
  // payloads as live).
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(20);
    }
  };
  await measure(0); // warm up
  const off = await measure(0);
  const on = await measure(defaultBytes);
  console.log(`\nGOP cache memory per publication (this input, default bound ${fmt(defaultBytes / 1024)} KiB):`);
  console.log(`  payload held 1 s into a GOP: ${fmt(on.held / 1024)} KiB; largest held: ${fmt(on.peak / 1024)} KiB`);
  console.log(`  heap + buffers with the cache: ${fmt(on.used / 1024)} KiB; without: ${fmt(off.used / 1024)} KiB; the cache costs ${fmt((on.used - off.used) / 1024)} KiB`);
}

const input = benchInput('720p', '1280x720', 2500, 128);
const rtmpPort = await freeTcpPort();
const rtmfpPort = await freeUdpPort();
const extra = args['server-args']!.split(' ').filter(Boolean);
const server = spawn(process.execPath, coveyServerArgs('serve', '--host', '127.0.0.1', '--rtmp-port', String(rtmpPort), '--rtmfp-port', String(rtmfpPort), '--log-level', 'warn', ...extra), {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const children: ChildProcess[] = [server];
try {
  await waitTcp(rtmpPort);
  const publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', input, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/ttff`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(publisher);
  await sleep(3000);
  console.log(`time to first frame: ${PLAYERS} players a protocol joining at random over ${SECONDS} s; server ${extra.join(' ') || '(defaults)'}`);
  const joins: Array<Promise<Join>> = [];
  const order: Protocol[] = [...Array<Protocol>(PLAYERS).fill('rtmfp'), ...Array<Protocol>(PLAYERS).fill('rtmp')].sort(() => Math.random() - 0.5);
  for (const protocol of order) {
    await sleep(Math.random() * ((2 * SECONDS * 1000) / order.length));
    const url = protocol === 'rtmfp' ? `rtmfp://127.0.0.1:${rtmfpPort}/live` : `rtmp://127.0.0.1:${rtmpPort}/live`;
    joins.push(join(protocol, url, 'ttff'));
  }
  report(await Promise.all(joins));
} finally {
  await stopBenchProcesses(children);
}
await gopCacheMemory(input);
process.exit(0);
