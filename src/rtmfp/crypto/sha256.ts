// One-shot SHA-256. node:crypto's hash() (Node 20.12+) digests without building a Hash object,
// which matters on the handshake path (cookie address digests, certificate fingerprints); on
// older Node 20 releases the same digest comes from createHash.
import * as nodeCrypto from 'node:crypto';

type OneShot = (algorithm: string, data: nodeCrypto.BinaryLike, outputEncoding: 'buffer') => Buffer;
const oneShot = (nodeCrypto as { hash?: OneShot }).hash;

export const sha256: (data: string | Uint8Array) => Buffer = oneShot
  ? (data) => oneShot('sha256', data, 'buffer')
  : (data) => nodeCrypto.createHash('sha256').update(data).digest();
