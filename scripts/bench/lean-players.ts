// Child process of rtmfp-fanout.ts (--lean): N players of one stream, a UDP socket each, that
// cost a fraction of Covey's client per packet (see lean-player.ts), so N=1,000 can be measured
// on a 2-core machine. Each starts as Covey's client: handshake, connect, play, first frames.
// Once every player has frames, lean players take the sessions over (lean-session-player.ts).
//
// Same arguments and answers to the parent as rtmfp-subscribers.ts (player-frames.ts).
import { performance } from 'node:perf_hooks';
import { AckScheduler } from './lean-player.js';
import { LeanSessionPlayer } from './lean-session-player.js';
import { answerParent, PlayerFrames, type PlayerProgress } from './player-frames.js';

const [url, streamName, countText] = process.argv.slice(2);
const count = Number(countText);

const frames = Array.from({ length: count }, () => new PlayerFrames());
const players: LeanSessionPlayer[] = [];
for (let i = 0; i < count; i += 50) {
  players.push(...(await Promise.all(frames.slice(i, i + 50).map((f) => LeanSessionPlayer.open(url!, streamName!, f)))));
}
while (frames.some((f) => f.lastTs < 0)) await new Promise((r) => setTimeout(r, 50));
// Every player has frames: the lean players take over.
const leans = await Promise.all(players.map((p, i) => p.takeOver(frames[i]!)));
const acks = new AckScheduler(leans, () => performance.now());
process.send!({ ready: true });

const progress = (): PlayerProgress => ({
  lastTs: frames.map((f) => f.lastTs),
  cpu: process.cpuUsage(),
  packetsIn: players.reduce((n, p) => n + p.packetsIn, 0),
  packetsOut: players.reduce((n, p) => n + p.packetsOut, 0),
});
answerParent(frames, progress, () => {
  acks.stop();
  const malformed = leans.reduce((n, l) => n + l.malformed, 0);
  if (malformed > 0) console.error(`lean-players: ${malformed} packets could not be read`);
  for (const p of players) p.close();
  setTimeout(() => process.exit(0), 200);
});
