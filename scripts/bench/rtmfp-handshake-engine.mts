// The engine's own CPU per handshake, both ends in one process wired directly (no sockets,
// no kernel): what the handshake costs in our code and in DH, apart from UDP system calls.
// Usage: node --import tsx scripts/bench/rtmfp-handshake-engine.mts
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { DhKeyPair } from '../../src/rtmfp/crypto/dh-groups.js';
import type { DatagramPort, DatagramHandler, Clock } from '../../src/rtmfp/platform.js';
const clock: Clock = { now: () => performance.now(), setTimer: (ms, fn) => { const t = setTimeout(fn, ms); return { cancel: () => clearTimeout(t) }; } };
class Wire implements DatagramPort { h: DatagramHandler = () => {}; peer!: Wire; constructor(public addr: { host: string; port: number }) {} send(d: Buffer | readonly Buffer[]) { const p = this.peer; const b = Buffer.isBuffer(d) ? d : Buffer.concat(d); queueMicrotask(() => p.h(b, this.addr)); } onDatagram(h: DatagramHandler) { this.h = h; } localAddress() { return this.addr; } close() {} }
const a = new Wire({ host: '10.0.0.1', port: 1 }), b = new Wire({ host: '10.0.0.2', port: 2 }); a.peer = b; b.peer = a;
new RtmfpEndpoint({ port: a, clock, crypto: new FlashCrypto({ server: true, groups: [2] }), acceptSessions: true, timings: { keepaliveMs: 1e9, pingAfterSilenceMs: 1e9 } });
const client = new RtmfpEndpoint({ port: b, clock, crypto: new FlashCrypto({ server: false, groups: [2] }), timings: { keepaliveMs: 1e9, pingAfterSilenceMs: 1e9 } });
for (let i = 0; i < 2000; i++) await client.connect({ ancillaryData: 'x' }, [a.addr]);
const N = 5000; const t0 = performance.now();
for (let i = 0; i < N; i++) await client.connect({ ancillaryData: 'x' }, [a.addr]);
const ms = performance.now() - t0;
const peer = DhKeyPair.generate(2); const t1 = performance.now();
for (let i = 0; i < N; i++) DhKeyPair.generate(2).computeSecret(peer.publicKey);
const dh = performance.now() - t1;
console.log(`both ends in-process: ${(ms / N * 1000).toFixed(0)} us per handshake; DH pair ${(dh / N * 1000).toFixed(0)} us; client DH ~${(dh / N / 2 * 1000).toFixed(0)} us`);
process.exit(0);
