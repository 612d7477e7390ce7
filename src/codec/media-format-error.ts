/**
 * Thrown for malformed or truncated media data: FLV files and tags, RTMP audio/video payloads
 * (which are FLV tag bodies), and codec configuration records.
 */
export class MediaFormatError extends Error {
  override name = 'MediaFormatError';
  constructor(
    message: string,
    /** Byte offset where the problem was found: in the file for FLV streams, else in the payload. */
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`, options);
  }
}
