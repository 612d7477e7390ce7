// One 1 Mbit/s live stream to N NetGroup members (peers carry it; the server only introduces)
// side by side with the same stream to N plain RTMFP subscribers of the server, in one run on
// loopback: server egress per member, delivery ratio (frames delivered within the 8 s window),
// time from a frame's publication to its arrival at the last member (median, p99), and how long
// a member that joins mid-stream waits for its first frame.
//
//   node --import tsx scripts/bench/group-multicast.ts [--members 20] [--seconds 20] [--workers K]
//     [--verbose] [--trace] [--maps-to-all]
//
// --verbose prints each group member's neighbours, counters and progress after the run.
// --maps-to-all announces the stream with sendToAll: every member sends its fragments map to
// every neighbour at each update, not to one in turn (librtmfp's option; for comparison).
// --trace says how the fragments of late frames (over 1 s from publication to a member, or never
// within the window) came: pushed or pulled, after how many hops from the publisher, how late.
//
// The server, the publisher and the mid-stream joiner run on the main thread; the N members (and
// then the N plain subscribers, split the same way) run in K worker threads of this process
// (group-bench-worker.ts), each member with its own client and UDP socket. Arrival times are
// process.hrtime, one clock for all threads. K defaults to the machine's cores: on 2 cores with
// everything on one thread, N = 100 needed more than that thread's core (113% of a core) and
// delivered 4-33%; in one worker, the worker saturated (96% busy) and delivered 15%; in two
// workers, 90% (workers 87-91% busy, the main thread 11%). --workers 0 runs the members on the
// main thread, as this bench did before. The figures line shows how busy each thread's event
// loop was while the stream was sent: near 100%, the figures measure the CPU, not the protocol.
// The stream is synthetic: 25 video frames a second of 4,500 bytes (a keyframe every second) and
// 50 AAC frames of 250 bytes.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FlashServer } from '../../src/flash/flash-server.js';
import { startRtmfpService } from '../../src/rtmfp-flash/rtmfp-service.js';
import { silentLogger } from '../../src/util/log.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { NetGroup } from '../../src/client/net-group.js';
import { playFromGroup, publishToGroup } from '../../src/client/group-media.js';
import { groupspecForName } from '../../src/client/group-spec.js';
import { FlashMessageType } from '../../src/codec/flash-command.js';
import { encodeAmf0 } from '../../src/codec/amf0.js';
import { ReceiverShare, mediaIndex, now, type FragmentArrivals, type FrameKind, type ShareOptions, type ShareReport } from './group-bench-members.js';

/** One worker a core (the figures in the header decided it: 2 workers held N = 100 better than 1). */
const DEFAULT_WORKERS = availableParallelism();
const { values } = parseArgs({ options: { members: { type: 'string', default: '20' }, seconds: { type: 'string', default: '20' }, workers: { type: 'string', default: String(DEFAULT_WORKERS) }, verbose: { type: 'boolean', default: false }, trace: { type: 'boolean', default: false }, 'maps-to-all': { type: 'boolean', default: false } } });
const N = Number(values.members);
const SECONDS = Number(values.seconds);
const WORKERS = Number(values.workers);
if (!Number.isInteger(N) || N < 1) throw new Error(`--members wants a whole number of at least 1, not ${values.members}`);
if (!Number.isInteger(WORKERS) || WORKERS < 0) throw new Error(`--workers wants a whole number (0: members on the main thread), not ${values.workers}`);
const WINDOW_MS = 8000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Frame { kind: FrameKind; ts: number; payload: Buffer; index: number }

