// Groupspecs and group IDs. Expected values are computed here with node:crypto from texts
// written out by hand, never with the code under test.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GroupspecError, parseGroupspec } from '../../src/client/group-spec.js';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();

test("librtmfp README's groupspec: version 2 (7F 02), so its ID is SHA-256 twice over the text before the final 00", () => {
  const spec = parseGroupspec('G:027f0201010103010c050e74657374011b00');
  assert.equal(spec.groupText, 'G:027f0201010103010c050e74657374011b');
  assert.equal(spec.version, 2);
  assert.equal(spec.name, 'test');
  assert.deepEqual(spec.groupId, sha256(sha256('G:027f0201010103010c050e74657374011b')));
  assert.equal(spec.groupIdHex, sha256(sha256('G:027f0201010103010c050e74657374011b')).toString('hex'));
  assert.deepEqual([...spec.options.keys()], [0x7f, 0x01, 0x03, 0x0c, 0x0e, 0x1b]);
});

test('a version-1 groupspec (no 7F option) is hashed once; what follows the terminating 00 (authorizations) is not part of the ID', () => {
  const spec = parseGroupspec('G:0101010c050e6c69766500');
  assert.equal(spec.version, 1);
  assert.equal(spec.name, 'live');
  assert.deepEqual(spec.groupId, sha256('G:0101010c050e6c697665'));
  const withAuth = parseGroupspec('G:0101010c050e6c697665001010abcdef');
  assert.deepEqual(withAuth.groupId, spec.groupId);
  assert.equal(withAuth.text, 'G:0101010c050e6c697665001010abcdef');
  // Version 1 written out (7F 01) is still hashed once.
  assert.deepEqual(parseGroupspec('G:027f01010c00').groupId, sha256('G:027f01010c'));
});

test('malformed groupspecs are refused with a one-line reason', () => {
  for (const [text, reason] of [
    ['027f0201010103010c00', /must begin with "G:"/],
    ['G:027f020101', /no terminating 00/],
    ['G:057f02', /runs past/],
    ['G:zz00', /no terminating 00/],
    ['G:' + '01'.repeat(3000) + '00', /too long/],
  ] as const) {
    assert.throws(() => parseGroupspec(text), (err: Error) => err instanceof GroupspecError && reason.test(err.message) && !err.message.includes('\n'), text.slice(0, 20));
  }
});
