// A dead publisher at the default liveness timings (issue 15's target: its name free and its
// players told within 10 s). The built `covey serve`, with no options, and for each round a
// `covey publish --loop` over rtmfp:// (the built command, as users run it) with one RTMFP and
// one RTMP player; once both have media the publisher gets SIGKILL. Prints, per round, the
// seconds from the kill to UnpublishNotify at each player and whether a republish of the name
// succeeds, then the median and the worst.
//
//   node --import tsx scripts/bench/dead-publisher.ts [--rounds 5]
//
// The SIGKILL goes to the covey process itself. Killing a wrapper instead (`npx covey`,
// `npm start`, the `tsx` command) leaves covey running as an orphan: it goes on publishing and
// its players never hear UnpublishNotify (an earlier run that waited 130 s in vain was that).
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { coveyNodeFlags, coveyServerArgs, fmt, sleep, stopBenchProcesses } from './bench-util.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import type { NetConnection, NetStream } from '../../src/client/net-connection.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(args.rounds);
const root = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(root, 'test', 'fixtures', 'sample-h264-aac.flv');

function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  return new Promise((resolve) => {
    if (kind === 'udp') {
      const s = createSocket('udp4').bind(0, '127.0.0.1', () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
    } else {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    }
  });
}

async function until<T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** `promise`, or an error naming `what` after 30 s: a round that hangs says where. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within 30 s`)), 30_000)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const unpublishedAt = (s: NetStream, at: Map<NetStream, number>) => {
  if (!at.has(s) && s.statuses.some((i) => i.code === 'NetStream.Play.UnpublishNotify')) at.set(s, Date.now());
  return at.has(s);
};

const rtmfpPort = await freePort('udp');
const rtmpPort = await freePort('tcp');
const server = spawn(process.execPath, coveyServerArgs('serve', '--host', '127.0.0.1', '--rtmfp-port', String(rtmfpPort), '--rtmp-port', String(rtmpPort), '--log-format', 'json'), {
  cwd: root,
  stdio: ['ignore', 'ignore', 'pipe'],
});
const processes: ChildProcess[] = [server];
let serverLog = '';
server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
const rtmfpUrl = `rtmfp://127.0.0.1:${rtmfpPort}/live`;
const rtmpUrl = `rtmp://127.0.0.1:${rtmpPort}/live`;

console.log('round  rtmfp player s  rtmp player s  republish   (seconds from SIGKILL to UnpublishNotify)');
const worst: number[] = [];
try {
  await until(() => serverLog.includes('RTMP listening') && serverLog.includes('RTMFP listening'), 30_000, 'the server to listen');
  for (let round = 1; round <= ROUNDS; round++) {
    const name = `dead-publisher-${round}`;
    const clients: NetConnection[] = [await within(RtmfpClient.connect(rtmfpUrl), 'the RTMFP player\'s connect'), await within(RtmpClient.connect(rtmpUrl), 'the RTMP player\'s connect')];
    const players = [await within(clients[0]!.play(name), 'the RTMFP play'), await within(clients[1]!.play(name), 'the RTMP play')];
    const publisher = spawn(process.execPath, [...coveyNodeFlags(), join(root, 'dist', 'cli', 'main.js'), 'publish', '--loop', '-q', FIXTURE, `${rtmfpUrl}/${name}`], {
      cwd: root,
      stdio: 'ignore',
    });
    processes.push(publisher);
    await until(() => players.every((p) => p.receivedBytes > 0), 30_000, 'media at both players');
    await sleep(1000 + Math.random() * 2000); // anywhere in the stream
    const exited = new Promise((r) => publisher.once('exit', r));
    const killedAt = Date.now();
    publisher.kill('SIGKILL');
    await exited;
    const at = new Map<NetStream, number>();
    await until(() => players.map((p) => unpublishedAt(p, at)).every(Boolean), 60_000, 'UnpublishNotify at both players');
    const [rtmfpS, rtmpS] = players.map((p) => (at.get(p)! - killedAt) / 1000) as [number, number];
    let republish = 'ok';
    const republisher = await within(RtmfpClient.connect(rtmfpUrl), 'the republisher\'s connect');
    try {
      await within(republisher.publish(name), 'the republish');
    } catch (err) {
      republish = (err as Error).message;
    } finally {
      await republisher.close();
    }
    for (const c of clients) await c.close();
    worst.push(Math.max(rtmfpS, rtmpS));
    console.log(`${String(round).padStart(5)}  ${fmt(rtmfpS, 2).padStart(14)}  ${fmt(rtmpS, 2).padStart(13)}  ${republish}`);
  }
} finally {
  await stopBenchProcesses(processes);
}
const sorted = [...worst].sort((a, b) => a - b);
console.log(`\nslower of the two players: median ${fmt(sorted[Math.floor((sorted.length - 1) / 2)]!, 2)} s, max ${fmt(sorted.at(-1)!, 2)} s over ${sorted.length} rounds (target: within 10 s)`);
