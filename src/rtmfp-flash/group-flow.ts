// A client's NetGroup flow (metadata 'G' 'C'): its first message joins a group; introductions
// to other members go back as `0B` + peer ID messages on a flow of ours that return-associates
// with it (MonaServer2, Cumulus and librtmfp agree on this shape, research file §4.2-4.3);
// closing the flow leaves the group. A refused join rejects the flow, which is what Flash
// reports as NetGroup.Connect.Rejected (Cumulus #16).
import { createHash } from 'node:crypto';
import { encodeGroupMember, GROUP_FLOW_METADATA, parseGroupJoin } from '../codec/group-control.js';
import type { FlashClient } from '../flash/flash-client.js';
import { JoinRefused, type GroupMembership } from '../flash/group-registry.js';
import type { SendFlow } from '../rtmfp/send-flow.js';
import type { IncomingFlow, Session } from '../rtmfp/session.js';
import { FlashFlowPriority } from '../rtmfp/flash-flow-priority.js';

/** Takes over a client's group flow: the join, the introductions, the leave. */
export function acceptGroupFlow(flow: IncomingFlow, session: Session, client: FlashClient): void {
  const log = client.log;
  const registry = client.server.groups;
  let membership: GroupMembership | undefined;
  /** Ours, opened with the first introduction; null once the client refused it. */
  let introductions: SendFlow | null | undefined;
  const sink = {
    introduce(peerId: Buffer): void {
      if (introductions === null || session.state !== 'open') return;
      if (introductions === undefined) {
        const opened = session.openFlow(GROUP_FLOW_METADATA, { returnFlowId: flow.flowId, priority: FlashFlowPriority.command });
        opened.onRejected = (code) => {
          // The client wants no introductions on this group flow; it stays a member.
          log.debug({ code }, 'client rejected our group flow');
          introductions = null;
        };
        introductions = opened;
      }
      introductions.write(encodeGroupMember(peerId));
    },
  };
  flow.onMessage = (message) => {
    if (membership !== undefined) {
      // Flash says nothing more on this flow after the join; ignore whatever comes.
      if (log.isLevelEnabled('trace')) log.trace({ length: message.length, first: message[0] }, 'message on a joined group flow ignored');
      return;
    }
    const join = parseGroupJoin(message);
    if (join === undefined) {
      log.debug({ message: message.subarray(0, 48).toString('hex') }, 'group flow without a join rejected');
      flow.reject();
      return;
    }
    // The older join carries the groupspec text, which the server hashes once into the ID that
    // newer clients send themselves (MonaServer2 RTMFPSession.cpp:106-141, Cumulus FlowGroup.cpp).
    const groupId = 'groupId' in join ? join.groupId.toString('hex') : createHash('sha256').update(join.groupspec).digest('hex');
    const result = registry.join(client, groupId, Buffer.from(session.peerId, 'hex'), sink);
    if (result instanceof JoinRefused) {
      flow.reject();
      return;
    }
    membership = result;
  };
  flow.onEnd = () => {
    if (membership !== undefined) registry.leave(membership, 'group flow closed');
    if (introductions) introductions.close();
    introductions = null;
  };
}
