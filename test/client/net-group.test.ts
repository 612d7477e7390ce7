// NetGroup membership in Covey's client, over real UDP on 127.0.0.1 through a real Covey server:
// the join (its group ID checked against one computed here from the groupspec text), the
// server's introductions, direct P2P sessions with the group handshake, a wrong group key,
// leaving, and each way a join fails.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestServer, until, type TestServer } from '../support/test-server.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { NetGroup, NetGroupJoinError } from '../../src/client/net-group.js';
import { parseGroupspec } from '../../src/client/group-spec.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { encodeTcMetadata, parseTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../../src/codec/tc-message.js';
import { decodeCommand, encodeCommand } from '../../src/codec/flash-command.js';

/** librtmfp README's groupspec: version 2, so its ID is SHA-256 twice. */
const GROUPSPEC = 'G:027f0201010103010c050e74657374011b00';
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();
const GROUP_ID_HEX = sha256(sha256('G:027f0201010103010c050e74657374011b')).toString('hex');

let server: TestServer;
/** Whether the application refuses every join (flipped by one test). */
let refuseJoins = false;

before(async () => {
  server = await startTestServer({
    flash: {
      hooks: () => ({ onJoinGroup: () => (refuseJoins ? 'joins closed by the application' : undefined) }),
      groups: { maxMembersPerGroup: 8, joinsPerSecondPerClient: 100 },
    },
  });
});
after(() => server.close());

const clients: RtmfpClient[] = [];
async function connect(): Promise<RtmfpClient> {
  const c = await RtmfpClient.connect(server.rtmfpUrl('live'));
  clients.push(c);
  return c;
}
function closeAll(): void {
  for (const c of clients.splice(0)) c.close();
}

const serverGroup = () => server.flash.groups.group('live', GROUP_ID_HEX);

test('two clients join one group: the server holds the ID hashed from the text, and each ends as the other\'s neighbour over a direct session', async () => {
  try {
    const a = await connect();
    const b = await connect();
    const ga = await NetGroup.join(a, GROUPSPEC);
    assert.equal(ga.spec.groupIdHex, GROUP_ID_HEX);
    assert.equal(serverGroup()?.size, 1, 'the server filed us under the ID computed here from the text');
    const gb = await NetGroup.join(b, GROUPSPEC);
    assert.equal(serverGroup()?.size, 2);
    await until(() => ga.neighbors.length === 1 && gb.neighbors.length === 1, 8000, 'both neighbours');
    assert.deepEqual(ga.neighbors, [b.peerId]);
    assert.deepEqual(gb.neighbors, [a.peerId]);
    assert.ok(!ga.introduced.includes(a.peerId) && !gb.introduced.includes(b.peerId), 'no one is introduced to itself');
    // The session is direct: its far end is the other client's own socket, not the server.
    const session = b.peers.get(a.peerId)!;
    assert.deepEqual(session.address, { host: '127.0.0.1', port: a.endpoint.localAddress.port });
    await until(() => ga.hasBegun(b.peerId) && gb.hasBegun(a.peerId), 5000, '0E both ways');
    assert.equal(ga.refused.size + gb.refused.size, 0);
  } finally {
    closeAll();
  }
});

test('six clients join one group: every one ends with all the others as neighbours', async () => {
  try {
    const members = await Promise.all(Array.from({ length: 6 }, () => connect()));
    const groups: NetGroup[] = [];
    // One after another, as people arrive: the server introduces each newcomer to the members before it.
    for (const c of members) groups.push(await NetGroup.join(c, GROUPSPEC));
    await until(() => groups.every((g) => g.neighbors.length === 5), 15_000, 'a full mesh of 6');
    for (const [i, g] of groups.entries()) {
      const expected = members.filter((_, j) => j !== i).map((c) => c.peerId).sort();
      assert.deepEqual(g.neighbors.sort(), expected);
      for (const peerId of g.neighbors) assert.ok(members[i]!.peers.get(peerId)?.isOpen, 'a direct session to each neighbour');
    }
  } finally {
    closeAll();
  }
});

test('a peer with the right group ID but the wrong groupspec is refused by the recipient, and refuses in turn', async () => {
  try {
    const a = await connect();
    const b = await connect();
    const ga = await NetGroup.join(a, GROUPSPEC);
    // B knows the group ID (all a server sees) but not the groupspec text its key is made with.
    const forged = { ...parseGroupspec(GROUPSPEC), groupText: 'G:027f0201010103010c050e74657374011c' };
    const gb = await NetGroup.join(b, forged);
    await until(() => ga.refused.has(b.peerId) && gb.refused.has(a.peerId), 8000, 'refusals on both sides');
    assert.match(ga.refused.get(b.peerId)!, /wrong group key/);
    assert.match(gb.refused.get(a.peerId)!, /wrong group key|refused our group handshake/);
    assert.deepEqual(ga.neighbors, []);
    assert.deepEqual(gb.neighbors, []);
  } finally {
    closeAll();
  }
});

