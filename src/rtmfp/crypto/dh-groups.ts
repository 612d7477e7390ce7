// Diffie-Hellman over the MODP groups the Flash profile names (RFC 7425 §4.3.1 uses the
// IKE group numbers): 2 (1024-bit), 5 (1536), 14 (2048) and 16 (4096).
// Building a node:crypto DH object costs 25-47 ms, which would cap handshakes near 20 a
// second; so one object per group is built once and reused, with a fresh private key set for
// every exchange (about half a millisecond for group 2).
import { createDiffieHellman, getDiffieHellman, type DiffieHellman } from 'node:crypto';
import { randomPool } from './random-pool.js';

export type DhGroupId = 2 | 5 | 14 | 16;

/** Strongest first: the order in which we offer and choose groups. */
export const SUPPORTED_DH_GROUPS: readonly DhGroupId[] = [16, 14, 5, 2];

const GROUP_NAME: Record<DhGroupId, string> = { 2: 'modp2', 5: 'modp5', 14: 'modp14', 16: 'modp16' };
const PRIME_BYTES: Record<DhGroupId, number> = { 2: 128, 5: 192, 14: 256, 16: 512 };
/**
 * Private exponent sizes: twice the group's strength in bits (RFC 3526 §8), which keeps the
 * exchange as strong as the group while making the modular exponentiation several times faster
 * than a full-length exponent.
 */
const PRIVATE_BYTES: Record<DhGroupId, number> = { 2: 32, 5: 32, 14: 32, 16: 48 };

export function isSupportedDhGroup(id: number): id is DhGroupId {
  return id === 2 || id === 5 || id === 14 || id === 16;
}

export function primeBytes(group: DhGroupId): number {
  return PRIME_BYTES[group];
}

/** Size of the private exponents we draw for `group` (benchmarks do the same DH work with it). */
export function privateKeyBytes(group: DhGroupId): number {
  return PRIVATE_BYTES[group];
}

/** The MODP prime of `group`, big-endian. */
export function groupPrime(group: DhGroupId): Buffer {
  return engine(group).getPrime();
}

const engines = new Map<DhGroupId, DiffieHellman>();

function engine(group: DhGroupId): DiffieHellman {
  let dh = engines.get(group);
  if (!dh) {
    // A named group object cannot take a private key; an object built from its prime can.
    dh = createDiffieHellman(getDiffieHellman(GROUP_NAME[group]).getPrime(), Buffer.from([2]));
    engines.set(group, dh);
  }
  return dh;
}

/** Builds the DH objects now, so the first handshakes do not pay for it. */
export function warmDhGroups(groups: readonly DhGroupId[] = SUPPORTED_DH_GROUPS): void {
  for (const g of groups) engine(g);
}

function leftPad(b: Buffer, size: number): Buffer {
  if (b.length >= size) return b;
  // getPublicKey() drops leading zero bytes (about 0.3% of keys); peers expect full width.
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return i === 0 ? b : b.subarray(i);
}

function newPrivateKey(group: DhGroupId): Buffer {
  const priv = randomPool.bytes(PRIVATE_BYTES[group]);
  priv[0]! |= 0x80; // full-strength exponent
  return priv;
}

export class DhKeyPair {
  private constructor(
    readonly group: DhGroupId,
    private readonly privateKey: Buffer,
    /** Full prime width, big-endian. */
    readonly publicKey: Buffer,
  ) {}

  static generate(group: DhGroupId): DhKeyPair {
    const dh = engine(group);
    const priv = newPrivateKey(group);
    dh.setPrivateKey(priv);
    return new DhKeyPair(group, priv, leftPad(dh.generateKeys(), PRIME_BYTES[group]));
  }

  /**
   * One ephemeral exchange with `peerPublic`, as a responder keys: our public value (full
   * width) and the shared secret (as computeSecret answers it). The same DH work as generate()
   * then computeSecret(), less the second setPrivateKey and the pair object: the private key
   * is set once and never leaves this call.
   */
  static agree(group: DhGroupId, peerPublic: Uint8Array): { publicKey: Buffer; secret: Buffer } {
    const dh = engine(group);
    dh.setPrivateKey(newPrivateKey(group));
    const publicKey = leftPad(dh.generateKeys(), PRIME_BYTES[group]);
    return { publicKey, secret: stripLeadingZeros(dh.computeSecret(peerPublic)) };
  }

  /**
   * The shared secret without leading zero bytes: Flash Player, MonaServer and rtmfp-cpp all
   * key from the minimal big-endian form, so keeping node's padding fails 1 exchange in 256.
   * Throws on a public value outside 2..p-2.
   */
  computeSecret(peerPublic: Uint8Array): Buffer {
    const dh = engine(this.group);
    dh.setPrivateKey(this.privateKey);
    return stripLeadingZeros(dh.computeSecret(peerPublic));
  }
}
