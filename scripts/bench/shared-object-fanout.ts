// Shared-object fan-out: one slot update reaching N users of one object, over RTMP and over
// RTMFP in the same run, against the built `covey serve` in a process of its own (its CPU read
// from /proc).
//
//   node --import tsx scripts/bench/shared-object-fanout.ts [--users 100,1000] [--protocols rtmp,rtmfp]
//        [--kinds lean,full] [--writer same] [--updates 300] [--warmup 30] [--seconds 5] [--window 256] [--procs N]
//        [--acks after-reads|at-once]
//
// The N users run in child processes, of one of two kinds (--kinds, each measured in turn on a
// server of its own):
// - lean (the default): bench-only users that do the minimum (shared-object-lean-users.ts: RTMP,
//   the handshake, connect and Use, then chunk headers and the update's bytes; RTMFP, Covey's
//   client until the object is in use, then a reader that acknowledges the flows and decrypts
//   only the blocks of the update it reads), all in one process (--procs 1): they cost the
//   second core less than the server costs the first, so the figures are the server's. Their
//   RTMFP acks owed at once wait, in the latency phase, until the reads pause (--acks after-reads,
//   the default; at most 20 ms), as if each user acked on a CPU of its own: in one process each ack held up the next
//   user's read, and the update after which every user owed one reached the last user 4.5 ms
//   later (median; p99 26.7-52.7 ms against 20.2-22.7 in alternating runs at load 5-7).
//   --acks at-once sends them after the datagrams at hand, as Covey's client does;
// - full: Covey's own clients with its SharedObject (shared-object-users.ts) in 2 processes, the
//   comparison: they need more CPU than the server, and their figures are theirs as much.
// A writer, one more Covey client in this process, changes the slot, over the users' protocol
// (--writer rtmp or rtmfp picks one for both). For each protocol, N, kind:
// - latency: after --warmup untimed updates (30: the first updates run code V8 has not optimized
//   yet, and in a run of 300 at load 1 the first 8 held 4 of the 8 slowest, the 2 slowest among
//   them, so they decided the p99), the writer sets the slot --updates times, one at a time, 20
//   ms apart; an update's latency is from the writer's setProperty to the moment the last of the N users has it, both
//   read from CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares (checked
//   at the start: a users process's reading falls between this one's before and after). Median,
//   p99, max.
// - throughput: the writer keeps up to --window updates unanswered (one message each) for
//   --seconds; updates per second is what the slowest user received in that time, with the
//   server's CPU per update and per user.
// The users' processes share the machine's cores with the server: the latency to the last of N
// users includes the time their event loops take to read N messages (the server's own CPU per
// delivered message is printed beside them, and the users' CPU). BENCH_PROFILE=dir writes the
// server's CPU profile there, BENCH_USERS_PROFILE=dir the users processes'.
// Targets (issue 18): p99 at most 20 ms to the last of 1,000 users; at least 1,000 updates/s
// fanned out to 100 users.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { coveyServerArgs, sleep, stopBenchProcesses } from './bench-util.js';
import { cpuSeconds } from './process-stats.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { NetConnection } from '../../src/client/net-connection.js';
import { SharedObject } from '../../src/client/shared-object.js';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100,1000' },
    protocols: { type: 'string', default: 'rtmp,rtmfp' },
    kinds: { type: 'string', default: 'lean' },
    writer: { type: 'string', default: 'same' },
    updates: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '5' },
    window: { type: 'string', default: '256' },
    procs: { type: 'string' },
    acks: { type: 'string', default: 'after-reads' },
  },
});
const USER_COUNTS = args.users.split(',').map(Number);
const PROTOCOLS = args.protocols.split(',') as Array<'rtmp' | 'rtmfp'>;
const UPDATES = Number(args.updates);
const WARMUP = Number(args.warmup);
if (!Number.isInteger(WARMUP) || WARMUP < 0) throw new Error(`--warmup wants a whole number of updates, not ${args.warmup}`);
const SECONDS = Number(args.seconds);
const WINDOW = Number(args.window);
const KINDS = args.kinds.split(',') as Kind[];
for (const k of KINDS) if (k !== 'lean' && k !== 'full') throw new Error(`--kinds: ${k} is neither lean nor full`);
type Kind = 'lean' | 'full';
/** The writer's protocol: the users' (same), or rtmp or rtmfp whatever theirs. */
const WRITER = args.writer as 'same' | 'rtmp' | 'rtmfp';
if (!['same', 'rtmp', 'rtmfp'].includes(WRITER)) throw new Error(`--writer: ${WRITER} is not same, rtmp or rtmfp`);
/** Lean users all fit in one process; full ones need two to keep up at all. */
const procsFor = (kind: Kind) => Number(args.procs ?? (kind === 'lean' ? 1 : 2));
const usersScript = (kind: Kind) => fileURLToPath(new URL(kind === 'lean' ? './shared-object-lean-users.ts' : './shared-object-users.ts', import.meta.url));
if (args.acks !== 'after-reads' && args.acks !== 'at-once') throw new Error(`--acks: ${args.acks} is neither after-reads nor at-once`);
const now = () => process.hrtime.bigint();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const ms = (x: number) => x.toFixed(2);