/** The synthetic stream: metadata, headers, then 40 ms video / 20 ms audio; frame index in bytes 5-8. */
function makeFrames(seconds: number): Frame[] {
  const frames: Frame[] = [];
  let index = 0;
  const tagged = (head: number[], size: number) => {
    const b = Buffer.concat([Buffer.from(head), randomBytes(size - head.length)]);
    b.writeUInt32BE(index, 5);
    return b;
  };
  frames.push({ kind: 'data', ts: 0, payload: Buffer.concat([encodeAmf0('onMetaData'), encodeAmf0({ width: 640, height: 360, framerate: 25 })]), index: index++ });
  frames.push({ kind: 'video', ts: 0, payload: Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f]), index: index++ });
  frames.push({ kind: 'audio', ts: 0, payload: Buffer.from([0xaf, 0x00, 0x12, 0x10]), index: index++ });
  for (let t = 0; t < seconds * 1000; t += 20) {
    if (t % 40 === 0) {
      frames.push({ kind: 'video', ts: t, payload: tagged(t % 1000 === 0 ? [0x17, 1, 0, 0, 0] : [0x27, 1, 0, 0, 0], 4500), index });
      index++;
    }
    frames.push({ kind: 'audio', ts: t, payload: tagged([0xaf, 0x01, 0, 0, 0], 250), index });
    index++;
  }
  return frames;
}

interface Result { serverBytes: number; delivered: number; expected: number; latencies: number[]; joinerWaitMs: number; mediaBytes: number; cpuShare?: number; threads?: string }

/** A share of the receivers, in a worker thread or (--workers 0) on this one. */
interface Share {
  readonly first: number;
  readonly count: number;
  ready: Promise<string[]>;
  streaming(): void;
  report(): Promise<ShareReport>;
  close(): Promise<void>;
}

function inThread(first: number, options: ShareOptions): Share {
  const share = new ReceiverShare(options);
  return {
    first,
    count: options.count,
    ready: share.start(),
    streaming: () => share.streaming(),
    report: async () => share.report(),
    close: async () => share.close(),
  };
}

// Node 20 does not apply the loader hooks that `--import tsx` registers to worker threads (a .ts
// worker fails with ERR_UNKNOWN_FILE_EXTENSION), so each worker registers tsx itself, then loads
// its module.
const WORKER_BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./group-bench-worker.ts', import.meta.url).href)}); });`;

function inWorker(first: number, options: ShareOptions): Share {
  const worker = new Worker(WORKER_BOOT, { eval: true, workerData: options });
  const next = (type: string) =>
    new Promise<any>((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== type) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(m);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    first,
    count: options.count,
    ready: next('ready').then((m: { peerIds: string[] }) => m.peerIds),
    streaming: () => worker.postMessage({ type: 'streaming' }),
    report: async () => {
      const answer = next('report');
      worker.postMessage({ type: 'report' });
      return ((await answer) as { report: ShareReport }).report;
    },
    close: async () => {
      worker.postMessage({ type: 'close' });
      await exited;
    },
  };
}

/** The N receivers, split as evenly as can be over the workers (the same split for both runs). */
function startShares(options: Omit<ShareOptions, 'count'>): Share[] {
  const shares: Share[] = [];
  const parts = Math.max(1, WORKERS);
  for (let w = 0, first = 0; w < parts; w++) {
    const count = Math.floor(N / parts) + (w < N % parts ? 1 : 0);
    if (count === 0) continue;
    shares.push(WORKERS === 0 ? inThread(first, { ...options, count }) : inWorker(first, { ...options, count }));
    first += count;
  }
  return shares;
}

/** The shares' reports, in member order. */
async function collect(shares: Share[]) {
  const reports = await Promise.all(shares.map((s) => s.report()));
  return {
    arrivals: reports.flatMap((r) => r.arrivals),
    fragments: reports.flatMap((r) => r.fragments),
    lines: reports.flatMap((r) => r.lines),
    sums: reports.map((r) => r.sums).reduce((a, b) => ({ duplicateFragments: a.duplicateFragments + b.duplicateFragments, pullsSent: a.pullsSent + b.pullsSent, pushersDropped: a.pushersDropped + b.pushersDropped, fragmentsSent: a.fragmentsSent + b.fragmentsSent })),
    utilization: reports.map((r) => r.streamingUtilization),
  };
}

const threadsLine = (main: number, workers: number[]) =>
  WORKERS === 0 ? `event loop ${(main * 100).toFixed(0)}% busy` : `event loops busy: main ${(main * 100).toFixed(0)}%, workers ${workers.map((u) => `${(u * 100).toFixed(0)}%`).join(' ')}`;

