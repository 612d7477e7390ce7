// A client of the "room" demo app (www/room): a shared click counter and a presence list, over
// RTMP or RTMFP, with Covey's SharedObject. Prints one line whenever either changes:
//   room: 2 here (alice, bob); 17 clicks
//
//   node --import tsx scripts/demo/room.ts URL --name NAME [--clicks N] [--stay]
//
// --clicks N clicks N times at once; --stay keeps the client in the room (Enter clicks, Ctrl-C
// or end of input leaves); without it the client leaves once its clicks are counted.
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { SharedObject } from '../../src/client/shared-object.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, clicks: { type: 'string', default: '0' }, stay: { type: 'boolean', default: false } },
});
const url = positionals[0];
const name = values.name;
if (url === undefined || name === undefined || !/^[\w-]{1,32}$/.test(name)) {
  console.error('usage: room.ts rtmp://host/room|rtmfp://host/room --name NAME (letters, digits, - and _) [--clicks N] [--stay]');
  process.exit(2);
}

const connection = url.startsWith('rtmfp:') ? await RtmfpClient.connect(url) : await RtmpClient.connect(url);
const counter = new SharedObject('counter', true);
const presence = new SharedObject('presence', false);
let last = '';
const show = () => {
  const here = Object.keys(presence.data).sort();
  const clicks = Object.values(counter.data).reduce<number>((sum, v) => sum + (typeof v === 'number' ? v : 0), 0);
  const line = `room: ${here.length} here (${here.join(', ')}); ${clicks} clicks`;
  if (line !== last) console.log((last = line));
};
counter.onSync = show;
presence.onSync = show;
await counter.connect(connection);
await presence.connect(connection);
presence.setProperty(name, { since: new Date() });

const click = () => counter.setProperty(name, ((counter.data[name] as number | undefined) ?? 0) + 1);
for (let i = 0; i < Number(values.clicks); i++) click();

let leaving = false;
const leave = async () => {
  if (leaving) return;
  leaving = true;
  presence.setProperty(name, null);
  await presence.waitFor(() => presence.pendingCount === 0 && counter.pendingCount === 0, 5000).catch(() => {});
  counter.close();
  presence.close();
  // Resolves once the close has reached the server (or after 1 s without an answer).
  await connection.close();
  process.exit(0);
};
if (values.stay) {
  process.once('SIGINT', () => void leave());
  process.once('SIGTERM', () => void leave());
  const input = createInterface({ input: process.stdin });
  input.on('line', click);
  input.on('close', () => void leave());
} else {
  await counter.waitFor(() => counter.pendingCount === 0, 10_000);
  await leave();
}
