// Persistent shared objects on disk: one msgpack file per object under
// <dir>/<app>/<name>.so (both URI-encoded; long ones cut and hashed, see fileName), holding
// its version and slots. Written so that a kill -9 at any moment leaves the old file or the new
// one, never a torn or empty one: the new state goes to a temporary file, which is fsynced, then
// renamed over the old (rename is atomic on POSIX file systems), then the folder is fsynced so
// the rename itself survives a power cut.
// Red5 overwrites its files in place (a crash mid-write tears them) and does not keep the
// version; FMS flushes when the last user leaves. Here a burst of changes costs one write: the
// first change of an object arms a timer (writeDelayMs), later ones only mark it dirty, and the
// snapshot is taken when the write starts. Objects are read lazily, on their first use.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { addExtension, Packr } from 'msgpackr';
import {
  AmfDictionary,
  AmfEcmaArray,
  AmfExternalizable,
  AmfTypedObject,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
} from '../codec/amf-types.js';
import type { Logger } from '../util/log.js';
import type { SharedObjectSnapshot } from './shared-object.js';
import type { SharedObjectStore } from './shared-objects.js';

// The AMF value classes as msgpack extensions (types 0x60-0x66), so values read back exactly as
// the codecs gave them (AMF3-only types included, which Red5's AMF0 files cannot hold: Red5 #75).
// Plain values (numbers, strings, booleans, null, undefined, Date, Buffer, arrays, objects) are
// msgpack's own. One caveat of msgpackr: a property named "__proto__" inside a value comes back
// as "__proto_" (its guard against prototype pollution); slot names are stored apart, exactly.
addExtension({ Class: AmfTypedObject, type: 0x60, write: (o: AmfTypedObject) => [o.className, o.values, o.sealedMemberNames ?? null, o.dynamic], read: ([c, v, s, d]: [string, Record<string, unknown>, string[] | null, boolean]) => new AmfTypedObject(c, v, s ?? undefined, d) });
addExtension({ Class: AmfEcmaArray, type: 0x61, write: (o: AmfEcmaArray) => o.values, read: (v: Record<string, unknown>) => new AmfEcmaArray(v) });
addExtension({ Class: AmfXmlDocument, type: 0x62, write: (o: AmfXmlDocument) => o.xml, read: (x: string) => new AmfXmlDocument(x) });
addExtension({ Class: AmfXml, type: 0x63, write: (o: AmfXml) => o.xml, read: (x: string) => new AmfXml(x) });
addExtension({ Class: AmfVector, type: 0x64, write: (o: AmfVector) => [o.kind, o.items, o.fixed, o.objectTypeName], read: ([k, i, f, t]: [AmfVector['kind'], unknown[], boolean, string]) => new AmfVector(k, i, f, t) });
addExtension({ Class: AmfDictionary, type: 0x65, write: (o: AmfDictionary) => [[...o.entries], o.weakKeys], read: ([e, w]: [Array<[unknown, unknown]>, boolean]) => new AmfDictionary(new Map(e), w) });
addExtension({ Class: AmfExternalizable, type: 0x66, write: (o: AmfExternalizable) => [o.className, o.body], read: ([c, b]: [string, unknown]) => new AmfExternalizable(c, b) });

const packr = new Packr({ useRecords: false, moreTypes: true, structuredClone: false });

/** The file's content: a format number, then the object. Slots as pairs, so any slot name is exact. */
interface StoredObject {
  format: 1;
  version: number;
  slots: Array<[string, unknown]>;
}

export function encodeSnapshot(snapshot: SharedObjectSnapshot): Buffer {
  const stored: StoredObject = { format: 1, version: snapshot.version, slots: Object.entries(snapshot.slots) };
  return packr.pack(stored);
}

export function decodeSnapshot(bytes: Buffer): SharedObjectSnapshot {
  const stored = packr.unpack(bytes) as Partial<StoredObject> | undefined;
  if (stored?.format !== 1 || typeof stored.version !== 'number' || !Array.isArray(stored.slots)) throw new Error('not a Covey shared object file (format 1)');
  const slots: Record<string, unknown> = {};
  for (const [key, value] of stored.slots) Object.defineProperty(slots, key, { value, enumerable: true, writable: true, configurable: true });
  return { version: stored.version, slots };
}

