// A bare Flash client driven with the engine, for NetGroup tests of the server: its own UDP
// socket and certificate (so its own peer ID), a NetConnection flow that connects to an app, and
// group flows (metadata 'G' 'C', return-associated with the server's NetConnection flow) whose
// join it sends and whose introductions (`0B` + peer ID on the flow the server returns) it
// records. Covey's own client does not speak NetGroup yet; this drives the wire directly.
import { decodeCommand, encodeCommand, isCommandType } from '../../src/codec/flash-command.js';
import { GROUP_FLOW_METADATA, isGroupFlowMetadata, parseGroupMember } from '../../src/codec/group-control.js';
import { encodeTcMetadata, parseTcMetadata } from '../../src/codec/tc-metadata.js';
import { encodeTcMessage, parseTcMessage } from '../../src/codec/tc-message.js';
import type { Address } from '../../src/rtmfp/address.js';
import { FlashCrypto } from '../../src/rtmfp/crypto/flash-crypto.js';
import { RtmfpEndpoint } from '../../src/rtmfp/endpoint.js';
import { NodeDatagramPort } from '../../src/rtmfp/node-platform.js';
import type { SendFlow } from '../../src/rtmfp/send-flow.js';
import type { IncomingFlow, Session } from '../../src/rtmfp/session.js';

/** One group flow of a member: what the server told it on the flow it returned. */
export class GroupFlowProbe {
  /** Peer IDs (hex) introduced, in arrival order. */
  readonly introduced: string[] = [];
  /** Set when the server rejected the group flow (a refused join). */
  rejectedCode: number | undefined;
  /** Set when the server closed the flow it returned. */
  returnClosed = false;

  constructor(readonly flow: SendFlow) {
    flow.onRejected = (code) => {
      this.rejectedCode = code;
    };
  }

  get rejected(): boolean {
    return this.rejectedCode !== undefined;
  }

  /** Leaves the group: the flow ends. */
  close(): void {
    this.flow.close();
  }
}

export class GroupTestMember {
  private readonly groupFlows = new Map<number, GroupFlowProbe>();
  /** Flows the server opened that were neither its NetConnection flow nor a group return flow. */
  readonly otherFlows: IncomingFlow[] = [];

  private constructor(
    readonly endpoint: RtmfpEndpoint,
    readonly session: Session,
    readonly serverControl: IncomingFlow,
  ) {}

  /** The member's peer ID, hex: SHA-256 of its certificate, what the server introduces. */
  get peerId(): string {
    return this.endpoint.crypto.fingerprint.toString('hex');
  }

  /** Opens a session to the server and connects to `app`; resolves once connect succeeded. */
  static async connect(server: Address, app: string, timeoutMs = 10_000): Promise<GroupTestMember> {
    const endpoint = new RtmfpEndpoint({
      port: await NodeDatagramPort.bind({ host: '127.0.0.1', port: 0 }),
      crypto: new FlashCrypto({ server: false }),
      handshake: { connectTimeoutMs: timeoutMs },
    });
    const tcUrl = `rtmfp://${server.host}:${server.port}/${app}`;
    let session: Session;
    try {
      session = await endpoint.connect({ ancillaryData: tcUrl }, [server]);
    } catch (err) {
      endpoint.close();
      throw err;
    }
    let member: GroupTestMember | undefined;
    const early: IncomingFlow[] = [];
    const connected = new Promise<IncomingFlow>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to connect within ${timeoutMs} ms`)), timeoutMs);
      session.onFlow = (flow) => {
        if (member !== undefined) return member.acceptFlow(flow);
        const tc = parseTcMetadata(flow.metadata);
        if (tc?.streamId !== 0) {
          early.push(flow);
          return;
        }
        flow.onMessage = (message) => {
          const m = parseTcMessage(message);
          if (m === undefined || !isCommandType(m.type)) return;
          const command = decodeCommand(m.type, m.body);
          if (command.transactionId !== 1) return;
          clearTimeout(timer);
          if (command.name === '_result') resolve(flow);
          else reject(new Error(`connect refused: ${JSON.stringify(command.args[0])}`));
        };
      };
      session.onClose = (reason) => {
        clearTimeout(timer);
        reject(new Error(`session closed during connect: ${reason}`));
      };
    });
    const control = session.openFlow(encodeTcMetadata(0), { priority: 3 });
    const { type, payload } = encodeCommand(0, 'connect', 1, { app, tcUrl, flashVer: 'WIN 32,0,0,0', objectEncoding: 0 });
    control.write(encodeTcMessage(type, 0, payload));
    let serverControl: IncomingFlow;
    try {
      serverControl = await connected;
    } catch (err) {
      endpoint.close();
      throw err;
    }
    member = new GroupTestMember(endpoint, session, serverControl);
    session.onClose = () => {};
    for (const flow of early) member.acceptFlow(flow);
    return member;
  }

  /** Opens a group flow sending `join` (see encodeGroupJoinById / encodeGroupJoinBySpec). */
  join(join: Buffer, returnFlowId: number | undefined = this.serverControl.flowId): GroupFlowProbe {
    const flow = this.session.openFlow(GROUP_FLOW_METADATA, { returnFlowId, priority: 3 });
    const probe = new GroupFlowProbe(flow);
    this.groupFlows.set(flow.flowId, probe);
    flow.write(join);
    return probe;
  }

  /** Every peer ID introduced to this member, on all its group flows. */
  get introduced(): string[] {
    return [...this.groupFlows.values()].flatMap((p) => p.introduced);
  }

  /** Ends the session (as a client that quits does). */
  close(): void {
    this.session.close('test member leaves');
    setTimeout(() => this.endpoint.close(), 500).unref();
  }

  /** Drops the socket without a word (a client that vanishes). */
  vanish(): void {
    this.endpoint.close();
  }

  private acceptFlow(flow: IncomingFlow): void {
    const probe = flow.returnFlowId === undefined ? undefined : this.groupFlows.get(flow.returnFlowId);
    if (probe === undefined || !isGroupFlowMetadata(flow.metadata)) {
      this.otherFlows.push(flow);
      return;
    }
    flow.onMessage = (message) => {
      const peerId = parseGroupMember(message);
      if (peerId !== undefined) probe.introduced.push(peerId.toString('hex'));
    };
    flow.onEnd = () => {
      probe.returnClosed = true;
    };
  }
}