/**
 * Sends `frames` at their timestamps through `send`, starts the mid-stream joiner half-way (it
 * calls `firstFrame` with how long it waited; its first call counts), waits out the window, and
 * measures: the shares' arrivals, the server's bytes, this process's CPU and event loops.
 */
async function streamAndMeasure(shares: Share[], frames: Frame[], send: (f: Frame) => void, startJoiner: (firstFrame: (waitMs: number) => void) => void) {
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  for (const s of shares) s.streaming();
  const wall0 = now();
  const published = new Map<number, number>();
  const before = serverBytes();
  let joinerWait = NaN;
  let joined = false;
  const start = now();
  for (const f of frames) {
    const wait = f.ts - (now() - start);
    if (wait > 0) await sleep(wait);
    if (!joined && f.ts >= (SECONDS * 1000) / 2) {
      joined = true;
      startJoiner((waitMs) => {
        if (Number.isNaN(joinerWait)) joinerWait = waitMs;
      });
    }
    published.set(f.index, now());
    send(f);
  }
  await sleep(WINDOW_MS);
  const cpu = process.cpuUsage(cpu0);
  const mainUtilization = performance.eventLoopUtilization(elu0).utilization;
  const got = await collect(shares);
  const result = summarize(got.arrivals, published, serverBytes() - before, joinerWait, frames);
  // process.cpuUsage counts every thread: a share near the machine's cores means the figures measure the CPU.
  result.cpuShare = (cpu.user + cpu.system) / 1000 / (now() - wall0);
  result.threads = threadsLine(mainUtilization, got.utilization);
  return { result, got, published };
}

async function runGroup(url: string, frames: Frame[]): Promise<Result> {
  const spec = groupspecForName(`bench-${Date.now()}`);
  const clients: RtmfpClient[] = [];
  const join = async () => {
    const c = await RtmfpClient.connect(url);
    clients.push(c);
    return { c, g: await NetGroup.join(c, spec) };
  };
  const pub = await join();
  const shares = startShares({ mode: 'group', url, spec: spec.text, stream: 'bench', trace: values.trace, verbose: values.verbose });
  const memberOf = new Map<string, number>();
  for (const s of shares) (await s.ready).forEach((id, i) => memberOf.set(id, s.first + i));
  // The publisher's neighbours settle (a full mesh up to 32 members), or 60 s pass.
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000 && pub.g.neighbors.length < Math.min(N, 20)) await sleep(200);
  await sleep(2000);
  const publisher = publishToGroup(pub.g, 'bench', { sendToAll: values['maps-to-all'] });
  const fragmentsOf = new Map<number, [number, number]>();
  const { result, got, published } = await streamAndMeasure(
    shares,
    frames,
    (f) => {
      const first = publisher.lastFragment + 1;
      publisher.send(f.kind, f.ts, f.payload);
      fragmentsOf.set(f.index, [first, publisher.lastFragment]);
    },
    (firstFrame) => {
      void join().then((m) => {
        const asked = now();
        const p = playFromGroup(m.g, 'bench');
        p.onStart = () => firstFrame(now() - asked);
      });
    },
  );
  if (values.trace) {
    traceLate(frames, published, fragmentsOf, got.arrivals, got.fragments, memberOf);
    console.log(`trace: members' duplicates ${got.sums.duplicateFragments}, pulls sent ${got.sums.pullsSent}, pushers dropped ${got.sums.pushersDropped}, fragments sent ${got.sums.fragmentsSent} (publisher ${publisher.stats.fragmentsSent})`);
  }
  if (values.verbose) {
    console.log(`publisher: neighbours ${pub.g.neighbors.length}, stats ${JSON.stringify(publisher.stats)}`);
    for (const [i, line] of got.lines.entries()) console.log(`member ${i}: ${line}`);
  }
  publisher.close();
  for (const c of clients) c.close();
  await Promise.all(shares.map((s) => s.close()));
  await sleep(500);
  return result;
}

