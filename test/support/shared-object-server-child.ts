// A server in a process of its own, for tests that kill it: the Flash model with an RTMP listener
// on 127.0.0.1 (ephemeral port) and persistent shared objects under the folder given as the
// first argument (write delay: the second, ms). Prints {"port": N} on stdout once listening.
import { pino } from 'pino';
import { FlashServer } from '../../src/flash/flash-server.js';
import { FileSharedObjectStore } from '../../src/flash/shared-object-store.js';
import { startRtmpService } from '../../src/rtmp-flash/rtmp-service.js';

const [dir, delay] = process.argv.slice(2);
const log = pino({ level: 'warn' }, pino.destination(2));
const store = new FileSharedObjectStore({ dir: dir!, log, writeDelayMs: Number(delay ?? 5) });
// The kill test sends as fast as the server answers: no event rate limit in its way.
const flash = new FlashServer({ log, sharedObjectStore: store, sharedObjects: { maxEventsPerSecondPerClient: 1_000_000 } });
const listener = await startRtmpService({ host: '127.0.0.1', port: 0, flash, log });
process.stdout.write(`${JSON.stringify({ port: listener.address.port })}\n`);
