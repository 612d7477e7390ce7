// RTMP fan-out benchmark: one FFmpeg publisher (pre-encoded 720p H.264 + AAC, looped in real
// time), N RTMP players, against Covey and against Node-Media-Server on the same input, one after
// the other in one run. Prints server CPU per subscriber and memory for both, and the ratios.
//
//   node --import tsx scripts/bench/rtmp-fanout.ts [--subscribers 100] [--seconds 15] [--nms-dir DIR]
//
// Node-Media-Server is installed on first use into --nms-dir (default: <tmp>/covey-nms-bench),
// outside this repository; it is not a dependency of Covey.
import { spawn, spawnSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { coveyServerArgs, fmt, sleep, stopBenchProcesses } from './bench-util.js';
import { benchInput } from './bench-input.js';
import { cpuSeconds, meanRssMb } from './process-stats.js';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    'nms-dir': { type: 'string', default: join(tmpdir(), 'covey-nms-bench') },
    only: { type: 'string' },
  },
});
const N = Number(args.subscribers);
const SECONDS = Number(args.seconds);
const root = fileURLToPath(new URL('../..', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port: number, ms = 15_000): Promise<void> {
  const { connect } = await import('node:net');
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
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

function ensureNms(dir: string): string {
  const app = join(dir, 'node_modules', 'node-media-server', 'bin', 'app.js');
  if (existsSync(app)) return app;
  console.error(`installing node-media-server into ${dir} (benchmark only)...`);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"name":"covey-nms-bench","private":true}');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', 'node-media-server@4'], { cwd: dir, stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(app)) throw new Error('could not install node-media-server');
  return app;
}

interface Target {
  name: string;
  start(port: number): ChildProcess;
  version: string;
}

function coveyTarget(): Target {
  return {
    name: 'Covey',
    version: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string,
    start: (port) =>
      // The built server (BENCH_PROFILE / BENCH_SERVER_ARGS: see serverNodeFlags()).
      spawn(process.execPath, coveyServerArgs('serve', '--host', '127.0.0.1', '--rtmp-port', String(port), '--no-rtmfp', '--log-level', 'warn'), {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
  };
}

function nmsTarget(dir: string): Target {
  const app = ensureNms(dir);
  const version = JSON.parse(readFileSync(join(dir, 'node_modules', 'node-media-server', 'package.json'), 'utf8')).version as string;
  return {
    name: 'Node-Media-Server',
    version,
    start: (port) => {
      const work = join(dir, `run-${port}`);
      mkdirSync(work, { recursive: true });
      const config = join(work, 'config.json');
      writeFileSync(config, JSON.stringify({
        bind: '127.0.0.1',
        notify: { url: '' },
        store: { path: join(work, 'data'), maxHistory: 100 },
        auth: { play: false, publish: false, secret: '' },
        rtmp: { port },
        http: { port: port + 1 },
        webadmin: { enable: false },
        record: { auto: false, path: join(work, 'record') },
      }));
      return spawn(process.execPath, [app, '-c', config, '--no-admin'], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
    },
  };
}

interface Result {
  name: string;
  version: string;
  baseCpu: number;
  cpu: number;
  perSub: number;
  baseRss: number;
  rss: number;
  mbpsPerSub: number;
}

async function measure(target: Target, input: string): Promise<Result> {
  const port = await freePort();
  const server = target.start(port);
  const children: ChildProcess[] = [server];
  try {
    await waitPort(port);
    const pid = server.pid!;
    const url = `rtmp://127.0.0.1:${port}/live`;
    const publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', input, '-c', 'copy', '-f', 'flv', `${url}/bench`], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(publisher);
    await sleep(3000);
    // Publisher only.
    let c0 = cpuSeconds(pid);
    const baseRss = await meanRssMb(pid, 5000);
    const baseCpu = (cpuSeconds(pid) - c0) / 5;

    const subs = fork(fileURLToPath(new URL('./rtmp-subscribers.ts', import.meta.url)), [url, 'bench', String(N)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(subs);
    await new Promise<void>((resolve, reject) => {
      subs.once('message', () => resolve());
      subs.once('exit', (code) => reject(new Error(`subscribers exited with ${code}`)));
    });
    const ask = () => new Promise<number[]>((resolve) => {
      subs.once('message', (m: { bytes: number[] }) => resolve(m.bytes));
      subs.send({ cmd: 'bytes' });
    });
    await sleep(3000);
    const b0 = await ask();
    c0 = cpuSeconds(pid);
    const t0 = performance.now();
    const rss = await meanRssMb(pid, SECONDS * 1000);
    const cpu = (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
    const b1 = await ask();
    const received = b1.map((b, i) => b - b0[i]!);
    const minMbps = (Math.min(...received) * 8) / SECONDS / 1e6;
    const meanMbps = (received.reduce((a, b) => a + b, 0) * 8) / received.length / SECONDS / 1e6;
    if (minMbps < 0.8 * meanMbps) console.error(`${target.name}: slowest subscriber got ${fmt(minMbps, 2)} Mb/s against a mean of ${fmt(meanMbps, 2)}`);
    subs.send({ cmd: 'exit' });
    return { name: target.name, version: target.version, baseCpu, cpu, perSub: (cpu - baseCpu) / N, baseRss, rss, mbpsPerSub: meanMbps };
  } finally {
    await stopBenchProcesses(children);
  }
}

const input = benchInput('720p', '1280x720', 2500, 128);
const targets: Target[] = [];
if (args.only !== 'nms') targets.push(coveyTarget());
if (args.only !== 'covey') targets.push(nmsTarget(args['nms-dir']!));
const results: Result[] = [];
for (const t of targets) {
  console.error(`${t.name}: ${N} subscribers, ${SECONDS} s window...`);
  results.push(await measure(t, input));
}

console.log(`\nRTMP fan-out: 1 publisher (720p H.264 2.5 Mb/s + AAC, FFmpeg -re), ${N} RTMP players, ${SECONDS} s window, ${process.version}`);
console.log('server                     CPU alone  CPU with N   CPU/subscriber     RSS alone  RSS with N  delivered/sub');
for (const r of results) {
  console.log(
    `${`${r.name} ${r.version}`.padEnd(26)} ${fmt(r.baseCpu * 100, 1).padStart(7)} %  ${fmt(r.cpu * 100, 1).padStart(8)} %  ${fmt(r.perSub * 1000, 2).padStart(7)} ms/s    ${fmt(r.baseRss, 0).padStart(6)} MB  ${fmt(r.rss, 0).padStart(7)} MB  ${fmt(r.mbpsPerSub, 2).padStart(7)} Mb/s`,
  );
}
if (results.length === 2) {
  const [c, n] = results as [Result, Result];
  console.log(`\nCovey / Node-Media-Server: CPU per subscriber ${fmt(c.perSub / n.perSub, 2)}x (target <= 0.5), RSS with ${N} subscribers ${fmt(c.rss / n.rss, 2)}x (target <= 1)`);
}
