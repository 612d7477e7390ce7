// The NetGroup peer-list report 0A against librtmfp's layout (NetGroup::sendGroupReport, research
// file netgroup.md §5.2), written out byte by byte here, and its parser's refusals.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { encodeGroupReport, parseGroupReport } from '../../src/client/group-report.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const peerA = 'aa'.repeat(32);

test('0A: recipient address option 0D, sender addresses option 0A, 00, then per peer 22 21 0F + ID, seconds, addresses, 00', () => {
  const message = encodeGroupReport({
    recipientAddress: { host: '10.0.0.2', port: 1935, origin: 2 },
    senderAddresses: [
      { host: '192.0.2.1', port: 1935, origin: 3 },
      { host: '10.0.0.1', port: 5000, origin: 1 },
    ],
    peers: [{ peerId: peerA, secondsSinceHeard: 200, addresses: [{ host: '10.0.0.9', port: 6000, origin: 2 }] }],
  });
  const expected = Buffer.concat([
    hex('0a  08 0d 02 0a000002 078f'),
    hex('0f 0a 03 c0000201 078f 01 0a000001 1388  00'),
    hex('22 21 0f'),
    Buffer.from(peerA, 'hex'),
    hex('81 48  08 0a 02 0a000009 1770  00'),
  ]);
  assert.deepEqual(message, expected);
  assert.deepEqual(parseGroupReport(message), {
    recipientAddress: { host: '10.0.0.2', port: 1935, origin: 2 },
    senderAddresses: [
      { host: '192.0.2.1', port: 1935, origin: 3 },
      { host: '10.0.0.1', port: 5000, origin: 1 },
    ],
    peers: [{ peerId: peerA, secondsSinceHeard: 200, addresses: [{ host: '10.0.0.9', port: 6000, origin: 2 }] }],
  });
});

test('a report with no peers, and IPv6 addresses, round-trips; truncations and wrong markers are refused', () => {
  const report = { recipientAddress: { host: '::1', port: 9, origin: 2 }, senderAddresses: [{ host: '2001:db8::1', port: 10, origin: 1 }], peers: [] };
  const message = encodeGroupReport(report);
  assert.deepEqual(parseGroupReport(message), report);
  const full = encodeGroupReport({ ...report, peers: [{ peerId: peerA, secondsSinceHeard: 1, addresses: [] }] });
  for (let n = 0; n < full.length - 1; n++) {
    const parsed = parseGroupReport(full.subarray(0, n));
    // Cut right after the sender's part: a report of no peers; anywhere else: refused.
    if (n === message.length || n === message.length - 1) continue;
    assert.equal(parsed, undefined, `first ${n} bytes`);
  }
  const wrong = Buffer.from(message);
  wrong[2] = 0x0e;
  assert.equal(parseGroupReport(wrong), undefined);
});
