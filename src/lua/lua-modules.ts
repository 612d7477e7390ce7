// Where `require`, `dofile` and `loadfile` find a script's files: only Lua source text under
// www/, never a native module, never outside the tree (a `..`, an absolute path, a dot folder such
// as www/.data, or a symbolic link leading out are all refused with one line saying so).
//
// A name is looked for, as MonaServer does, next to the file that asks (MonaServer2 resolves
// relative to the calling script, Script::Resolve), then in the app's own folder and its parents'
// up to www/ (the v1 manual: a search walks up through the parent apps). `require` takes module
// names ("lib.util", "lib/util" or "lib/util.lua": www/<app>/lib/util.lua, or lib/util/init.lua);
// dofile and loadfile take a file path ("lib/setup.lua").
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** A source file larger than this is refused (a script, not data: the state's memory is shared). */
export const MAX_SOURCE_BYTES = 1024 * 1024;
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

export interface ResolvedSource {
  file: string;
  /** The chunk name errors show: "@" and the path from www/'s parent folder ("@www/live/lib/util.lua"). */
  chunkName: string;
}

export class ScriptFiles {
  private readonly www: string;
  private readonly wwwReal: string;
  private readonly base: string;

  constructor(www: string) {
    this.www = resolve(www);
    this.wwwReal = realpathSync(www);
    this.base = dirname(this.www);
  }

  /**
   * The file `name` names for app `appPath` ("" for the root), asked from `caller` (Lua's
   * "file:line" of the calling code, relative to www/'s parent; "" when unknown). Throws a
   * one-line Error when there is none or it is not allowed.
   */
  resolve(appPath: string, caller: string, name: string, kind: 'module' | 'file'): ResolvedSource {
    const what = kind === 'module' ? 'require' : 'dofile/loadfile';
    if (name === '' || name.includes('\0')) throw new Error(`${what}: an empty name`);
    if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) throw new Error(`${what}: ${name} is an absolute path; scripts reach only files under www/, named relative to the app`);
    let path = name.replace(/\\/g, '/');
    if (kind === 'module') {
      path = path.replace(/\.lua$/, '');
      if (!path.includes('/')) path = path.replace(/\./g, '/');
    }
    const segments = path.split('/');
    for (const s of segments) {
      if (s === '..') throw new Error(`${what}: ${name} leads outside the app (".." is not allowed)`);
      if (!SEGMENT.test(s)) throw new Error(`${what}: ${name} is not a valid name (folders and files of letters, digits, "_", "-" and ".", not starting with ".")`);
    }
    const rel = segments.join(sep);
    const candidates = kind === 'module' ? [`${rel}.lua`, join(rel, 'init.lua')] : [rel];
    const searched: string[] = [];
    for (const dir of this.searchPath(appPath, caller)) {
      searched.push(relative(this.base, dir) || '.');
      for (const candidate of candidates) {
        const file = join(dir, candidate);
        let size: number;
        try {
          const st = statSync(file);
          if (!st.isFile()) continue;
          size = st.size;
        } catch {
          continue;
        }
        const real = realpathSync(file);
        if (real !== this.wwwReal && !real.startsWith(this.wwwReal + sep)) throw new Error(`${what}: ${name} leads outside www/ (${file} is a link to ${real})`);
        if (size > MAX_SOURCE_BYTES) throw new Error(`${what}: ${name} is ${size} bytes, more than the ${MAX_SOURCE_BYTES} a script may be`);
        return { file, chunkName: `@${relative(this.base, file)}` };
      }
    }
    const looked = kind === 'module' ? `${segments.join('/')}.lua or ${segments.join('/')}/init.lua` : segments.join('/');
    throw new Error(`${what}: ${name} not found (looked for ${looked} in ${searched.join(', ')})`);
  }

  read(file: string): string {
    return readFileSync(file, 'utf8');
  }

  /** The calling file's folder when it lies under www/, then the app's folder and its parents' up to www/. */
  private searchPath(appPath: string, caller: string): string[] {
    const dirs: string[] = [];
    const src = caller.replace(/:\d+$/, '');
    // Lua elides long names with "..."; such a caller is skipped, the app's folders remain.
    if (src !== '' && !src.startsWith('...') && !src.startsWith('[')) {
      const dir = dirname(join(this.base, src));
      if (dir === this.www || dir.startsWith(this.www + sep)) dirs.push(dir);
    }
    const parts = appPath === '' ? [] : appPath.split('/');
    for (let n = parts.length; n >= 0; n--) {
      const dir = join(this.www, ...parts.slice(0, n));
      if (!dirs.includes(dir)) dirs.push(dir);
    }
    return dirs;
  }
}
