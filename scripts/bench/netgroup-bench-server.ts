// The server half of `netgroup-joins.ts --wire`: Covey's RTMFP service with the Flash model, no
// group bounds, in its own process so that its CPU is measured apart from the members'. IPC:
//   -> { ready, port }       once listening on 127.0.0.1
//   <- { cmd: 'report' }     -> { cpuMs, joins, introductions, sessions }
//   <- { cmd: 'exit' }
import { FlashServer } from '../../src/flash/flash-server.js';
import { startRtmfpService } from '../../src/rtmfp-flash/rtmfp-service.js';
import { silentLogger } from '../../src/util/log.js';

const flash = new FlashServer({ log: silentLogger, groups: { maxGroupsPerClient: 1000, maxMembersPerGroup: 10_000_000, joinsPerSecond: 1e9, joinsPerSecondPerClient: 1e9 } });
const endpoint = await startRtmfpService({ host: '127.0.0.1', port: 0, flash, log: silentLogger });
const cpuStart = process.cpuUsage();
process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'report') {
    const cpu = process.cpuUsage(cpuStart);
    process.send!({ cpuMs: (cpu.user + cpu.system) / 1000, joins: flash.groups.counters.joins, introductions: flash.groups.counters.introductions, sessions: endpoint.sessionCount });
  } else if (msg.cmd === 'exit') {
    endpoint.close();
    process.exit(0);
  }
});
process.send!({ ready: true, port: endpoint.localAddress.port });
