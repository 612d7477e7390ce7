// What Lua apps cost: an empty hook call and an app event dispatch (in process), the Lua part of
// an RPC, a per-packet publication callback, and a whole RPC round trip over RTMP against the same call answered without a script,
// and connections per second to an app with an onConnection script against one without, in the
// same server and the same run (alternating connection by connection, so machine load hits both alike).
//
//   node --import tsx scripts/bench/lua-hooks.ts [--calls N] [--rpcs N] [--connections N]
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSandbox } from '../../src/lua/lua-sandbox.js';
import { installRuntime, type RuntimeHost } from '../../src/lua/lua-app-runtime.js';
import { startServer } from '../../src/server.js';
import { defaultConfig } from '../../src/server-config.js';
import { silentLogger } from '../../src/util/log.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, rpcs: { type: 'string', default: '3000' }, connections: { type: 'string', default: '500' } } });
const CALLS = Number(values.calls);
const RPCS = Number(values.rpcs);
const CONNECTIONS = Number(values.connections);
const loadAtStart = loadavg();

function perCallUs(n: number, run: () => void): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) run();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run();
  return ((performance.now() - t0) * 1000) / n;
}

// 1. In process: an empty Lua function, and an app event through the runtime (environment lookup).
const vm = await createSandbox({ timeLimitMs: 1000, memoryBytes: 64 << 20 }, () => {});
// The bench calls no host function: each one does nothing.
const runtime = installRuntime(vm, new Proxy({}, { get: () => () => undefined }) as RuntimeHost);
const empty = vm.load('return function() end', '=bench');
const [emptyFn] = vm.call(empty) as [Parameters<typeof vm.call>[0]];
const env = vm.callForRef(runtime.newEnv, [undefined, 'bench', {}, {}]);
vm.call(runtime.run, ['function onManage() end', '=bench-app', env]);
const client = vm.callForRef(runtime.newClient, [{ id: 'c1', protocol: 'rtmp' }]);
vm.call(vm.load('local c = ... function c:ping() return 1 end', '=bench-client'), [client]);
const emptyUs = perCallUs(CALLS, () => vm.call(emptyFn));
const eventUs = perCallUs(CALLS, () => vm.call(runtime.event, [env, 'onManage']));
const rpcLuaUs = perCallUs(CALLS, () => vm.call(runtime.rpc, [client, 'ping', 42]));
// A per-packet callback as a publication's observer makes it: publication:onVideo(time, packet)
// with a packet of 1 KiB and of 16 KiB (copied into the Lua state each time).
const publication = vm.ref({ name: 'bench' });
vm.call(vm.load('local p = ... local n = 0 function p:onVideo(time, packet) n = n + #packet end', '=bench-packets'), [publication]);
const packetUs = (bytes: number) => {
  const payload = Buffer.alloc(bytes, 7);
  return perCallUs(Math.max(1000, CALLS / 4), () => vm.call(runtime.clientEvent, [publication, 'onVideo', 40, payload]));
};
const packet1kUs = packetUs(1024);
const packet16kUs = packetUs(16 * 1024);
vm.close();

// 2 and 3: a server over a www/ with a scripted app and a bare one.
const www = mkdtempSync(join(tmpdir(), 'covey-lua-bench-'));
mkdirSync(join(www, 'bare'));
mkdirSync(join(www, 'scripted'));
writeFileSync(join(www, 'scripted', 'main.lua'), `
function onConnection(client, user)
  client.user = user
  function client:ping(n) return n end
  return { welcome = user }
end`);
const config = defaultConfig();
config.www = www;
config.rtmfp.enabled = false;
config.rtmp = { enabled: true, host: '127.0.0.1', port: 0 };
const server = await startServer(config, silentLogger);
const port = server.rtmp!.address.port;
const url = (app: string) => `rtmp://127.0.0.1:${port}/${app}`;

