// Receive flows that are done (complete or refused): they leave the active flows at once, so
// they never hold the flow limit, and they linger, still answering retransmissions, so a sender
// whose last acknowledgement was lost is acknowledged instead of delivered to twice. Driven
// deterministically: fake clock, in-memory network.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { connectClient, rtmfpWorld } from '../support/rtmfp-world.js';
import type { IncomingFlow, Session } from '../../src/rtmfp/session.js';

/** A client session to a server session that accepts flows whose metadata is not "no" and keeps what they carry. */
async function connected() {
  const w = rtmfpWorld();
  const received: string[] = [];
  let far: Session | undefined;
  w.server.onSession = (s) => {
    far = s;
    s.onFlow = (flow) => {
      if (flow.metadata.toString() === 'no') return flow.reject(7);
      flow.onMessage = (m) => received.push(m.toString());
    };
  };
  const session = await connectClient(w);
  assert.ok(far, 'the server has the session');
  return { clock: w.clock, net: w.net, server: w.server, session, far, received };
}

test('a flow whose last acknowledgement was lost is acknowledged when its sender retransmits, and delivered once', async () => {
  const w = await connected();
  let serverSilent = true;
  w.net.policy = { drop: (from) => serverSilent && from.port === 1935 };
  const flow = w.session.openFlow(Buffer.from('yes'));
  flow.write(Buffer.from('only once'));
  flow.close();
  // Long enough for the server's session timer to fire (keepalive), where done flows used to be forgotten.
  await w.clock.advance(6_000);
  assert.deepEqual(w.received, ['only once']);
  assert.equal(w.far.activeRecvFlowCount, 0, 'the done flow left the active ones');
  assert.equal(w.far.lingeringRecvFlowCount, 1);
  assert.notEqual(flow.state, 'complete', 'the sender has had no acknowledgement yet');

  serverSilent = false;
  await w.clock.advance(30_000);
  assert.equal(flow.state, 'complete', 'a retransmission was acknowledged by the lingering flow');
  assert.deepEqual(w.received, ['only once'], 'not delivered again as a new flow');
  assert.equal(w.server.counters.unknownFlow, 0);

  await w.clock.advance(100_000);
  assert.equal(w.far.lingeringRecvFlowCount, 0, 'forgotten two minutes after it was done');
  assert.equal(w.far.state, 'open');
});

test('flows that finish as they arrive never meet the flow limit: 300 one-message flows opened at once all deliver', async () => {
  const w = await connected();
  const flows = Array.from({ length: 300 }, (_, i) => {
    const flow = w.session.openFlow(Buffer.from('yes'));
    flow.write(Buffer.from(`flow ${i}`));
    flow.close();
    return flow;
  });
  await w.clock.advance(1_000);
  assert.equal(w.received.length, 300);
  assert.deepEqual(new Set(w.received), new Set(flows.map((_, i) => `flow ${i}`)));
  assert.equal(w.server.counters.flowLimit, 0, 'no first fragment refused for the limit (each would wait for a retransmission)');
  assert.ok(flows.every((f) => f.state === 'complete'), 'every sender had its acknowledgement');
  assert.equal(w.far.activeRecvFlowCount, 0);
  assert.equal(w.far.lingeringRecvFlowCount, 256, 'lingering is bounded: the oldest done flows go first');
});

test('refused flows do not use up the flow limit: after 300 refused, an accepted flow still delivers', async () => {
  const w = await connected();
  const refused = Array.from({ length: 300 }, () => {
    const flow = w.session.openFlow(Buffer.from('no'));
    flow.write(Buffer.from('unwanted'));
    return flow;
  });
  await w.clock.advance(1_000);
  assert.ok(refused.every((f) => f.state === 'failed'), 'every refused sender heard of it (flow exception)');
  const wanted = w.session.openFlow(Buffer.from('yes'));
  wanted.write(Buffer.from('wanted'));
  await w.clock.advance(1_000);
  assert.deepEqual(w.received, ['wanted']);
  assert.equal(w.server.counters.flowLimit, 0);
  assert.equal(w.far.activeRecvFlowCount, 1);
});

test('a flow refused after it was done still answers, and is still forgotten after two minutes', async () => {
  const w = await connected();
  let incoming: IncomingFlow | undefined;
  w.far.onFlow = (flow) => {
    incoming = flow;
    flow.onMessage = (m) => w.received.push(m.toString());
  };
  const flow = w.session.openFlow(Buffer.from('yes'));
  flow.write(Buffer.from('done'));
  flow.close();
  await w.clock.advance(1_000);
  assert.equal(flow.state, 'complete');
  assert.equal(w.far.lingeringRecvFlowCount, 1);
  incoming!.reject(3); // the application changes its mind late: the flow owes an exception
  await w.clock.advance(1_000);
  await w.clock.advance(125_000);
  assert.equal(w.far.lingeringRecvFlowCount, 0, 'the owed exception went out, so nothing held it');
  assert.deepEqual(w.received, ['done']);
});
