import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatHostPort, unmapIPv4 } from '../../src/util/host-port.js';
import { formatAddress } from '../../src/rtmfp/address.js';

test('addresses are written host:port, IPv6 in brackets, IPv4-mapped as IPv4', () => {
  assert.equal(formatHostPort('127.0.0.1', 1935), '127.0.0.1:1935');
  assert.equal(formatHostPort('::ffff:127.0.0.1', 1935), '127.0.0.1:1935');
  assert.equal(formatHostPort('::1', 1935), '[::1]:1935');
  assert.equal(formatHostPort('fe80::1%eth0', 80), '[fe80::1%eth0]:80');
  assert.equal(formatHostPort('::ffff:7f00:1', 1), '[::ffff:7f00:1]:1', 'only the dotted form is a mapped IPv4 address as sockets report it');
  assert.equal(unmapIPv4('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(formatAddress({ host: '::ffff:192.0.2.7', port: 9 }), '192.0.2.7:9', 'the RTMFP engine writes them the same way');
});
