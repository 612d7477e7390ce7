// The FLV that `covey play` writes, to a file or to stdout. Three things a user of a live
// recorder expects of it:
// - no file unless media came: the header, metadata and sequence headers wait in memory for the
//   first coded audio or video frame, so a play that fails before (refused, nothing published,
//   no media within --wait) leaves no empty file behind, nor truncates one that was there;
// - metadata that tells the truth: the publisher's onMetaData names its source's duration and
//   size, which are not the recording's (recording-metadata.ts). A file gets placeholders,
//   overwritten at the end with the recorded duration and size; stdout, which cannot be
//   rewritten, gets neither;
// - a wrong -o refused at once (checkOutputPath), before connecting.
import { closeSync, openSync, statSync, unlinkSync, createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { encodeFlvHeader, encodeFlvTag, FlvTagType } from '../codec/flv.js';
import { metadataForRecording } from '../codec/recording-metadata.js';
import { isVideoSequenceHeader } from '../codec/video-tag.js';
import { isAudioSequenceHeader } from '../codec/audio-tag.js';
import type { StreamFrameKind } from '../client/stream-client.js';
import { UsageError } from './exit.js';

const TAG_TYPES: Record<StreamFrameKind, number> = { audio: FlvTagType.Audio, video: FlvTagType.Video, data: FlvTagType.ScriptData };
/** Bytes from the start of a tag to its body (the FLV tag header). */
const TAG_HEADER_SIZE = 11;

/** True for AMF0 data starting with the string "onMetaData". */
function isOnMetaData(payload: Buffer): boolean {
  return payload.length > 13 && payload[0] === 2 && payload.readUInt16BE(1) === 10 && payload.toString('latin1', 3, 13) === 'onMetaData';
}

/** True for a coded audio or video frame: what counts as media having arrived (not metadata, not a sequence header). */
export function isCodedMedia(kind: StreamFrameKind, payload: Buffer): boolean {
  if (kind === 'video') return !isVideoSequenceHeader(payload);
  if (kind === 'audio') return !isAudioSequenceHeader(payload);
  return false;
}

/**
 * Throws a UsageError, one line, when `output` cannot be written: its folder missing or not a
 * folder, the path a folder, or no permission (tried for real: opened for appending, which
 * creates nothing that is not removed again and truncates nothing).
 */
export function checkOutputPath(output: string): void {
  if (output === '-') return;
  const path = resolve(output);
  const folder = dirname(path);
  let folderStat;
  try {
    folderStat = statSync(folder);
  } catch {
    throw new UsageError(`-o ${output}: no such folder ${folder}`);
  }
  if (!folderStat.isDirectory()) throw new UsageError(`-o ${output}: ${folder} is not a folder`);
  let existed = true;
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`-o ${output}: is a folder (name a file in it)`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    existed = false;
  }
  try {
    closeSync(openSync(path, 'a'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`-o ${output}: cannot write there (${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (code ?? (err as Error).message)})`);
  }
  if (!existed) unlinkSync(path);
}

export class FlvRecording {
  /** Coded audio and video frames written (or waiting to be). */
  mediaFrames = 0;
  /** Highest timestamp written, in ms from the recording's start. */
  mediaMs = 0;
  private out: NodeJS.WritableStream | undefined;
  /** Tags before the first coded frame: written when it comes, dropped if it never does. */
  private held: Buffer[] = [];
  /** Bytes handed to the output so far: where the next tag starts. */
  private position = 0;
  /** File offsets of the duration and filesize placeholders to patch at the end. */
  private readonly durationAt: number[] = [];
  private readonly filesizeAt: number[] = [];
  private writeError: Error | undefined;
  /** The last onMetaData as it came, to drop repeats. */
  private lastMetadata: Buffer | undefined;
  private readonly toFile: boolean;

  /** @param output a file path, or '-' for stdout. */
  constructor(readonly output: string) {
    this.toFile = output !== '-';
  }

  /** One frame, its timestamp already from the recording's start. */
  write(kind: StreamFrameKind, timestamp: number, payload: Buffer): void {
    let data = payload;
    let durationOffset: number | undefined;
    let filesizeOffset: number | undefined;
    if (kind === 'data') {
      // A publisher may send its onMetaData again unchanged (covey publish --loop does at each
      // loop): a repeat says nothing new, and FFmpeg reads an onMetaData after the start as a
      // third, subtitle stream.
      if (this.lastMetadata !== undefined && payload.equals(this.lastMetadata)) return;
      if (isOnMetaData(payload)) this.lastMetadata = Buffer.from(payload);
      const metadata = metadataForRecording(payload, this.toFile);
      if (metadata !== undefined) ({ payload: data, durationOffset, filesizeOffset } = metadata);
    }
    const tag = encodeFlvTag({ type: TAG_TYPES[kind], timestamp, data });
    if (this.out === undefined && this.held.length === 0) this.append(encodeFlvHeader({ hasAudio: true, hasVideo: true }));
    const bodyAt = this.position + TAG_HEADER_SIZE;
    if (durationOffset !== undefined) this.durationAt.push(bodyAt + durationOffset);
    if (filesizeOffset !== undefined) this.filesizeAt.push(bodyAt + filesizeOffset);
    if (kind !== 'data') this.mediaMs = Math.max(this.mediaMs, timestamp);
    if (isCodedMedia(kind, payload)) this.mediaFrames++;
    this.append(tag);
  }

  private append(bytes: Buffer): void {
    this.position += bytes.length;
    if (this.out === undefined) {
      this.held.push(bytes);
      if (this.mediaFrames === 0) return;
      this.open();
      for (const b of this.held) this.out!.write(b);
      this.held = [];
      return;
    }
    this.out.write(bytes);
  }

  private open(): void {
    this.out = this.toFile ? createWriteStream(this.output) : process.stdout;
    this.out.on('error', (err: Error) => (this.writeError ??= err));
  }

  /**
   * Ends the recording: a file is closed with its metadata's duration (seconds, the last media
   * timestamp) and filesize patched in. Resolves false when nothing was written (no media came):
   * then there is no file. Rejects when the output could not be written.
   */
  async finish(): Promise<boolean> {
    this.held = [];
    const out = this.out;
    if (out === undefined) return false;
    if (!this.toFile) return this.checked(true);
    await new Promise<void>((done) => (out as WriteStream).end(() => done()));
    this.checked(true);
    if (this.durationAt.length + this.filesizeAt.length === 0) return true;
    const file = await open(this.output, 'r+');
    try {
      const number = Buffer.alloc(8);
      number.writeDoubleBE(this.mediaMs / 1000);
      for (const at of this.durationAt) await file.write(number, 0, 8, at);
      number.writeDoubleBE(this.position);
      for (const at of this.filesizeAt) await file.write(number, 0, 8, at);
    } finally {
      await file.close();
    }
    return true;
  }

  private checked(result: boolean): boolean {
    if (this.writeError) throw new Error(`cannot write ${this.toFile ? this.output : 'to stdout'}: ${this.writeError.message}`);
    return result;
  }
}
