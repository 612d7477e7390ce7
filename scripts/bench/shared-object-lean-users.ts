// Child process of shared-object-fanout.ts (--kinds lean, the default): `count` lean users of one
// shared object, so that 1,000 of them in one process cost less than the server they measure.
// RTMP: lean-rtmp-so-user.ts, a socket each (handshake, connect, Use, then chunk headers and the
// updates' bytes only). RTMFP: Covey's client opens each session (a UDP socket each) and uses the
// object, then a lean reader takes the session over (lean-rtmfp-so-user.ts: flow acks, pings,
// and the few blocks of each update it reads).
//
//   argv: protocol url objectName count [acks: after-reads (the default) | at-once]
//
// Talks to the parent as shared-object-arrivals.ts says.
import { performance } from 'node:perf_hooks';
import { parseRtmpUrl } from '../../src/client/rtmp-url.js';
import { SharedObject } from '../../src/client/shared-object.js';
import { AckScheduler } from './lean-player.js';
import { LeanRtmfpSoUser } from './lean-rtmfp-so-user.js';
import { LeanRtmpSoUser } from './lean-rtmp-so-user.js';
import { LeanSessionPlayer } from './lean-session-player.js';
import { UserArrivals } from './shared-object-arrivals.js';

const [protocol, url, objectName, countText, acksMode = 'after-reads'] = process.argv.slice(2) as ['rtmp' | 'rtmfp', string, string, string, string?];
if (acksMode !== 'after-reads' && acksMode !== 'at-once') throw new Error(`acks: ${acksMode} is neither after-reads nor at-once`);
const count = Number(countText);
const SLOT = 'v';
/** Users set up at once (the server's handshakes are the limit). */
const BATCH = 50;

const closers: Array<() => void> = [];
const arrivals = new UserArrivals(count, () => {
  for (const close of closers) close();
});
let malformed: () => number;

if (protocol === 'rtmp') {
  const { host, port, app } = parseRtmpUrl(url);
  const users: LeanRtmpSoUser[] = [];
  for (let start = 0; start < count; start += BATCH) {
    users.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, count - start) }, (_, j) => LeanRtmpSoUser.open(host, port, app, objectName, SLOT, (v) => arrivals.arrived(start + j, v))))));
  }
  for (const u of users) closers.push(() => u.close());
  malformed = () => users.reduce((n, u) => n + u.malformed, 0);
} else {
  const sessions: LeanSessionPlayer[] = [];
  for (let start = 0; start < count; start += BATCH) {
    sessions.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(BATCH, count - start) }, async () => {
          const s = await LeanSessionPlayer.connect(url);
          await new SharedObject(objectName).connect(s.client, 60_000);
          return s;
        }),
      )),
    );
  }
  // Every user holds the object: the lean readers take over.
  const leans = await Promise.all(sessions.map((s, i) => s.takeOverWith((session) => new LeanRtmfpSoUser(session, SLOT.charCodeAt(0), (v) => arrivals.arrived(i, v)))));
  const acks = new AckScheduler(leans, () => performance.now());
  // Acks wait for the reads to pause in the latency phase only: in the throughput phase the reads
  // never pause, and an ack only every 20 ms (the wait's bound) would spare the server most of the
  // acks Covey's client sends, flattering its updates per second.
  const afterReads = (timing: boolean) => (acks.afterReadsMs = timing && acksMode === 'after-reads' ? 1 : undefined);
  afterReads(true);
  arrivals.onTiming = afterReads;
  // An ack owed before the scheduler was there would wait for ever: send what is owed now.
  for (const l of leans) l.sendAcks(performance.now());
  closers.push(() => acks.stop());
  for (const s of sessions) closers.push(() => s.close());
  malformed = () => leans.reduce((n, l) => n + l.malformed, 0);
}
closers.push(() => {
  const n = malformed();
  if (n > 0) console.error(`shared-object-lean-users: ${n} messages or packets could not be read`);
});
arrivals.ready();