/**
 * Bytes of a URI-encoded name kept as the file name. File systems take 255 bytes a name, and a
 * client names objects freely (up to 65,535 bytes; a CJK character costs 9 encoded; app names
 * are checked at connect: 64 characters, no leading dot, connect-request.ts):
 * beyond this, the name is cut and the SHA-256 of the whole name follows, so that every name has
 * a file (120 + 1 + 64 bytes, plus ".so" and the temporary suffix, stays under 255).
 */
const MAX_ENCODED_NAME = 120;

function fileName(name: string): string {
  const encoded = encodeURIComponent(name);
  if (encoded.length <= MAX_ENCODED_NAME) return encoded;
  return `${encoded.slice(0, MAX_ENCODED_NAME)}~${createHash('sha256').update(name).digest('hex')}`;
}

export interface FileStoreOptions {
  dir: string;
  log: Logger;
  /** How long the first change of an object waits for others before it is written (ms). */
  writeDelayMs?: number;
}

/** A burst is 100 ms of changes: one write instead of hundreds, while a crash loses at most that. */
export const DEFAULT_WRITE_DELAY_MS = 100;

interface Dirty {
  snapshot: () => SharedObjectSnapshot;
  /** A write of this object is under way. */
  writing: boolean;
  /** Changed since the write under way took its snapshot. */
  again: boolean;
}

export class FileSharedObjectStore implements SharedObjectStore {
  readonly dir: string;
  /** Files written so far (tests and stats). */
  writes = 0;
  private readonly log: Logger;
  private readonly delayMs: number;
  private readonly dirty = new Map<string, Dirty>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private tmpCounter = 0;

  constructor(options: FileStoreOptions) {
    this.dir = options.dir;
    this.log = options.log;
    this.delayMs = options.writeDelayMs ?? DEFAULT_WRITE_DELAY_MS;
    mkdirSync(this.dir, { recursive: true });
  }

  path(app: string, name: string): string {
    return join(this.dir, fileName(app), `${fileName(name)}.so`);
  }

  load(app: string, name: string): SharedObjectSnapshot | undefined {
    const file = this.path(app, name);
    // Not yet written: what is in memory is the newest state.
    const pending = this.dirty.get(file);
    if (pending !== undefined) return pending.snapshot();
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return decodeSnapshot(bytes);
    } catch (err) {
      // Cannot happen through our writes; a hand-edited or foreign file is kept aside, not lost.
      const aside = `${file}.unreadable-${Date.now()}`;
      renameSync(file, aside);
      this.log.error({ file, movedTo: aside, reason: (err as Error).message }, 'shared object file unreadable: set aside, the object starts empty');
      return undefined;
    }
  }

  changed(app: string, name: string, snapshot: () => SharedObjectSnapshot): void {
    const file = this.path(app, name);
    const entry = this.dirty.get(file);
    if (entry !== undefined) {
      entry.snapshot = snapshot;
      if (entry.writing) entry.again = true;
      return;
    }
    this.dirty.set(file, { snapshot, writing: false, again: true });
    this.timer ??= setTimeout(() => this.writeDirty(), this.delayMs);
  }

  /** Writes everything still dirty now, and waits for every write (server shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.dirty.size > 0 || this.inFlight.size > 0) {
      this.writeDirty();
      await Promise.all([...this.inFlight]);
    }
  }

  private writeDirty(): void {
    this.timer = undefined;
    for (const [file, entry] of this.dirty) {
      if (entry.writing || !entry.again) continue;
      entry.writing = true;
      entry.again = false;
      const write = this.write(file, entry.snapshot()).then(
        () => {
          entry.writing = false;
          // Changed meanwhile: another write, after the delay; else the file is the state.
          if (entry.again) this.timer ??= setTimeout(() => this.writeDirty(), this.delayMs);
          else if (this.dirty.get(file) === entry) this.dirty.delete(file);
        },
        (err: Error) => {
          entry.writing = false;
          entry.again = true;
          this.log.error({ file, err: err.message }, 'shared object not saved; retrying in 1 s');
          this.timer ??= setTimeout(() => this.writeDirty(), 1_000);
        },
      );
      this.inFlight.add(write);
      void write.finally(() => this.inFlight.delete(write));
    }
  }

  private async write(file: string, snapshot: SharedObjectSnapshot): Promise<void> {
    const bytes = encodeSnapshot(snapshot);
    const folder = join(file, '..');
    await mkdir(folder, { recursive: true });
    const tmp = `${file}.${process.pid}.${++this.tmpCounter}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    // The rename is an entry of the folder: sync it too.
    const dirFd = openSync(folder, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.writes++;
  }
}