async function startServer(): Promise<{ child: ChildProcess; rtmpPort: number; rtmfpPort: number; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'covey-so-bench-'));
  mkdirSync(join(dir, 'www', 'bench'), { recursive: true });
  // The writer sends far more than a client normally may: lift the event rate; and 1,000 users.
  writeFileSync(join(dir, 'covey.json'), JSON.stringify({ sharedObjects: { maxEventsPerSecondPerClient: 10_000_000, maxUsersPerObject: 100_000 } }));
  const rtmpPort = await freePort();
  const rtmfpPort = await freePort();
  const child = spawn(process.execPath, coveyServerArgs('serve', '-c', join(dir, 'covey.json'), '--www', join(dir, 'www'), '--host', '127.0.0.1', '--rtmp-port', String(rtmpPort), '--rtmfp-port', String(rtmfpPort), '--log-level', 'warn'), { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; ; i++) {
    try {
      const c = await RtmpClient.connect(`rtmp://127.0.0.1:${rtmpPort}/bench`, { timeoutMs: 1000 });
      await c.close();
      break;
    } catch (err) {
      if (i > 200) throw err;
      await sleep(100);
    }
  }
  return { child, rtmpPort, rtmfpPort, dir };
}

interface UsersProcess {
  child: ChildProcess;
  /** Update value -> when the first and the last user of this process got it (ns, monotonic). */
  arrivals: Map<number, { firstNs: bigint; lastNs: bigint }>;
  fewest?: number;
  clockNs?: bigint;
}

function startUsers(kind: Kind, protocol: 'rtmp' | 'rtmfp', url: string, count: number): Promise<UsersProcess> {
  const child = fork(usersScript(kind), [protocol, url, 'fan', String(count), args.acks], { execArgv: ['--import', 'tsx', ...(process.env.BENCH_USERS_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_USERS_PROFILE}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const users: UsersProcess = { child, arrivals: new Map() };
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`a users process exited (${code}) before its ${count} users were ready`)));
    child.on('message', (m: { ready?: true; seq?: number; firstNs?: string; lastNs?: string; fewest?: number; clockNs?: string }) => {
      if (m.ready) resolve(users);
      else if (m.clockNs !== undefined) users.clockNs = BigInt(m.clockNs);
      else if (m.seq !== undefined) users.arrivals.set(m.seq, { firstNs: BigInt(m.firstNs!), lastNs: BigInt(m.lastNs!) });
      else if (m.fewest !== undefined) users.fewest = m.fewest;
    });
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    // Receipt times are taken where the users are, not here: polling every ms costs no accuracy.
    await sleep(1);
  }
}

