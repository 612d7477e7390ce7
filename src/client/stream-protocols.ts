// Every protocol the CLI's publish and play commands speak, registered by URL scheme.
import { registerStreamProtocol } from './stream-client.js';
import { netStreamProtocol } from './net-stream-protocol.js';
import { directStreamProtocol } from './direct-stream-protocol.js';
import { groupStreamProtocol } from './group-stream-protocol.js';
import { RtmpClient } from './rtmp-client.js';
import { RtmfpClient } from './rtmfp-client.js';
import { parseRtmfpUrl, parseRtmpUrl } from './rtmp-url.js';

registerStreamProtocol('rtmp', netStreamProtocol('rtmp', parseRtmpUrl, (url, signal) => RtmpClient.connect(url, { signal })));
registerStreamProtocol('rtmfp', {
  ...netStreamProtocol('rtmfp', parseRtmfpUrl, (url, signal) => RtmfpClient.connect(url, { signal })),
  // RTMFP clients are peers too: direct P2P NetStreams, the server only introducing.
  ...directStreamProtocol(parseRtmfpUrl, (url) => RtmfpClient.connect(url)),
  // And NetGroup members: multicast through the group.
  ...groupStreamProtocol(parseRtmfpUrl, (url) => RtmfpClient.connect(url)),
});
