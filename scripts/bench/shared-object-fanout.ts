// Shared-object fan-out: one slot update reaching N users of one object, over RTMP and over
// RTMFP in the same run, against the built `covey serve` in a process of its own (its CPU read
// from /proc).
//
//   node --import tsx scripts/bench/shared-object-fanout.ts [--users 100,1000] [--protocols rtmp,rtmfp]
//        [--updates 300] [--seconds 5] [--window 256] [--procs 2]
//
// The N users are Covey clients spread over --procs child processes (shared-object-users.ts); a
// writer, one more client in this process, changes the slot. For each protocol and N:
// - latency: the writer sets the slot --updates times, one at a time, 20 ms apart; an update's
//   latency is from the writer's setProperty to the moment the last of the N users has it, both
//   read from the monotonic clock all processes share. Median, p99, max.
// - throughput: the writer keeps up to --window updates unanswered (one message each) for
//   --seconds; updates per second is what the slowest user received in that time, with the
//   server's CPU per update and per user.
// The users' processes share the machine's cores with the server: the latency to the last of N
// users includes the time their event loops take to read N messages, so on a loaded machine
// these are the clients' figures as much as the server's (the server's own CPU per delivered
// message is printed beside them). BENCH_PROFILE=dir writes the server's CPU profile there,
// BENCH_USERS_PROFILE=dir the users processes'.
// Targets (issue 18): p99 at most 20 ms to the last of 1,000 users; at least 1,000 updates/s
// fanned out to 100 users.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
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
    updates: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '5' },
    window: { type: 'string', default: '256' },
    procs: { type: 'string', default: '2' },
  },
});
const USER_COUNTS = args.users.split(',').map(Number);
const PROTOCOLS = args.protocols.split(',') as Array<'rtmp' | 'rtmfp'>;
const UPDATES = Number(args.updates);
const SECONDS = Number(args.seconds);
const WINDOW = Number(args.window);
const PROCS = Number(args.procs);
const usersScript = fileURLToPath(new URL('./shared-object-users.ts', import.meta.url));
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
}

function startUsers(protocol: 'rtmp' | 'rtmfp', url: string, count: number): Promise<UsersProcess> {
  const child = fork(usersScript, [protocol, url, 'fan', String(count)], { execArgv: ['--import', 'tsx', ...(process.env.BENCH_USERS_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_USERS_PROFILE}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const users: UsersProcess = { child, arrivals: new Map() };
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`a users process exited (${code}) before its ${count} users were ready`)));
    child.on('message', (m: { ready?: true; seq?: number; firstNs?: string; lastNs?: string; fewest?: number }) => {
      if (m.ready) resolve(users);
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

async function run(protocol: 'rtmp' | 'rtmfp', n: number): Promise<void> {
  const server = await startServer();
  const url = protocol === 'rtmp' ? `rtmp://127.0.0.1:${server.rtmpPort}/bench` : `rtmfp://127.0.0.1:${server.rtmfpPort}/bench`;
  const procs: UsersProcess[] = [];
  let writerConnection: NetConnection | undefined;
  try {
    const t0 = performance.now();
    const perProc = Array.from({ length: Math.min(PROCS, n) }, (_, i) => Math.floor(n / PROCS) + (i < n % PROCS ? 1 : 0));
    procs.push(...(await Promise.all(perProc.map((count) => startUsers(protocol, url, count)))));
    writerConnection = protocol === 'rtmp' ? await RtmpClient.connect(url) : await RtmfpClient.connect(url, { localAddresses: 'none' });
    const writer = new SharedObject('fan');
    await writer.connect(writerConnection);
    console.log(`${protocol} N=${n}: ${n} users in ${procs.length} processes connected and using the object in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Latency, one update at a time: to the first user (the way in and through the server) and
    // to the last (plus the fan-out: the server's sends and the users' reads).
    const firsts: number[] = [];
    const latencies: number[] = [];
    let seq = 0;
    for (let i = 0; i < UPDATES; i++) {
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
      firsts.push(Number(first! - sent) / 1e6);
      latencies.push(Number(last - sent) / 1e6);
      await sleep(20);
    }
    latencies.sort((a, b) => a - b);
    firsts.sort((a, b) => a - b);
    console.log(`  latency to the last of ${n} users: median ${ms(quantile(latencies, 0.5))} ms, p99 ${ms(quantile(latencies, 0.99))} ms, max ${ms(latencies.at(-1)!)} ms (${UPDATES} updates); to the first: median ${ms(quantile(firsts, 0.5))} ms, p99 ${ms(quantile(firsts, 0.99))} ms`);

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
    for (const p of procs) p.child.send({ counts: true });
    await waitUntil(() => procs.every((p) => p.fewest !== undefined), 10_000, 'users processes reporting their counts');
    const slowest = Math.min(...procs.map((p) => p.fewest!));
    console.log(`  throughput: ${(slowest / elapsed).toFixed(0)} updates/s reached the slowest of ${n} users (${sentCount} sent in ${elapsed.toFixed(1)} s, window ${WINDOW}); server CPU ${(cpu / elapsed * 100).toFixed(0)}% of a core, ${(cpu * 1e6 / Math.max(1, slowest * n)).toFixed(2)} us per update per user`);
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

for (const protocol of PROTOCOLS) for (const n of USER_COUNTS) await run(protocol, n);
process.exit(0);
