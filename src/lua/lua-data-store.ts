// An app's persistent `data` table on disk: MessagePack (msgpackr; numbers stay numbers and nested
// tables stay tables, where MonaServer v1 gave every number back as a string), written so that a
// kill -9 at any moment leaves the old value or the new one, never a torn file: the new bytes go
// to a temporary file, which is fsynced, then renamed over the old one, and the folder fsynced.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pack, unpack } from 'msgpackr';

/** Where an app's data lives: under www/.data/ (dot folders are never apps). */
export function dataFile(www: string, appPath: string): string {
  return join(www, '.data', appPath, 'data.msgpack');
}

export function encodeData(value: unknown): Buffer {
  return pack(value);
}

/** The saved table, {} when there is none; a file that does not decode is an error (never silently emptied). */
export function loadData(file: string): Record<string, unknown> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const value: unknown = unpack(bytes);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value === undefined || value === null ? {} : { 1: value };
  return value as Record<string, unknown>;
}

/** Replaces `file` with `bytes` atomically and durably. */
export function saveAtomically(file: string, bytes: Uint8Array): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
