// What an application can decide or add: accept connections, answer calls, allow publishing and
// playing. Every hook is optional; without hooks an application accepts everything. A hook
// returning a string refuses with that description.
import type { FlashClient } from './flash-client.js';
import type { GroupMembership } from './group-registry.js';
import type { NetGroup } from './net-group.js';
import type { Publication } from './publication.js';
import type { StreamName } from './stream-name.js';

export type Refusal = string | undefined | void;

/**
 * The answer to a client's change request: accepted as asked (nothing), refused (a string), or
 * accepted with another value stored instead (`{ value }`; undefined or null deletes the slot).
 */
export type ChangeDecision = Refusal | { value: unknown };

/**
 * A connect decision: a refusal (NetConnection.Connect.Rejected), acceptance with fields added to
 * NetConnection.Connect.Success, or `{ invalidApp }`: no application answers that connect path
 * (a scripted app tree routes paths itself), which is NetConnection.Connect.InvalidApp with that
 * description, as Flash Media Server answers.
 */
export type ConnectDecision = Refusal | { accept: Record<string, unknown> } | { invalidApp: string };

export interface AppHooks {
  onConnect?(client: FlashClient): ConnectDecision | Promise<ConnectDecision>;
  onDisconnect?(client: FlashClient): void;
  /** Methods clients may call (NetConnection.call); the value returned (or resolved) is the result. */
  methods?: Record<string, (client: FlashClient, ...args: unknown[]) => unknown>;
  /**
   * Any call `methods` does not name (scripted apps, whose methods are known only at run time):
   * the value returned is the result; throwing answers _error (CallRefused for its own code).
   */
  onCall?(client: FlashClient, method: string, args: unknown[]): unknown;
  onPublish?(client: FlashClient, name: StreamName): Refusal;
  /** Publishing started (after onPublish accepted): the application may set publication.observer. */
  onPublished?(client: FlashClient, publication: Publication): void;
  onUnpublish?(client: FlashClient, name: StreamName): void;
  onPlay?(client: FlashClient, name: StreamName): Refusal;
  /** A play onPlay accepted ended (play stopped or replaced, stream deleted, client gone). */
  onPlayStop?(client: FlashClient, name: StreamName): void;
  /** The client's transport address changed (RTMFP address mobility); `from` is the old one. */
  onAddressChanged?(client: FlashClient, from: string): void;
  /**
   * A client joins a NetGroup (group.id: hex of its 32-byte ID; group.size before the join;
   * peerId: hex). A refusal rejects the client's group flow (NetGroup.Connect.Rejected).
   */
  onJoinGroup?(client: FlashClient, group: NetGroup<GroupMembership>, peerId: string): Refusal;
  /** A member left a group (its group flow closed, or it disconnected); group.size after. */
  onLeaveGroup?(client: FlashClient, group: NetGroup<GroupMembership>): void;
  /** A client uses a remote shared object; a refusal answers it SharedObject.NoReadAccess. */
  onSharedObjectUse?(client: FlashClient, name: string, persistent: boolean): Refusal;
  /**
   * A client asks to set a slot (`value` undefined: delete it). A refusal answers it
   * SharedObject.NoWriteAccess and nothing of its message's changes is applied; `{ value }`
   * stores that value instead (the requester, like every other user, is told the stored value).
   */
  onSharedObjectChange?(client: FlashClient, name: string, key: string, value: unknown): ChangeDecision;
}

/** Thrown by a method to answer with a specific error status instead of NetConnection.Call.Failed. */
export class CallRefused extends Error {
  constructor(
    description: string,
    readonly code = 'NetConnection.Call.Failed',
  ) {
    super(description);
  }
}