/** Fails unless the users process reads the same monotonic clock as this one (its reading between ours). */
async function checkClock(p: UsersProcess): Promise<void> {
  p.clockNs = undefined;
  const before = now();
  p.child.send({ clock: true });
  await waitUntil(() => p.clockNs !== undefined, 10_000, 'a users process reading its clock');
  const after = now();
  if (p.clockNs! < before || p.clockNs! > after) throw new Error(`a users process's monotonic clock (${p.clockNs}) is not between this process's readings (${before}, ${after}): receipt times cannot be compared with send times`);
}

async function run(protocol: 'rtmp' | 'rtmfp', n: number, kind: Kind): Promise<void> {
  const server = await startServer();
  const url = protocol === 'rtmp' ? `rtmp://127.0.0.1:${server.rtmpPort}/bench` : `rtmfp://127.0.0.1:${server.rtmfpPort}/bench`;
  const procs: UsersProcess[] = [];
  let writerConnection: NetConnection | undefined;
  try {
    const t0 = performance.now();
    const PROCS = procsFor(kind);
    const perProc = Array.from({ length: Math.min(PROCS, n) }, (_, i) => Math.floor(n / PROCS) + (i < n % PROCS ? 1 : 0));
    procs.push(...(await Promise.all(perProc.map((count) => startUsers(kind, protocol, url, count)))));
    for (const p of procs) await checkClock(p);
    const writerProtocol = WRITER === 'same' ? protocol : WRITER;
    writerConnection = writerProtocol === 'rtmp' ? await RtmpClient.connect(`rtmp://127.0.0.1:${server.rtmpPort}/bench`) : await RtmfpClient.connect(`rtmfp://127.0.0.1:${server.rtmfpPort}/bench`, { localAddresses: 'none' });
    const writer = new SharedObject('fan');
    await writer.connect(writerConnection);
    console.log(`${protocol} N=${n}, ${kind} users: ${n} users in ${procs.length} process${procs.length > 1 ? 'es' : ''} connected and using the object (writer over ${writerProtocol}${protocol === 'rtmfp' && kind === 'lean' ? `; acks ${args.acks}` : ''}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Latency, one update at a time: to the first user (the way in and through the server) and
    // to the last (plus the fan-out: the server's sends and the users' reads).
    const firsts: number[] = [];
    const latencies: number[] = [];
    let seq = 0;
    let latencyCpu0 = 0;
    let latencyUsersCpu0: number[] = [];
    for (let i = -WARMUP; i < UPDATES; i++) {
      if (i === 0) {
        latencyCpu0 = cpuSeconds(server.child.pid!);
        latencyUsersCpu0 = procs.map((p) => cpuSeconds(p.child.pid!));
      }
      const s = ++seq;
      const sent = now();
      writer.setProperty('v', s);
      await waitUntil(() => procs.every((p) => p.arrivals.has(s)), 20_000, `update ${s} reaching all ${n} users`);
      let first: bigint | undefined;
      let last = 0n;
      for (const p of procs) {
        const a = p.arrivals.get(s)!;
        if (a.lastNs > last) last = a.lastNs;
        if (first === undefined || a.firstNs < first) first = a.firstNs;
        p.arrivals.delete(s);
      }
      if (i >= 0) {
        firsts.push(Number(first! - sent) / 1e6);
        latencies.push(Number(last - sent) / 1e6);
      }
      await sleep(20);
    }
    // CPU time, less swayed by the machine's load than the latencies: what one update cost the
    // server (its change in, the N sends, the acks that followed) and the users.
    const latencyCpu = cpuSeconds(server.child.pid!) - latencyCpu0;
    const latencyUsersCpu = procs.reduce((sum, p, i) => sum + cpuSeconds(p.child.pid!) - latencyUsersCpu0[i]!, 0);
    latencies.sort((a, b) => a - b);
    firsts.sort((a, b) => a - b);
    console.log(`  latency to the last of ${n} users: median ${ms(quantile(latencies, 0.5))} ms, p99 ${ms(quantile(latencies, 0.99))} ms, max ${ms(latencies.at(-1)!)} ms (${UPDATES} updates after ${WARMUP} untimed); to the first: median ${ms(quantile(firsts, 0.5))} ms, p99 ${ms(quantile(firsts, 0.99))} ms`);
    console.log(`  CPU per update in that phase: server ${ms((latencyCpu * 1000) / UPDATES)} ms (${((latencyCpu * 1e6) / UPDATES / n).toFixed(2)} us per user), users ${ms((latencyUsersCpu * 1000) / UPDATES)} ms`);

    // Throughput: up to WINDOW unanswered updates, one message each, for SECONDS.
    for (const p of procs) p.child.send({ timing: false });
    for (const p of procs) p.child.send({ counts: true });
    await waitUntil(() => procs.every((p) => p.fewest !== undefined), 10_000, 'users processes resetting their counts');
    for (const p of procs) p.fewest = undefined;
    // The writer's own answers (Success): how long the server took to take each update in.
    const sentAt = new Map<number, bigint>();
    const answers: number[] = [];
    writer.onSync = (changes) => {
      const t = now();
      for (const c of changes) {
        const at = c.code === 'success' ? sentAt.get(c.value as number) : undefined;
        if (at === undefined) continue;
        answers.push(Number(t - at) / 1e6);
        sentAt.delete(c.value as number);
      }
    };
    const cpu0 = cpuSeconds(server.child.pid!);
    const usersCpu0 = procs.map((p) => cpuSeconds(p.child.pid!));
    const writerCpu0 = process.cpuUsage();
    const start = performance.now();
    let sentCount = 0;
    while (performance.now() - start < SECONDS * 1000) {
      if (writer.pendingCount < WINDOW) {
        writer.setProperty('v', ++seq);
        sentAt.set(seq, now());
        sentCount++;
        // One update per message: the next one waits for this turn's flush.
        await new Promise((r) => setImmediate(r));
      } else await writer.waitFor(() => writer.pendingCount < WINDOW / 2, 20_000, 'the writer\'s window opening');
    }
    const elapsed = (performance.now() - start) / 1000;
    const cpu = cpuSeconds(server.child.pid!) - cpu0;
    const writerCpuUs = process.cpuUsage(writerCpu0);
    const writerCpu = (writerCpuUs.user + writerCpuUs.system) / 1e6;
    const usersCpu = procs.reduce((sum, p, i) => sum + cpuSeconds(p.child.pid!) - usersCpu0[i]!, 0);
    for (const p of procs) p.child.send({ counts: true });
    await waitUntil(() => procs.every((p) => p.fewest !== undefined), 10_000, 'users processes reporting their counts');
    const slowest = Math.min(...procs.map((p) => p.fewest!));
    console.log(`  throughput: ${(slowest / elapsed).toFixed(0)} updates/s reached the slowest of ${n} users (${sentCount} sent in ${elapsed.toFixed(1)} s, window ${WINDOW}); server CPU ${(cpu / elapsed * 100).toFixed(0)}% of a core, ${(cpu * 1e6 / Math.max(1, slowest * n)).toFixed(2)} us per update per user; users ${(usersCpu / elapsed * 100).toFixed(0)}%, writer ${(writerCpu / elapsed * 100).toFixed(0)}%`);
    answers.sort((a, b) => a - b);
    console.log(`  the writer's answers (Success) in that time: median ${ms(quantile(answers, 0.5))} ms, p99 ${ms(quantile(answers, 0.99))} ms`);
    await writer.waitFor(() => writer.pendingCount === 0, 20_000, 'the last updates answered');
  } finally {
    for (const p of procs) p.child.send({ stop: true });
    await writerConnection?.close();
    await stopBenchProcesses([server.child, ...procs.map((p) => p.child)]);
    rmSync(server.dir, { recursive: true, force: true });
  }
}

console.log(`shared-object fan-out, ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const protocol of PROTOCOLS) for (const n of USER_COUNTS) for (const kind of KINDS) await run(protocol, n, kind);
process.exit(0);
