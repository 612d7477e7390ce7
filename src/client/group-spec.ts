// A NetGroup's groupspec (Flash's GroupSpecifier.toString()): `G:` and the hex of an option
// list ending in `00`, perhaps followed by authorizations. Peers and servers never see the
// text itself: the group is named by its ID, SHA-256 of the text up to (not including) that
// terminating `00`, hashed a second time when option 7F says version 2 (librtmfp
// Invoker.cpp:609-617, GroupSpecReader at :33-80; research file §4.1). The same text is the
// HMAC key of the peer handshake (group-handshake.ts), so a peer proves it knows the whole
// groupspec, not only its hash.
import { createHash } from 'node:crypto';
import { ByteReader, VluError } from '../codec/vlu.js';

/** Groupspec option 7F: the groupspec version; 2 hashes the ID twice. */
const OPTION_VERSION = 0x7f;
/** Groupspec option 0E: the group name (librtmfp uses it as the stream name). */
const OPTION_NAME = 0x0e;
/** Groupspecs are a few dozen characters; anything longer is refused before hex-decoding it. */
const MAX_GROUPSPEC_LENGTH = 4096;

export class GroupspecError extends Error {}

export interface Groupspec {
  /** The whole text as given. */
  readonly text: string;
  /** The meaningful part: from `G:` up to, not including, the terminating `00` (librtmfp's groupTxt). */
  readonly groupText: string;
  /** Option 7F, 1 when absent. */
  readonly version: number;
  /** Option 0E as text, if present. */
  readonly name: string | undefined;
  /** Every option by type, as the groupspec carries it (most types are undocumented). */
  readonly options: ReadonlyMap<number, Buffer>;
  /** The 32-byte group ID: SHA-256 of groupText, twice for version 2. */
  readonly groupId: Buffer;
  /** The group ID in hex (lower case), as logs and the peer handshake carry it. */
  readonly groupIdHex: string;
}

/** Parses a groupspec and derives its group ID; throws GroupspecError with a one-line reason. */
export function parseGroupspec(text: string): Groupspec {
  if (text.length > MAX_GROUPSPEC_LENGTH) throw new GroupspecError(`groupspec of ${text.length} characters is too long (at most ${MAX_GROUPSPEC_LENGTH})`);
  if (!text.startsWith('G:')) throw new GroupspecError(`groupspec must begin with "G:" (got "${text.slice(0, 16)}")`);
  const hex = text.slice(2);
  // Only the option list has to be hex; authorizations after its end are kept in the text as they are.
  const bytes = Buffer.alloc(hex.length >> 1);
  let decoded = 0;
  while (decoded < bytes.length && /^[0-9a-fA-F]{2}$/.test(hex.slice(decoded * 2, decoded * 2 + 2))) {
    bytes[decoded] = parseInt(hex.slice(decoded * 2, decoded * 2 + 2), 16);
    decoded++;
  }
  const reader = new ByteReader(bytes, 0, decoded);
  const options = new Map<number, Buffer>();
  let end: number | undefined;
  try {
    while (reader.remaining > 0) {
      const at = reader.offset;
      const length = reader.vlu();
      if (length === 0) {
        end = at;
        break;
      }
      const optionEnd = reader.offset + length;
      if (optionEnd > reader.limit) throw new VluError(`option at byte ${at} runs past the groupspec`);
      const type = reader.vlu();
      if (reader.offset > optionEnd) throw new VluError(`option at byte ${at} is shorter than its type`);
      options.set(type, Buffer.from(reader.bytes(optionEnd - reader.offset)));
    }
  } catch (err) {
    if (err instanceof VluError) throw new GroupspecError(`malformed groupspec: ${err.message}`);
    throw err;
  }
  if (end === undefined) throw new GroupspecError('malformed groupspec: no terminating 00 after its options');
  const groupText = text.slice(0, 2 + end * 2);
  const versionOption = options.get(OPTION_VERSION);
  const version = versionOption !== undefined && versionOption.length > 0 ? versionOption[0]! : 1;
  let groupId = createHash('sha256').update(groupText, 'latin1').digest();
  if (version === 2) groupId = createHash('sha256').update(groupId).digest();
  const nameOption = options.get(OPTION_NAME);
  return {
    text,
    groupText,
    version,
    name: nameOption?.toString('utf8'),
    options,
    groupId,
    groupIdHex: groupId.toString('hex'),
  };
}

/**
 * The groupspec Covey builds from a group name: version 2, the options librtmfp's README example
 * carries (01, 03, 0C and 1B, whose meanings are not documented) and the name as option 0E. Every
 * Covey peer given the same name builds the same text, so they meet in the same group.
 */
export function groupspecForName(name: string): Groupspec {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length > 255) throw new GroupspecError(`a group name has 1 to 255 bytes, got ${bytes.length}`);
  const length = bytes.length + 1;
  const vlu = length > 0x7f ? Buffer.from([0x80 | (length >> 7), length & 0x7f]) : Buffer.from([length]);
  const hex = Buffer.concat([Buffer.from('027f0201010103010c', 'hex'), vlu, Buffer.from([OPTION_NAME]), bytes, Buffer.from('011b00', 'hex')]).toString('hex');
  return parseGroupspec(`G:${hex}`);
}