async function runPlain(url: string, frames: Frame[]): Promise<Result> {
  const clients: RtmfpClient[] = [];
  const pubClient = await RtmfpClient.connect(url);
  clients.push(pubClient);
  const stream = await pubClient.publish('plain');
  const shares = startShares({ mode: 'plain', url, stream: 'plain', trace: false, verbose: false });
  for (const s of shares) await s.ready;
  await sleep(1000);
  const setDataFrame = encodeAmf0('@setDataFrame');
  const { result } = await streamAndMeasure(
    shares,
    frames,
    (f) => {
      if (f.kind === 'audio') stream.send(FlashMessageType.Audio, f.ts, f.payload);
      else if (f.kind === 'video') stream.send(FlashMessageType.Video, f.ts, f.payload);
      else stream.send(FlashMessageType.DataAmf0, f.ts, [setDataFrame, f.payload]);
    },
    (firstFrame) => {
      void RtmfpClient.connect(url).then(async (c) => {
        clients.push(c);
        const asked = now();
        await c.play('plain', { onFrame: () => firstFrame(now() - asked) });
      });
    },
  );
  for (const c of clients) c.close();
  await Promise.all(shares.map((s) => s.close()));
  await sleep(500);
  return result;
}

let serverBytes: () => number = () => 0;

/**
 * For each frame that reached a member over 1 s after its publication (or not within the window):
 * how its last fragment came (pushed or pulled), after how many hops from the publisher (the
 * chain of senders, each member's own arrival record), and how long after publication.
 */
function traceLate(frames: Frame[], published: Map<number, number>, fragmentsOf: Map<number, [number, number]>, arrivals: Array<Map<number, number>>, fragmentsAt: FragmentArrivals[], memberOf: Map<string, number>): void {
  const hops = (member: number, id: number, depth = 0): number => {
    const a = fragmentsAt[member]!.get(id);
    if (a === undefined || depth > 60) return NaN;
    const from = memberOf.get(a.from);
    return from === undefined ? 1 : hops(from, id, depth + 1) + 1;
  };
  const all = { push: 0, pull: 0 };
  const hopCount = new Map<number, number>();
  for (const [m, frags] of fragmentsAt.entries()) for (const [id, a] of frags) {
    all[a.via]++;
    const h = hops(m, id);
    hopCount.set(h, (hopCount.get(h) ?? 0) + 1);
  }
  console.log(`trace: fragments received ${all.push} pushed, ${all.pull} pulled; hops from the publisher: ${[...hopCount].sort((a, b) => a[0] - b[0]).map(([h, n]) => `${h}:${n}`).join(' ')}`);
  const late = { push: [] as number[], pull: [] as number[], missing: 0, frames: 0 };
  const lateHops = new Map<string, number>();
  const lateBySecond: number[] = [];
  const outBySecond: number[] = [];
  for (const f of frames) {
    const range = fragmentsOf.get(f.index);
    const at = published.get(f.index);
    if (range === undefined || at === undefined || mediaIndex(f) < 0) continue;
    for (const [m, got] of arrivals.entries()) {
      const t = got.get(mediaIndex(f));
      if (t !== undefined && t - at <= 1000) continue;
      late.frames++;
      const sec = Math.floor(f.ts / 1000);
      lateBySecond[sec] = (lateBySecond[sec] ?? 0) + 1;
      if (t === undefined || t - at > WINDOW_MS) outBySecond[sec] = (outBySecond[sec] ?? 0) + 1;
      // The fragment that came last decides when the frame could play.
      let lastId = -1;
      let lastAt = -1;
      for (let id = range[0]; id <= range[1]; id++) {
        const a = fragmentsAt[m]!.get(id);
        if (a === undefined) { lastId = id; lastAt = Infinity; break; }
        if (a.at > lastAt) { lastAt = a.at; lastId = id; }
      }
      if (lastAt === Infinity) { late.missing++; continue; }
      const a = fragmentsAt[m]!.get(lastId)!;
      late[a.via].push(a.at - at);
      const key = `${a.via}/${hops(m, lastId)}`;
      lateHops.set(key, (lateHops.get(key) ?? 0) + 1);
    }
  }
  for (const xs of [late.push, late.pull]) xs.sort((a, b) => a - b);
  console.log(`trace: late frames by second of the stream: ${Array.from(lateBySecond, (n) => n ?? 0).join(' ')}; past the window: ${Array.from(outBySecond, (n) => n ?? 0).join(' ')}`);
  console.log(`trace: ${late.frames} late frames (over 1 s at a member): last fragment pushed ${late.push.length} (median ${pct(late.push, 50)} ms, p99 ${pct(late.push, 99)}), pulled ${late.pull.length} (median ${pct(late.pull, 50)} ms, p99 ${pct(late.pull, 99)}), a fragment never came ${late.missing}; by way/hops: ${[...lateHops].sort().map(([k, n]) => `${k}:${n}`).join(' ')}`);
}