// RPC round trips: the scripted app's ping (_result from Lua) against a call the server answers
// itself with a _result (getStreamLength), on the bare app: one message each way in both.
// The two alternate call by call (as the connections below), each timed; the figure is the
// difference of the medians.
const bareClient = await RtmpClient.connect(url('bare'), { connectArgs: ['bench'] });
const scriptedClient = await RtmpClient.connect(url('scripted'), { connectArgs: ['bench'] });
const rpcCalls = { bare: () => bareClient.call('getStreamLength', 'x'), scripted: () => scriptedClient.call('ping', 1) };
async function rpcUs(app: 'bare' | 'scripted'): Promise<number> {
  const t0 = performance.now();
  await rpcCalls[app]();
  return (performance.now() - t0) * 1000;
}
for (let i = 0; i < 200; i++) {
  await rpcUs('bare');
  await rpcUs('scripted');
}
const rpc = { bare: [] as number[], scripted: [] as number[] };
for (let i = 0; i < RPCS; i++) {
  const order = i % 2 === 0 ? (['bare', 'scripted'] as const) : (['scripted', 'bare'] as const);
  for (const app of order) rpc[app].push(await rpcUs(app));
}
await bareClient.close();
await scriptedClient.close();

// Connections per second: connect (handshake, connect, _result) then close (awaited, so that one
// connection's teardown does not land in the next one's time), one after another.
async function connectionMs(app: string): Promise<number> {
  const t0 = performance.now();
  await (await RtmpClient.connect(url(app), { connectArgs: ['bench'] })).close();
  return performance.now() - t0;
}
for (let i = 0; i < 50; i++) {
  await connectionMs('bare');
  await connectionMs('scripted');
}
// The two cases alternate connection by connection (bare then scripted, then scripted then bare):
// load on the shared machine comes and goes within seconds, and batches of 40 one after the other
// gave 71-111% across runs. Each case's rate is 1 / its median connection time, and the figure is
// the ratio of the two; the ratios of blocks of 50 pairs show the spread.
const times = { bare: [] as number[], scripted: [] as number[] };
const blockRatios: number[] = [];
const BLOCK = 50;
for (let pair = 0; pair < CONNECTIONS; pair++) {
  const order = pair % 2 === 0 ? (['bare', 'scripted'] as const) : (['scripted', 'bare'] as const);
  for (const app of order) times[app].push(await connectionMs(app));
  if ((pair + 1) % BLOCK === 0) blockRatios.push(median(times.bare.slice(-BLOCK)) / median(times.scripted.slice(-BLOCK)));
}
await server.close();
rmSync(www, { recursive: true, force: true });

const f = (x: number) => x.toFixed(2);
console.log(`empty Lua function called from JS:        ${f(emptyUs)} us/call (target <= 5)`);
console.log(`app event dispatch (env lookup + call):   ${f(eventUs)} us/call`);
console.log(`client RPC in Lua (lookup + call + value): ${f(rpcLuaUs)} us/call`);
console.log(`publication:onVideo per packet: 1 KiB ${f(packet1kUs)} us, 16 KiB ${f(packet16kUs)} us (none when the script defines no callback)`);
console.log(`RPC round trip over RTMP, median of ${RPCS} each, alternating: answered natively ${f(median(rpc.bare))} us, by Lua ${f(median(rpc.scripted))} us, added ${f(median(rpc.scripted) - median(rpc.bare))} us (target <= 20)`);
const ratio = median(times.bare) / median(times.scripted);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const rate = (ms: number[]) => (1000 / median(ms)).toFixed(0);
console.log(`RTMP connections/s, ${CONNECTIONS} of each alternating: bare app ${rate(times.bare)}, with onConnection ${rate(times.scripted)} (1 / median time): ${pct(ratio)} (blocks of ${BLOCK} pairs: ${pct(Math.min(...blockRatios))}-${pct(Math.max(...blockRatios))}; target >= 90%)`);
console.log(`load average (1, 5, 15 min) at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
