import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import type { Address } from '../../src/rtmfp/address.js';

test('UDP port sends to numeric addresses at once and still resolves names', async () => {
  const a = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  const b = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  try {
    const got: string[] = [];
    const arrived = new Promise<void>((resolve) => {
      b.onDatagram((data: Buffer, from: Address) => {
        assert.equal(from.port, a.localAddress().port);
        got.push(data.toString());
        if (got.length === 3) resolve();
      });
    });
    const to = b.localAddress();
    a.send(Buffer.from('numeric'), to);
    a.send([Buffer.from('gath'), Buffer.from('ered')], to);
    a.send(Buffer.from('by name'), { host: 'localhost', port: to.port });
    await arrived;
    assert.deepEqual(got.sort(), ['by name', 'gathered', 'numeric']);
    assert.equal(a.sendErrors, 0);
  } finally {
    a.close();
    b.close();
  }
});
