// The NetGroup messages between a client and its server, on the flow whose metadata is 'G' 'C'
// (bytes 47 43; on the wire the user-data option 00 47 43): the client's join, and the server's
// introductions of other members. (Messages between peers are another matter: see the research
// file, §5.) Sources: MonaServer2 RTMFPSession.cpp:106-141 and RTMFPWriter.cpp:139-143, librtmfp
// RTMFPWriter.cpp:138-142, Cumulus FlowGroup.cpp:42-67.
import { ByteReader, encodeOption, VluError } from './vlu.js';

/** The flow metadata of a client's group flow, and of the flow the server returns for it. */
export const GROUP_FLOW_METADATA: Buffer = Buffer.from([0x47, 0x43]);

/** A join: `01` then one option. */
const JOIN = 0x01;
/** Server to client: `0B` + a member's 32-byte peer ID, "open a session to this peer". */
const MEMBER = 0x0b;
/** Join option: the 32-byte group ID (current Flash and librtmfp). */
const JOIN_GROUP_ID = 0x15;
/** Join option: the groupspec text itself (older Flash); the server hashes it once. */
const JOIN_GROUPSPEC = 0x10;

export const GROUP_ID_LENGTH = 32;
export const PEER_ID_LENGTH = 32;
/** Groupspecs are a few dozen characters; a longer "text" is not one. */
const MAX_GROUPSPEC_LENGTH = 1024;

export function isGroupFlowMetadata(metadata: Buffer): boolean {
  return metadata.length === 2 && metadata[0] === 0x47 && metadata[1] === 0x43;
}

export type GroupJoin = { groupId: Buffer } | { groupspec: Buffer };

/** A join message, or undefined when the message is something else or malformed. */
export function parseGroupJoin(message: Buffer): GroupJoin | undefined {
  if (message.length < 3 || message[0] !== JOIN) return undefined;
  try {
    const r = new ByteReader(message, 1);
    const length = r.vlu();
    if (length < 1 || r.remaining < length) return undefined;
    const end = r.offset + length;
    const type = r.vlu();
    const value = r.bytes(end - r.offset);
    if (type === JOIN_GROUP_ID) return value.length === GROUP_ID_LENGTH ? { groupId: value } : undefined;
    if (type === JOIN_GROUPSPEC) return value.length > 0 && value.length <= MAX_GROUPSPEC_LENGTH ? { groupspec: value } : undefined;
    return undefined;
  } catch (err) {
    if (err instanceof VluError) return undefined;
    throw err;
  }
}

/** `01 21 15` + group ID: the join current Flash and librtmfp send. */
export function encodeGroupJoinById(groupId: Uint8Array): Buffer {
  if (groupId.length !== GROUP_ID_LENGTH) throw new RangeError(`a group ID has ${GROUP_ID_LENGTH} bytes, not ${groupId.length}`);
  return Buffer.concat([Buffer.from([JOIN]), encodeOption(JOIN_GROUP_ID, groupId)]);
}

/** `01 len 10` + groupspec text: the older join, which leaves the hashing to the server. */
export function encodeGroupJoinBySpec(groupspec: string): Buffer {
  return Buffer.concat([Buffer.from([JOIN]), encodeOption(JOIN_GROUPSPEC, Buffer.from(groupspec, 'ascii'))]);
}

export function encodeGroupMember(peerId: Uint8Array): Buffer {
  if (peerId.length !== PEER_ID_LENGTH) throw new RangeError(`a peer ID has ${PEER_ID_LENGTH} bytes, not ${peerId.length}`);
  const out = Buffer.allocUnsafe(1 + PEER_ID_LENGTH);
  out[0] = MEMBER;
  out.set(peerId, 1);
  return out;
}

/** The peer ID of a `0B` introduction, or undefined when the message is something else. */
export function parseGroupMember(message: Buffer): Buffer | undefined {
  return message.length === 1 + PEER_ID_LENGTH && message[0] === MEMBER ? message.subarray(1) : undefined;
}
