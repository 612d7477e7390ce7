// RTMFP fan-out benchmark: one 1 Mb/s publisher (`covey publish --loop` over RTMFP, a pre-encoded
// 640x360 H.264 + AAC file in real time) played by N RTMFP subscribers, for each N asked. Prints
// the server's CPU per subscriber, late or missing frames, and memory per subscriber.
//
//   node --import tsx scripts/bench/rtmfp-fanout.ts [--subscribers 50,100,200] [--seconds 15] [--merge-ms 100]
//     [--sessions-per-socket 1] [--player-processes 1] [--mona DIR] [--tcconn PATH | --lean] [--accel on|off|both]
//
// --accel chooses the server's send path: on (the native accelerator, where it was built), off
// (COVEY_NATIVE=0 for the server only: node:crypto and node:dgram), or both, one after the other
// in one run. The players are the same either way.
// --mona DIR runs the same measurement against MonaServer2 built in DIR (from its public sources,
// outside this repository), one server after the other in one run.
// --tcconn PATH plays with zenomt/rtmfp-cpp's tcconn at PATH (built the same way), a process per
// player, instead of Covey's client: players nobody here wrote (see tcconn-players.ts).
// --lean plays with lean players (lean-player.ts): Covey's client until frames flow, then a reader
// at half its CPU, so that N=1,000 fits beside the server on a 2-core machine. Players acknowledge
// by the session's rule, so how often depends on how a subscriber's burst reaches them: sent in
// batches (the native accelerator), it arrives at once and both kinds acknowledge 5-9 times a
// second; sent datagram by datagram through node:dgram, lean players, being quicker, read it in
// pieces and acknowledge 15-21 times (Covey's client 6-9; rtmfp-cpp's tcconn, measured then,
// about 20). The server's figures include what its players cost it.
//
// Subscribers run in a child process on the same machine: when it saturates its core, frames are
// late because of the clients, not the server; the table shows the client's CPU so that shows.
// Each player has a UDP socket of its own. The UDP drops column counts datagrams the kernel
// dropped for a full socket receive buffer during the window, machine-wide: it should read 0;
// where it does not, the server's figures include retransmissions. In brackets, those dropped at
// the server's own socket: acknowledgements it did not read in time, a server that cannot keep
// up; the rest are players that fell behind.
// BENCH_PROFILE=dir writes a CPU profile of the server there (node --cpu-prof); BENCH_SERVER_ARGS
// passes other node flags to the server only.
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { coveyServerArgs, fmt, sleep, stopBenchProcesses } from './bench-util.js';
import { benchInput } from './bench-input.js';
import { cpuSeconds, cpuTimes, meanRssMb, udpReceiveBufferDrops, udpSocketDrops } from './process-stats.js';
import type { PlayerProgress } from './player-frames.js';
import { nativeAccel, nativeAccelUnavailable } from '../../src/rtmfp/native-accel.js';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '50,100,200' },
    seconds: { type: 'string', default: '15' },
    'merge-ms': { type: 'string', default: '100' },
    /** Covey's players per UDP socket (1, as real clients; more, to see what sharing does). */
    'sessions-per-socket': { type: 'string', default: '1' },
    /**
     * Processes the players are split across. One process saturates its core near 700 players
     * (frames then come late because of the players); with two, N=700 can be measured on a
     * 2-core machine, at the cost of the players competing with the server for its core.
     */
    'player-processes': { type: 'string', default: '1' },
    /** A MonaServer2 build folder (holding MonaServer/, MonaBase/, MonaCore/) to measure the same way. */
    mona: { type: 'string' },
    /** rtmfp-cpp's tcconn program, to play with instead of Covey's client. */
    tcconn: { type: 'string' },
    /** Lean players (lean-player.ts): Covey's client until frames flow, then a fraction of its cost. */
    lean: { type: 'boolean', default: false },
    /** The server's send path: the native accelerator (on), the TypeScript one (off), or both in turn. */
    accel: { type: 'string', default: 'on' },
  },
});
/** A numeric option's value, or exit with one line saying what it wants. */
function positiveInteger(name: keyof typeof args): number {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`rtmfp-fanout: --${name} wants a whole number of at least 1, not ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
  return value;
}
const PLAYER_PROCESSES = positiveInteger('player-processes');
const TCCONN = args.tcconn;
if (TCCONN !== undefined && !existsSync(TCCONN)) {
  console.error(`rtmfp-fanout: --tcconn ${JSON.stringify(TCCONN)}: no such file (rtmfp-cpp's test/tcconn, built from its sources)`);
  process.exit(2);
}
const LEAN = args.lean!;
if (LEAN && TCCONN !== undefined) {
  console.error('rtmfp-fanout: --lean and --tcconn choose different players; give one');
  process.exit(2);
}
if (!['on', 'off', 'both'].includes(args.accel!)) {
  console.error(`rtmfp-fanout: --accel wants on, off or both, not ${JSON.stringify(args.accel)}`);
  process.exit(2);
}
if (args.accel !== 'off' && nativeAccel === undefined) {
  console.error(`rtmfp-fanout: the native accelerator is ${nativeAccelUnavailable}; build it (npm run build:native) or give --accel off`);
  process.exit(2);
}
const COUNTS = args.subscribers!.split(',').map(Number);
const SECONDS = Number(args.seconds);
const SETTLE_SECONDS = 12;
const root = fileURLToPath(new URL('../..', import.meta.url));

function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4').bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

interface Result {
  n: number;
  baseCpu: number;
  cpu: number;
  /** The part of `cpu` spent in the kernel (on loopback, sending includes the receivers' side). */
  systemCpu: number;
  clientCpu: number;
  /** Datagrams per second per subscriber, server to player and back (acks). */
  packetsDown: number;
  packetsUp: number;
  baseRss: number;
  rss: number;
  latePct: number;
  mbpsPerSub: number;
  /** Datagrams dropped per second on the machine for a full socket receive buffer, during the window. */
  dropsPerSecond: number | undefined;
  /** The part of those dropped at the server's own socket (acknowledgements it could not read in time). */
  serverDropsPerSecond: number | undefined;
}


interface Target {
  name: string;
  start(port: number): ChildProcess;
  /** Player sessions per UDP socket. */
  sessionsPerSocket: number;
}

/** Covey, with its send path through the native accelerator (`accel`) or through node:crypto and node:dgram. */
function coveyTarget(accel: boolean): Target {
  return {
    name: accel ? 'Covey' : 'Covey, TypeScript send path',
    // One socket per player, as with real clients (and as MonaServer2 needs). With 250 players
    // to a socket, the players' two sockets at N=500 overflowed whenever the players' process
    // paused: 140-708 datagrams dropped a second, and the server's retransmissions read as
    // 1.13-1.14 ms/s per subscriber, against 1.00-1.01 ms/s and no drops with a socket each
    // (two runs each way, alternating).
    sessionsPerSocket: positiveInteger('sessions-per-socket'),
    start: (port) =>
      spawn(process.execPath, coveyServerArgs('serve', '--host', '127.0.0.1', '--rtmfp-port', String(port), '--no-rtmp', '--log-level', 'warn', '--media-merge-ms', args['merge-ms']!), {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: accel ? process.env : { ...process.env, COVEY_NATIVE: '0' },
      }),
  };
}

/** MonaServer2 with an RTMFP-only configuration and an empty `live` application, in a temp folder. */
function monaTarget(dir: string): Target {
  return {
    name: 'MonaServer2',
    // Mona keys sessions by address: each player needs a socket of its own.
    sessionsPerSocket: 1,
    start: (port) => {
      const work = mkdtempSync(join(tmpdir(), 'covey-mona-bench-'));
      mkdirSync(join(work, 'www', 'live'), { recursive: true });
      writeFileSync(join(work, 'www', 'live', 'main.lua'), '');
      const off = ['HTTP', 'HTTPS', 'WS', 'WSS', 'STUN', 'SRT', 'RTMP', 'RTMPS'].map((p) => `[${p}=false]`).join('\n');
      const ini = join(work, 'MonaServer.ini');
      writeFileSync(ini, `wwwDir="${join(work, 'www')}"\ndataDir="${join(work, 'data')}"\n${off}\n[RTMFP]\nport=${port}\nhost=127.0.0.1\n`);
      return spawn('./MonaServer', [ini], {
        cwd: join(dir, 'MonaServer'),
        env: { ...process.env, LD_LIBRARY_PATH: [join(dir, 'MonaBase', 'lib'), join(dir, 'MonaCore', 'lib')].join(':') },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    },
  };
}

/** What the subscribers' process reports at the start and the end of the window. */
interface Progress {
  lastTs: number[];
  cpu: NodeJS.CpuUsage;
  packetsIn: number;
  packetsOut: number;
}

async function measure(target: Target, n: number, input: string): Promise<Result> {
  const port = await freeUdpPort();
  const server = target.start(port);
  const children: ChildProcess[] = [server];
  try {
    await sleep(1500);
    const pid = server.pid!;
    const url = `rtmfp://127.0.0.1:${port}/live/bench`;
    // The clients run single-threaded GC as well: on a 2-core machine, their GC helper threads
    // would otherwise take turns on the server's core.
    const publisher = spawn(process.execPath, ['--single-threaded-gc', '--import', 'tsx', 'src/cli/main.ts', 'publish', input, url, '--loop', '-q'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(publisher);
    await sleep(3000);
    const c0 = cpuSeconds(pid);
    const baseRss = await meanRssMb(pid, 4000);
    const baseCpu = (cpuSeconds(pid) - c0) / 4;

    // Players 0..n-1 are dealt out to the processes in turn; their answers are put back together.
    // tcconn players are a process each already: one process reads them all.
    const processes = TCCONN ? 1 : Math.min(n, PLAYER_PROCESSES);
    const subs = Array.from({ length: processes }, (_, k) => {
      const share = Math.floor(n / processes) + (k < n % processes ? 1 : 0);
      const [script, last] = TCCONN
        ? ['./tcconn-players.ts', TCCONN]
        : LEAN
          ? ['./lean-players.ts', '1']
          : ['./rtmfp-subscribers.ts', String(target.sessionsPerSocket)];
      const child = fork(fileURLToPath(new URL(script, import.meta.url)), [`rtmfp://127.0.0.1:${port}/live`, 'bench', String(share), last], {
        execArgv: ['--single-threaded-gc', '--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      return child;
    });
    await Promise.all(
      subs.map(
        (child) =>
          new Promise<void>((resolve, reject) => {
            child.once('message', () => resolve());
            child.once('exit', (code) => reject(new Error(`subscribers exited with ${code}`)));
          }),
      ),
    );
    const askEach = <T>(message: object) =>
      Promise.all(
        subs.map(
          (child) =>
            new Promise<T>((resolve) => {
              child.once('message', (m: T) => resolve(m));
              child.send(message);
            }),
        ),
      );
    const progress = async (cmd: string): Promise<Progress> => {
      const parts = await askEach<PlayerProgress>({ cmd });
      return {
        lastTs: parts.flatMap((p) => p.lastTs),
        cpu: { user: parts.reduce((t, p) => t + p.cpu.user, 0), system: parts.reduce((t, p) => t + p.cpu.system, 0) },
        // NaN where the players cannot count their datagrams (tcconn): the table shows '-'.
        packetsIn: parts.reduce((t, p) => t + (p.packetsIn ?? NaN), 0),
        packetsOut: parts.reduce((t, p) => t + (p.packetsOut ?? NaN), 0),
      };
    };
    // Let the players' baselines settle (and the first keyframe pass) before the window, and
    // V8's young generation grow to what this load needs: at 100 subscribers it doubled to
    // 32 MB about 8 s in, and a window that straddled that read 20 MB too little at N=100,
    // doubling the memory-per-subscriber slope.
    await sleep(SETTLE_SECONDS * 1000);
    const mark = await progress('mark');
    const times0 = cpuTimes(pid);
    const drops0 = udpReceiveBufferDrops();
    const serverDrops0 = udpSocketDrops(port);
    const t0 = performance.now();
    const rss = await meanRssMb(pid, SECONDS * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const times1 = cpuTimes(pid);
    const drops1 = udpReceiveBufferDrops();
    const serverDrops1 = udpSocketDrops(port);
    const dropsPerSecond = drops0 === undefined || drops1 === undefined ? undefined : (drops1 - drops0) / elapsed;
    const serverDropsPerSecond = serverDrops0 === undefined || serverDrops1 === undefined ? undefined : (serverDrops1 - serverDrops0) / elapsed;
    const cpu = (times1.user + times1.system - times0.user - times0.system) / elapsed;
    const systemCpu = (times1.system - times0.system) / elapsed;
    const end = await progress('last');
    const packetsDown = (end.packetsIn - mark.packetsIn) / n / elapsed;
    const packetsUp = (end.packetsOut - mark.packetsOut) / n / elapsed;
    // Frames are compared over one range of media time every player had the chance to receive:
    // from the latest any player had at the mark to a second before the earliest at the end.
    const from = Math.max(...mark.lastTs);
    const to = Math.min(...end.lastTs) - 1000;
    const countParts = await askEach<{ frames: number[]; late: number[]; bytes: number[] }>({ cmd: 'count', from, to });
    const counts = { frames: countParts.flatMap((c) => c.frames), late: countParts.flatMap((c) => c.late), bytes: countParts.flatMap((c) => c.bytes) };
    // Frames the best-served player got and another did not count as missing (abandoned or dropped).
    const expected = Math.max(...counts.frames);
    const missing = counts.frames.reduce((sum, f) => sum + (expected - f), 0);
    // No frame in the range at all (the slowest player never got past the mark): all missing.
    const latePct = expected === 0 ? 100 : (100 * (counts.late.reduce((a, b) => a + b, 0) + missing)) / (expected * n);
    const clientCpu = (end.cpu.user + end.cpu.system - mark.cpu.user - mark.cpu.system) / 1e6 / elapsed;
    const bytes = counts.bytes;
    for (const child of subs) child.send({ cmd: 'exit' });
    const mbpsPerSub = (bytes.reduce((a, b) => a + b, 0) * 8) / n / elapsed / 1e6;
    return { n, baseCpu, cpu, systemCpu, clientCpu, packetsDown, packetsUp, baseRss, rss, latePct, mbpsPerSub, dropsPerSecond, serverDropsPerSecond };
  } finally {
    await stopBenchProcesses(children);
  }
}

const input = benchInput('1mbps', '640x360', 900, 96);
const coveyTargets = args.accel === 'both' ? [coveyTarget(true), coveyTarget(false)] : [coveyTarget(args.accel === 'on')];
const targets = [...coveyTargets, ...(args.mona ? [monaTarget(args.mona)] : [])];
for (const target of targets) {
  const results: Result[] = [];
  for (const n of COUNTS) {
    console.error(`${target.name}: ${n} subscribers, ${SECONDS} s window...`);
    results.push(await measure(target, n, input));
  }
  report(target.name, results);
}

/** A rate for the table, or '-' where the players could not count it. */
function count(rate: number): string {
  return Number.isNaN(rate) ? '-' : fmt(rate, 0);
}

function report(name: string, results: Result[]): void {
  console.log(`\n${name}: RTMFP fan-out, 1 publisher (covey publish over RTMFP, ~1 Mb/s H.264 + AAC), N RTMFP players (${TCCONN ? "rtmfp-cpp's tcconn, a process each, with HMAC on every packet; client CPU is their sum" : LEAN ? "lean players: Covey's client until frames flow, then a bench-only reader that decrypts only the blocks it reads" : `Covey's client${PLAYER_PROCESSES > 1 ? `, in ${PLAYER_PROCESSES} processes; client CPU is their sum` : ''}`}), ${SECONDS} s window${name.startsWith('Covey') ? `, media merge ${args['merge-ms']} ms` : ''}, ${process.version}`);
  console.log('    N   server CPU alone  with N (kernel)   CPU/subscriber   late+missing   client CPU   RSS alone  RSS with N   (RSS-alone)/N   delivered/sub   packets/s/sub down, up   UDP drops/s (at server)');
  for (const r of results) {
    const perSub = (r.cpu - r.baseCpu) / r.n;
    console.log(
      `${String(r.n).padStart(5)}   ${fmt(r.baseCpu * 100, 1).padStart(13)} %  ${fmt(r.cpu * 100, 1).padStart(5)} % (${fmt(r.systemCpu * 100, 0).padStart(3)} %)  ${fmt(perSub * 1000, 2).padStart(8)} ms/s   ${fmt(r.latePct, 2).padStart(10)} %   ${fmt(r.clientCpu * 100, 0).padStart(8)} %   ${fmt(r.baseRss, 0).padStart(6)} MB  ${fmt(r.rss, 0).padStart(7)} MB   ${fmt(((r.rss - r.baseRss) * 1024) / r.n, 1).padStart(10)} KB   ${fmt(r.mbpsPerSub, 2).padStart(9)} Mb/s   ${count(r.packetsDown).padStart(8)}, ${count(r.packetsUp).padEnd(3)}   ${r.dropsPerSecond === undefined ? '?' : fmt(r.dropsPerSecond, 0).padStart(11)} (${r.serverDropsPerSecond === undefined ? '?' : fmt(r.serverDropsPerSecond, 0)})`,
    );
  }
  // RSS with N includes costs that do not grow with N (the young generation, buffers that fill
  // once media flows), so the memory a subscriber adds is the slope between runs. Neighbouring
  // runs differ by a few MB of GC phase, so with three runs or more the least-squares slope over
  // all of them is the figure to read.
  for (let i = 1; i < results.length; i++) {
    const [a, b] = [results[i - 1]!, results[i]!];
    console.log(`Memory per added subscriber from N=${a.n} to N=${b.n}: ${fmt(((b.rss - a.rss) * 1024) / (b.n - a.n), 1)} KB (target <= 50)`);
  }
  if (results.length >= 3) {
    const meanN = results.reduce((sum, r) => sum + r.n, 0) / results.length;
    const meanRss = results.reduce((sum, r) => sum + r.rss, 0) / results.length;
    const slope =
      results.reduce((sum, r) => sum + (r.n - meanN) * (r.rss - meanRss), 0) / results.reduce((sum, r) => sum + (r.n - meanN) ** 2, 0);
    console.log(`Memory per added subscriber, least squares over N=${results.map((r) => r.n).join(',')}: ${fmt(slope * 1024, 1)} KB (target <= 50)`);
  }
  const best = results.filter((r) => r.latePct < 1).at(-1);
  const last = results.at(-1)!;
  const perSub = (last.cpu - last.baseCpu) / last.n;
  console.log(`\nLargest N measured with under 1% late or missing frames: ${best?.n ?? 'none'}`);
  console.log(`One core at this CPU per subscriber (${fmt(perSub * 1000, 2)} ms/s at N=${last.n}) would carry about ${fmt((1 - last.baseCpu) / perSub, 0)} subscribers (target >= 1000)`);
}
