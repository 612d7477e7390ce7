// A worker thread of the group-multicast bench: runs one share of the receivers
// (group-bench-members.ts) and answers the main thread's messages.
//   workerData: ShareOptions
//   -> { type: 'ready', peerIds }                 once every receiver of the share is in
//   <- { type: 'streaming' }                      the publisher starts
//   <- { type: 'report' } -> { type: 'report', report }
//   <- { type: 'close' }                          close the clients; the thread then ends
import { parentPort, workerData } from 'node:worker_threads';
import { ReceiverShare, type ShareOptions } from './group-bench-members.js';

const share = new ReceiverShare(workerData as ShareOptions);
const port = parentPort!;
port.on('message', (m: { type: 'streaming' | 'report' | 'close' }) => {
  if (m.type === 'streaming') share.streaming();
  else if (m.type === 'report') port.postMessage({ type: 'report', report: share.report() });
  else {
    share.close();
    // The clients' timers and sockets end with the thread; give their closes a moment to go out.
    setTimeout(() => process.exit(0), 300);
  }
});
port.postMessage({ type: 'ready', peerIds: await share.start() });
