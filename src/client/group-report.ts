// The NetGroup peer-list report `0A` (gossip between neighbours, on the report flow 47 52 1C), as
// librtmfp writes and reads it (NetGroup.cpp:582-637 writer, :789-887 reader; research file
// netgroup.md §5.2):
//
//   0A · option 0D: the recipient's address as the sender sees it
//      · option 0A: the sender's addresses (its server's with origin 3, then its own) · 00
//      · per peer the sender knows: 22 21 0F + peer ID · VLU seconds since last heard
//                                   · option 0A: that peer's addresses · 00
//
// (an "option" here is VLU length, type byte, value: RFC 7016 §2.1.3.) Addresses use RTMFP's
// address encoding (flag byte, 4 or 16 bytes, port). Lives in the client because it needs the
// address codec of the engine.
import { encodeAddress, readAddress, type Address, type AnnouncedAddress } from '../rtmfp/address.js';
import { ByteReader, encodeOption, VluError, vluLength, writeVlu } from '../codec/vlu.js';

export const GROUP_REPORT = 0x0a;
const OPTION_RECIPIENT_ADDRESS = 0x0d;
const OPTION_ADDRESSES = 0x0a;
const PEER_ENTRY = 0x22;
const EPD_FINGERPRINT = Buffer.from([0x21, 0x0f]);
const PEER_ID_LENGTH = 32;
/** librtmfp's NETGROUP_MAX_REPORT_SIZE: a longer report is refused. */
export const MAX_REPORT_BYTES = 20_000;

export interface ReportedPeer {
  /** 64 hex digits. */
  peerId: string;
  /** Seconds since the sender last heard of it. */
  secondsSinceHeard: number;
  addresses: AnnouncedAddress[];
}

export interface GroupReport {
  /** Where the sender sees us. */
  recipientAddress: AnnouncedAddress;
  /** The sender's addresses (origin 3: its server). */
  senderAddresses: AnnouncedAddress[];
  peers: ReportedPeer[];
}

type OriginAddress = Address & { origin?: number };

const addressList = (list: readonly OriginAddress[]) => Buffer.concat(list.map((a) => encodeAddress(a, a.origin ?? 0)));

export function encodeGroupReport(r: { recipientAddress: OriginAddress; senderAddresses: readonly OriginAddress[]; peers: ReadonlyArray<{ peerId: string; secondsSinceHeard: number; addresses: readonly OriginAddress[] }> }): Buffer {
  const parts: Buffer[] = [Buffer.from([GROUP_REPORT])];
  parts.push(encodeOption(OPTION_RECIPIENT_ADDRESS, encodeAddress(r.recipientAddress, r.recipientAddress.origin ?? 2)));
  parts.push(encodeOption(OPTION_ADDRESSES, addressList(r.senderAddresses)), Buffer.from([0]));
  for (const p of r.peers) {
    const id = Buffer.from(p.peerId, 'hex');
    if (id.length !== PEER_ID_LENGTH) throw new RangeError(`not a peer ID: ${p.peerId}`);
    const seconds = Buffer.alloc(vluLength(p.secondsSinceHeard));
    writeVlu(seconds, 0, p.secondsSinceHeard);
    parts.push(Buffer.from([PEER_ENTRY]), EPD_FINGERPRINT, id, seconds, encodeOption(OPTION_ADDRESSES, addressList(p.addresses)), Buffer.from([0]));
  }
  return Buffer.concat(parts);
}

function readAddresses(bytes: Buffer): AnnouncedAddress[] {
  const r = new ByteReader(bytes);
  const out: AnnouncedAddress[] = [];
  while (r.remaining > 0) out.push(readAddress(r));
  return out;
}

/** A `0A` report, or undefined when malformed. */
export function parseGroupReport(message: Buffer): GroupReport | undefined {
  if (message.length < 2 || message[0] !== GROUP_REPORT || message.length > MAX_REPORT_BYTES) return undefined;
  try {
    const r = new ByteReader(message, 1);
    // librtmfp skips one-byte options ahead of the 0D one (their meaning is unknown).
    let length = r.vlu();
    while (length === 1) {
      r.u8();
      length = r.vlu();
    }
    const end = r.offset + length;
    if (r.u8() !== OPTION_RECIPIENT_ADDRESS) return undefined;
    const recipientAddress = readAddress(r);
    if (r.offset !== end) return undefined;
    const senderLength = r.vlu();
    if (senderLength < 1 || r.u8() !== OPTION_ADDRESSES) return undefined;
    const senderAddresses = readAddresses(r.bytes(senderLength - 1));
    const peers: ReportedPeer[] = [];
    while (r.remaining > 0) {
      if (r.u8() !== 0) return undefined;
      if (r.remaining === 0) break;
      if (r.u8() !== PEER_ENTRY) return undefined;
      const epd = r.bytes(PEER_ENTRY);
      if (!epd.subarray(0, 2).equals(EPD_FINGERPRINT)) return undefined;
      const secondsSinceHeard = r.vlu();
      const addrLength = r.vlu();
      if (addrLength < 1 || r.u8() !== OPTION_ADDRESSES) return undefined;
      peers.push({ peerId: epd.subarray(2).toString('hex'), secondsSinceHeard, addresses: readAddresses(r.bytes(addrLength - 1)) });
    }
    return { recipientAddress, senderAddresses, peers };
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}
