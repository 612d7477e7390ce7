// The layering rule of the developers' guide, checked on every import in src/ (type-only imports
// too: a type from an upper layer ties the lower one to it as much as a value does). Each layer
// knows only those below it; the client stands beside the server and knows none of it.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src', import.meta.url));

/**
 * The part of src/ a file belongs to: its top folder, or for a file directly in src/ its name
 * without the extension ('server', 'server-config').
 */
function partOf(file: string): string {
  const [first, second] = relative(src, file).split(/[\\/]/);
  return second === undefined ? first!.replace(/\.[cm]?[jt]s$/, '') : first!;
}

/** Parts each part must not import from. A part not listed here (cli, the top) may import anything. */
const SERVER_SIDE = ['flash', 'rtmfp-flash', 'rtmp-flash', 'lua', 'server', 'server-config', 'cli'];
const forbidden: Record<string, { only?: string[]; not?: string[] }> = {
  codec: { only: ['codec'] },
  util: { only: ['util'] },
  rtmfp: { only: ['codec', 'rtmfp', 'util'] },
  rtmp: { only: ['codec', 'rtmp', 'util'] },
  flash: { not: ['rtmfp-flash', 'rtmp-flash', 'lua', 'server', 'server-config', 'cli', 'client'] },
  'rtmfp-flash': { not: ['rtmp-flash', 'server', 'server-config', 'cli', 'client'] },
  'rtmp-flash': { not: ['rtmfp-flash', 'server', 'server-config', 'cli', 'client'] },
  lua: { not: ['rtmfp-flash', 'rtmp-flash', 'server', 'server-config', 'cli', 'client'] },
  server: { not: ['cli', 'client'] },
  'server-config': { not: ['cli', 'client', 'rtmfp-flash', 'rtmp-flash', 'server'] },
  client: { not: SERVER_SIDE },
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.[cm]?ts$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The relative module specifiers a file imports or re-exports, static or dynamic. */
function relativeImports(text: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from '...', export * from '...'
    /\bimport\s*['"]([^'"]+)['"]/g, // import '...'
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
  ];
  for (const pattern of patterns) {
    for (const m of text.matchAll(pattern)) if (m[1]!.startsWith('.')) specs.push(m[1]!);
  }
  return specs;
}

test('the import scanner sees every form of import', () => {
  const text = [
    "import { a } from '../flash/a.js';",
    "import type {\n  B,\n  C,\n} from '../cli/b.js';",
    "export { d } from './d.js';",
    "export * from '../server.js';",
    "import '../rtmp-flash/side-effect.js';",
    "const m = await import('../lua/e.js');",
    "import { pino } from 'pino';",
  ].join('\n');
  assert.deepEqual(relativeImports(text).sort(), ['../cli/b.js', '../flash/a.js', '../lua/e.js', '../rtmp-flash/side-effect.js', '../server.js', './d.js']);
});

test('each layer imports only from the layers below it (src/client from none of the server)', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = partOf(file);
    const rule = forbidden[from];
    if (!rule) continue;
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(src)) continue;
      const to = partOf(target);
      if (to === from) continue;
      const bad = rule.only ? !rule.only.includes(to) : rule.not!.includes(to);
      if (bad) violations.push(`src/${relative(src, file)} imports ${spec} (${from} must not depend on ${to})`);
    }
  }
  assert.deepEqual(violations, [], `layering violations:\n  ${violations.join('\n  ')}`);
});

test('the rules name every part of src/ but the command line, so a new folder gets a rule', () => {
  const parts = new Set(sourceFiles(src).map(partOf));
  const unruled = [...parts].filter((p) => !(p in forbidden) && p !== 'cli');
  assert.deepEqual(unruled, [], `add a rule for ${unruled.join(', ')} in test/layering.test.ts`);
});