test('leaving closes the group flows: the server forgets the member and its neighbours drop it, the rest stay', async () => {
  try {
    const [a, b, c] = [await connect(), await connect(), await connect()];
    const [ga, gb, gc] = [await NetGroup.join(a, GROUPSPEC), await NetGroup.join(b, GROUPSPEC), await NetGroup.join(c, GROUPSPEC)];
    await until(() => [ga, gb, gc].every((g) => g.neighbors.length === 2), 10_000, 'a mesh of 3');
    const gone: string[] = [];
    ga.onNeighborDisconnect = (peerId, reason) => gone.push(`${peerId}:${reason}`);
    let ended = '';
    gc.onEnd = (reason) => (ended = reason);
    gc.leave();
    assert.equal(ended, 'left the group');
    assert.deepEqual(gc.neighbors, []);
    await until(() => ga.neighbors.length === 1 && gb.neighbors.length === 1, 5000, 'the others drop C');
    assert.deepEqual(gone, [`${c.peerId}:left the group`]);
    assert.deepEqual(ga.neighbors, [b.peerId]);
    await until(() => serverGroup()?.size === 2, 5000, 'the server forgets C');
    assert.equal(serverGroup()?.member(c.peerId), undefined);
    // C's connection to the server is untouched.
    assert.equal(c.closedReason, undefined);
  } finally {
    closeAll();
  }
});

test("a member whose connection closes is dropped by its neighbours when its session ends; its groups end", async () => {
  try {
    const a = await connect();
    const b = await connect();
    const ga = await NetGroup.join(a, GROUPSPEC);
    const gb = await NetGroup.join(b, GROUPSPEC);
    await until(() => ga.neighbors.length === 1, 8000, 'neighbours');
    let ended = '';
    gb.onEnd = (reason) => (ended = reason);
    b.close();
    assert.match(ended, /connection closed/);
    await until(() => ga.neighbors.length === 0, 5000, 'A drops B');
    await until(() => serverGroup()?.size === 1, 5000, 'the server forgets B');
  } finally {
    closeAll();
  }
});

test('a join the server refuses fails with NetGroup.Connect.Rejected; the same connection can join once it is allowed', async () => {
  try {
    const a = await connect();
    refuseJoins = true;
    await assert.rejects(NetGroup.join(a, GROUPSPEC), (err: Error) => {
      assert.ok(err instanceof NetGroupJoinError);
      assert.equal(err.code, 'NetGroup.Connect.Rejected');
      assert.match(err.message, /the server refused to join group [0-9a-f]{16}/);
      return true;
    });
    assert.equal(serverGroup(), undefined);
    refuseJoins = false;
    const g = await NetGroup.join(a, GROUPSPEC);
    assert.equal(serverGroup()?.size, 1);
    await assert.rejects(NetGroup.join(a, GROUPSPEC), /already in group/);
    g.leave();
  } finally {
    refuseJoins = false;
    closeAll();
  }
});

test('a malformed groupspec and a closed connection fail the join with one line each', async () => {
  try {
    const a = await connect();
    await assert.rejects(NetGroup.join(a, 'G:7f02'), /groupspec/);
    a.close();
    await assert.rejects(NetGroup.join(a, GROUPSPEC), (err: Error) => err instanceof NetGroupJoinError && /connection closed/.test(err.message));
  } finally {
    closeAll();
  }
});

/**
 * An RTMFP server without NetGroups, as Covey was before them (and Cumulus in its issue #16):
 * it takes connect and refuses every other flow.
 */
async function startServerWithoutGroups(): Promise<{ url: string; close: () => void }> {
  const port = await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 });
  const endpoint = new RtmfpEndpoint({ port, crypto: new FlashCrypto({ server: true }), acceptSessions: true });
  endpoint.onSession = (session) => {
    session.onFlow = (flow) => {
      if (parseTcMetadata(flow.metadata)?.streamId !== 0) {
        flow.reject();
        return;
      }
      const reply = session.openFlow(encodeTcMetadata(0), { returnFlowId: flow.flowId });
      flow.onMessage = (message) => {
        const m = parseTcMessage(message);
        if (m === undefined) return;
        const command = decodeCommand(m.type, m.body);
        if (command.name !== 'connect') return;
        const { type, payload } = encodeCommand(0, '_result', command.transactionId, { fmsVer: 'test' }, { level: 'status', code: 'NetConnection.Connect.Success' });
        reply.write(encodeTcMessage(type, 0, payload));
      };
    };
  };
  return { url: `rtmfp://127.0.0.1:${endpoint.localAddress.port}/live`, close: () => endpoint.close() };
}

test('joining through a server without NetGroup support fails with NetGroup.Connect.Rejected, at once', async () => {
  const bare = await startServerWithoutGroups();
  const client = await RtmfpClient.connect(bare.url);
  try {
    const t0 = Date.now();
    await assert.rejects(NetGroup.join(client, GROUPSPEC, { timeoutMs: 8000 }), (err: Error) => err instanceof NetGroupJoinError && err.code === 'NetGroup.Connect.Rejected');
    assert.ok(Date.now() - t0 < 4000, 'refused, not timed out');
  } finally {
    client.close();
    bare.close();
  }
});
