// The NetGroup handshake between two peers, on each side's "report" flow (metadata 47 52 1C,
// unassociated): `01` says "I join your group" and proves knowledge of the groupspec, then `02`
// and `0E` say "ready" (librtmfp RTMFPWriter.cpp:144-157, GroupStream.cpp:57-90,
// P2PSession.cpp:294-315, 400-411, 517-529; research file §5.1-5.2).
//
// `01` is an option list: type 00 = the group ID as 64 hex characters, type 01 = a 32-byte key,
// type 03 = the recipient's endpoint discriminator (`21 0F` + its peer ID). The key is
// HMAC-SHA256(key = groupspec text, msg = HMAC-SHA256(key = the session's DH secret, msg = the
// recipient's session key component)): only a peer that knows the groupspec and is the far end
// of this very session can make it, and it cannot be replayed on another session.
import { createHmac } from 'node:crypto';
import { ByteReader, encodeOption, readOptionList, VluError } from '../codec/vlu.js';

/** The report flow's metadata (user-data option type 0 carries it: 00 47 52 1C on the wire). */
export const GROUP_PEER_FLOW_METADATA: Buffer = Buffer.from([0x47, 0x52, 0x1c]);

/** Message types on the report flow (librtmfp GroupStream.h). */
export const GroupPeerMessage = {
  /** GROUP_INIT: the handshake proper. */
  INIT: 0x01,
  /** librtmfp's "GROUP_DATA": one byte sent just before BEGIN; its meaning is not known. */
  DATA: 0x02,
  /** GROUP_BEGIN: ready (NetGroupReceiveMode.EXACT). */
  BEGIN: 0x0e,
  /** GROUP_BEGIN_NEAREST: ready (NetGroupReceiveMode.NEAREST). */
  BEGIN_NEAREST: 0x0f,
} as const;

const OPTION_GROUP_ID_HEX = 0x00;
const OPTION_KEY = 0x01;
const OPTION_RECIPIENT_EPD = 0x03;
const KEY_LENGTH = 32;
const PEER_ID_LENGTH = 32;
/** `21 0F`: the endpoint discriminator option "fingerprint" (RFC 7425 §4.4.2), length 33. */
const EPD_FINGERPRINT = Buffer.from([0x21, 0x0f]);

export interface GroupInit {
  /** The group ID as the sender wrote it in hex; compare without regard to case. */
  groupIdHex: string;
  key: Buffer;
  /** The peer ID the sender meant this for. */
  recipientPeerId: Buffer;
}

/** HMAC-SHA256(groupspec text, HMAC-SHA256(DH secret, recipient's nonce)). */
export function groupKey(groupText: string, sharedSecret: Uint8Array, recipientNonce: Uint8Array): Buffer {
  const bound = createHmac('sha256', sharedSecret).update(recipientNonce).digest();
  return createHmac('sha256', Buffer.from(groupText, 'latin1')).update(bound).digest();
}

export function encodeGroupInit(m: { groupIdHex: string; key: Uint8Array; recipientPeerId: Uint8Array }): Buffer {
  if (m.key.length !== KEY_LENGTH) throw new RangeError(`a group key has ${KEY_LENGTH} bytes, not ${m.key.length}`);
  if (m.recipientPeerId.length !== PEER_ID_LENGTH) throw new RangeError(`a peer ID has ${PEER_ID_LENGTH} bytes, not ${m.recipientPeerId.length}`);
  return Buffer.concat([
    Buffer.from([GroupPeerMessage.INIT]),
    // Lower case, as librtmfp writes it (String::Hex); it compares without regard to case, so do we.
    encodeOption(OPTION_GROUP_ID_HEX, Buffer.from(m.groupIdHex.toLowerCase(), 'latin1')),
    encodeOption(OPTION_KEY, m.key),
    encodeOption(OPTION_RECIPIENT_EPD, Buffer.concat([EPD_FINGERPRINT, m.recipientPeerId])),
  ]);
}

/** An `01` message, or undefined when it is something else or malformed. */
export function parseGroupInit(message: Buffer): GroupInit | undefined {
  if (message.length < 2 || message[0] !== GroupPeerMessage.INIT) return undefined;
  let options;
  try {
    options = readOptionList(new ByteReader(message, 1));
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
  const find = (type: number) => options.find((o) => o.type === type)?.value;
  const idHex = find(OPTION_GROUP_ID_HEX);
  const key = find(OPTION_KEY);
  const epd = find(OPTION_RECIPIENT_EPD);
  if (idHex === undefined || idHex.length !== 64 || key === undefined || key.length !== KEY_LENGTH) return undefined;
  if (epd === undefined || epd.length !== EPD_FINGERPRINT.length + PEER_ID_LENGTH || !epd.subarray(0, 2).equals(EPD_FINGERPRINT)) return undefined;
  return { groupIdHex: idHex.toString('latin1'), key: Buffer.from(key), recipientPeerId: Buffer.from(epd.subarray(2)) };
}

/** `02` then `0E`, as librtmfp sends them once its `01` is out (writeGroupBegin). */
export function encodeGroupBegin(): Buffer[] {
  return [Buffer.from([GroupPeerMessage.DATA]), Buffer.from([GroupPeerMessage.BEGIN])];
}
