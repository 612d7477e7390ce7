// Every protocol the CLI's publish and play commands speak, registered by URL scheme.
import { registerStreamProtocol } from './stream-client.js';
import { rtmpStreamProtocol } from './rtmp-stream-client.js';

registerStreamProtocol('rtmp', rtmpStreamProtocol);
// The RTMFP client registers 'rtmfp' here once it exists.
