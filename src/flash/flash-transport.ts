// What the model needs from a transport (RTMP connection, RTMFP session) for one client: send
// commands, open a subscriber for a stream, close. Everything else (handshakes, chunking, flows,
// acknowledgements) stays in the transport.
import type { Logger } from '../util/log.js';
import type { Subscriber } from './subscriber.js';

/** AMF0 (0) or AMF3 (3), as the client asked in connect. */
export type ObjectEncoding = 0 | 3;

export interface FlashTransport {
  /** 'rtmp' or 'rtmfp': for logs and for apps that care. */
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly log: Logger;
  /**
   * Sends a command on the NetConnection (streamId 0) or a NetStream: name, transaction id,
   * command object, arguments (onStatus, _result, _error, calls to client methods).
   */
  sendCommand(streamId: number, encoding: ObjectEncoding, name: string, transactionId: number, commandObject: unknown, ...args: unknown[]): void;
  /** The delivery side of a NetStream the client plays on. */
  openSubscriber(streamId: number): Subscriber;
  /** Sends one shared-object message (type 19 or 16, encoded) on the NetConnection. */
  sendSharedObject?(type: number, payload: Buffer): void;
  /** The application accepted the client's connect (its _result has been sent). */
  connected?(): void;
  /** The client deleted a NetStream: what the transport keeps for it can go. */
  streamDeleted?(streamId: number): void;
  /** Ends the connection (the model calls this for a rejected connect or an app's kick). */
  close(reason: string): void;
}