function summarize(arrivals: Array<Map<number, number>>, published: Map<number, number>, bytes: number, joinerWaitMs: number, frames: Frame[]): Result {
  const media = frames.filter((f) => mediaIndex(f) >= 0);
  let delivered = 0;
  const latencies: number[] = [];
  for (const f of media) {
    const at = published.get(f.index)!;
    let last = 0;
    let all = true;
    for (const got of arrivals) {
      const t = got.get(f.index);
      if (t !== undefined && t - at <= WINDOW_MS) delivered++;
      else all = false;
      if (t !== undefined) last = Math.max(last, t);
    }
    if (all) latencies.push(last - at);
  }
  latencies.sort((a, b) => a - b);
  return { serverBytes: bytes, delivered, expected: media.length * arrivals.length, latencies, joinerWaitMs, mediaBytes: media.reduce((n, f) => n + f.payload.length, 0) };
}

const pct = (xs: number[], p: number) => (xs.length === 0 ? NaN : Math.round(xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!));

const flash = new FlashServer({ log: silentLogger, groups: { maxGroupsPerClient: 100, maxMembersPerGroup: 100_000, joinsPerSecond: 1e6, joinsPerSecondPerClient: 1e6 } });
// Every member here shares 127.0.0.1, and the server's rendezvous budget is per source address
// (50 introductions a second, bursts of 100: made for one client, or a NAT shared by a few). At
// N = 50 the members' ~1,500 introductions at once left 7 members with no neighbour at all (their
// connects timed out; delivery 82%). Each member gets the budget it would have on its own address.
const perMember = (n: number) => n * (N + 2);
const rendezvous = { perSource: { perSecond: perMember(50), burst: perMember(100) }, perTarget: { perSecond: 50, burst: 100 } };
const endpoint = await startRtmfpService({ host: '127.0.0.1', port: 0, flash, log: silentLogger, rendezvous });
serverBytes = () => endpoint.counters.bytesSent;
const url = `rtmfp://127.0.0.1:${endpoint.localAddress.port}/live`;
const frames = makeFrames(SECONDS);
console.log(`load (uptime): ${loadavg().map((l) => l.toFixed(2)).join(', ')}; receivers ${WORKERS === 0 ? 'on the main thread' : `in ${Math.min(WORKERS, N)} worker thread(s)`}`);
console.log(`one ${((frames.filter((f) => mediaIndex(f) >= 0).reduce((n, f) => n + f.payload.length, 0) * 8) / SECONDS / 1e6).toFixed(2)} Mbit/s stream, ${SECONDS} s, to ${N} members, a joiner at ${SECONDS / 2} s`);
const group = await runGroup(url, frames);
const plain = await runPlain(url, frames);
for (const [name, r] of [['NetGroup (P2P)', group], ['plain RTMFP', plain]] as const) {
  console.log(
    `${name.padEnd(15)} server egress ${(r.serverBytes / N / 1024).toFixed(1).padStart(8)} KiB/member` +
      ` (${((r.serverBytes / N / r.mediaBytes) * 100).toFixed(2)}% of the media)` +
      `  delivered ${((r.delivered / r.expected) * 100).toFixed(2)}%` +
      `  to last member: median ${pct(r.latencies, 50)} ms, p99 ${pct(r.latencies, 99)} ms` +
      `  joiner's first frame after ${Number.isNaN(r.joinerWaitMs) ? 'never' : `${Math.round(r.joinerWaitMs)} ms`}` +
      `  (process CPU ${(r.cpuShare! * 100).toFixed(0)}% of a core while streaming; ${r.threads})`,
  );
}
console.log(`group server egress / plain: ${((group.serverBytes / plain.serverBytes) * 100).toFixed(3)}%`);
endpoint.close();
process.exit(0);
