// Certificates and endpoint discriminators of the Flash profile (RFC 7425 §4.3.2, §4.4).
// A certificate is an option list; the part before a marker (if any) is canonical and its
// SHA-256 is the endpoint's fingerprint, which Flash calls the peer ID.
import { ByteReader, encodeOption, findOption, readOptionList, type RtmfpOption } from '../../codec/vlu.js';
import { CertOption, EpdOption, FINGERPRINT_LENGTH } from './flash-options.js';
import { isSupportedDhGroup, type DhGroupId } from './dh-groups.js';
import { sha256 } from './sha256.js';

export class CertificateError extends Error {}

export class FlashCertificate {
  private constructor(
    readonly raw: Buffer,
    readonly options: readonly RtmfpOption[],
    readonly fingerprint: Buffer,
  ) {}

  static parse(raw: Buffer): FlashCertificate {
    const copy = Buffer.from(raw);
    const r = new ByteReader(copy);
    let options: RtmfpOption[];
    try {
      options = readOptionList(r);
    } catch (err) {
      throw new CertificateError(`malformed certificate: ${(err as Error).message}`);
    }
    const canonical = copy.subarray(0, r.offset);
    const cert = new FlashCertificate(copy, options, sha256(canonical));
    if (cert.isStatic === cert.ephemeralGroups.length > 0) {
      throw new CertificateError('certificate must offer either static DH keys or ephemeral DH groups');
    }
    return cert;
  }

  /** True when the certificate carries the endpoint's DH public key(s) (Flash Player's form). */
  get isStatic(): boolean {
    return this.options.some((o) => o.type === CertOption.STATIC_DH_PUBLIC_KEY);
  }

  get ephemeralGroups(): DhGroupId[] {
    const out: DhGroupId[] = [];
    for (const o of this.options) {
      if (o.type !== CertOption.SUPPORTED_EPHEMERAL_DH_GROUP) continue;
      const g = tryGroup(o.value);
      if (g !== undefined) out.push(g);
    }
    return out;
  }

  /** Static public keys by group. */
  staticKeys(): Map<DhGroupId, Buffer> {
    const out = new Map<DhGroupId, Buffer>();
    for (const o of this.options) {
      if (o.type !== CertOption.STATIC_DH_PUBLIC_KEY) continue;
      const r = new ByteReader(o.value);
      try {
        const g = r.vlu();
        if (isSupportedDhGroup(g)) out.set(g, r.rest());
      } catch {
        // an unreadable key is ignored like an unsupported group
      }
    }
    return out;
  }

  /**
   * The static public key for `group`, as staticKeys().get(group) answers it (the last one
   * given wins), without building the map: keying asks for one group once.
   */
  staticKey(group: DhGroupId): Buffer | undefined {
    let key: Buffer | undefined;
    for (const o of this.options) {
      if (o.type !== CertOption.STATIC_DH_PUBLIC_KEY) continue;
      const r = new ByteReader(o.value);
      try {
        if (r.vlu() === group) key = r.rest();
      } catch {
        // an unreadable key is ignored, as staticKeys() ignores it
      }
    }
    return key;
  }

  /** Groups this certificate can key with, either way. */
  get groups(): DhGroupId[] {
    return this.isStatic ? [...this.staticKeys().keys()] : this.ephemeralGroups;
  }

  get acceptsAncillaryData(): boolean {
    return this.options.some((o) => o.type === CertOption.ACCEPTS_ANCILLARY_DATA);
  }

  get hostname(): string | undefined {
    return findOption(this.options, CertOption.HOSTNAME)?.toString('utf8');
  }
}

function tryGroup(value: Buffer): DhGroupId | undefined {
  try {
    const g = new ByteReader(value).vlu();
    return isSupportedDhGroup(g) ? g : undefined;
  } catch {
    return undefined;
  }
}

/** What an Endpoint Discriminator asks for. */
export interface Epd {
  /** The connect URL (for a server). */
  ancillaryData?: string;
  /** The wanted endpoint's peer ID. */
  fingerprint?: Buffer;
  requiredHostname?: string;
}

export function parseEpd(raw: Buffer): Epd {
  let options: RtmfpOption[];
  try {
    options = readOptionList(new ByteReader(raw));
  } catch (err) {
    throw new CertificateError(`malformed endpoint discriminator: ${(err as Error).message}`);
  }
  const epd: Epd = {};
  const anc = findOption(options, EpdOption.ANCILLARY_DATA);
  if (anc) epd.ancillaryData = anc.toString('utf8');
  const fp = findOption(options, EpdOption.FINGERPRINT);
  if (fp) {
    if (fp.length !== FINGERPRINT_LENGTH) throw new CertificateError(`fingerprint of ${fp.length} bytes`);
    epd.fingerprint = Buffer.from(fp);
  }
  const host = findOption(options, EpdOption.REQUIRED_HOSTNAME);
  if (host) epd.requiredHostname = host.toString('utf8');
  if (!epd.ancillaryData && !epd.fingerprint && epd.requiredHostname === undefined) {
    throw new CertificateError('endpoint discriminator names nothing');
  }
  return epd;
}

export function encodeEpd(epd: Epd): Buffer {
  const parts: Buffer[] = [];
  if (epd.fingerprint) parts.push(encodeOption(EpdOption.FINGERPRINT, epd.fingerprint));
  if (epd.ancillaryData !== undefined) parts.push(encodeOption(EpdOption.ANCILLARY_DATA, Buffer.from(epd.ancillaryData, 'utf8')));
  if (epd.requiredHostname !== undefined) parts.push(encodeOption(EpdOption.REQUIRED_HOSTNAME, Buffer.from(epd.requiredHostname, 'utf8')));
  return Buffer.concat(parts);
}
