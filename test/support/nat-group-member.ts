// A NetGroup member in a process of its own, for tests that run it inside a network namespace
// (behind a NAT, see netns-nat.ts): Covey's client connects to URL, joins GROUPSPEC, and prints
// one JSON line per event on stdout: {"joined": ourPeerId}, {"neighbor": peerId, "address"} (the
// neighbour's address as our socket sees it), {"unreachable": peerId, "reason"}, {"refused": ...},
// {"ended": reason}. SIGTERM leaves the group and closes the connection. The client's debug log
// goes to stderr as JSON lines, for the test to show when something does not happen.
//
//   node --import tsx test/support/nat-group-member.ts URL GROUPSPEC PEER_TIMEOUT_MS
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { NetGroup } from '../../src/client/net-group.js';
import { formatAddress } from '../../src/rtmfp/address.js';
import { createLogger } from '../../src/util/log.js';

const [url, groupspec, peerTimeout] = process.argv.slice(2);
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const client = await RtmfpClient.connect(url!, { log: createLogger({ level: 'debug', format: 'json' }) });
const group = await NetGroup.join(client, groupspec!, { peerTimeoutMs: Number(peerTimeout) });
group.onNeighborConnect = (peerId) => {
  const peer = client.peers.get(peerId);
  say({ neighbor: peerId, address: peer ? formatAddress(peer.address) : undefined });
};
group.onPeerUnreachable = (peerId, reason) => say({ unreachable: peerId, reason });
group.onPeerRefused = (peerId, reason) => say({ refused: peerId, reason });
group.onEnd = (reason) => say({ ended: reason });
say({ joined: client.peerId });
process.once('SIGTERM', () => {
  group.leave();
  client.close();
  setTimeout(() => process.exit(0), 200);
});
