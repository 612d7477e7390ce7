// Child process of rtmfp-fanout.ts (--tcconn PATH): N players that nobody here wrote, one
// process each of zenomt/rtmfp-cpp's tcconn (built from its public sources, outside this
// repository), playing one stream. It prints a line per message it receives,
//   stream onVideo ts: 1234 len: 5678
// read here as it comes (stdbuf makes its output line-buffered; a pipe would hold 4 KB of lines,
// seconds of media, and every frame would read as late) and counted as the Covey players count
// theirs (player-frames.ts). The players' CPU is read from /proc; their datagram counts cannot
// be, and read null.
//
// tcconn asks its server for HMAC-SHA256 on every packet (RFC 7425's session option), as Covey's
// client and Flash Player do not: a cost the server pays per packet, which the figures include.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpuTimes } from './process-stats.js';
import { answerParent, PlayerFrames, type PlayerProgress } from './player-frames.js';

const [url, streamName, countText, tcconn] = process.argv.slice(2);
const count = Number(countText);
const players = Array.from({ length: count }, () => new PlayerFrames());
const processes: ChildProcess[] = [];
const LINE = /^stream on(Video|Audio) ts: (\d+) len: (\d+)/;

function start(i: number): void {
  const p = players[i]!;
  // Covey sends a joining player its codec configuration first (see player-frames.ts): tcconn
  // prints no payload, so the first video and first audio message are taken to be it.
  const seen = { Video: false, Audio: false };
  const child = spawn('stdbuf', ['-oL', tcconn!, '-4', `${url}#${streamName}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  processes.push(child);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = LINE.exec(line);
    if (!m) return;
    const kind = m[1] as 'Video' | 'Audio';
    const first = !seen[kind];
    seen[kind] = true;
    p.frame(Number(m[2]), Number(m[3]), first);
  });
  child.on('error', (err) => {
    console.error(`tcconn-players: cannot run stdbuf ${tcconn}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (!exiting) {
      console.error(`tcconn-players: player ${i} exited (${signal ?? code})`);
      process.exit(1);
    }
  });
}

let exiting = false;
for (let i = 0; i < count; i++) {
  start(i);
  // Handshakes in batches, as the Covey players connect 50 at a time.
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 500));
}
while (players.some((p) => p.lastTs < 0)) await new Promise((r) => setTimeout(r, 50));
process.send!({ ready: true });

/** This process's CPU and every tcconn's, µs. */
function cpu(): { user: number; system: number } {
  const own = process.cpuUsage();
  let user = own.user;
  let system = own.system;
  for (const child of processes) {
    try {
      const t = cpuTimes(child.pid!);
      user += t.user * 1e6;
      system += t.system * 1e6;
    } catch {
      // already gone
    }
  }
  return { user, system };
}

const progress = (): PlayerProgress => ({ lastTs: players.map((p) => p.lastTs), cpu: cpu(), packetsIn: null, packetsOut: null });
answerParent(players, progress, () => {
  exiting = true;
  for (const child of processes) child.kill();
  setTimeout(() => process.exit(0), 500);
});
