// Bounds on remote shared objects, so one client or one app cannot take the server's memory or
// CPU with them. A use, change or send beyond a bound is answered to that client alone with an
// error status (the message changes nothing); everyone else carries on.

export interface SharedObjectLimits {
  /** Objects one application holds at once (transient and loaded persistent ones). */
  maxObjectsPerApp: number;
  /** Users of one object. */
  maxUsersPerObject: number;
  /** Slots of one object. */
  maxSlotsPerObject: number;
  /** Bytes of one slot: its key plus its value as AMF0. */
  maxSlotBytes: number;
  /** Bytes of one object: the sum of its slots. */
  maxObjectBytes: number;
  /** Events in one shared-object message from a client. */
  maxEventsPerMessage: number;
  /** Events a second from one client, all its objects together (and as much burst). */
  maxEventsPerSecondPerClient: number;
  /**
   * Versions of removals kept so a returning client gets a delta (FMS resyncDepth, default
   * infinite there); one further behind gets Clear and the full state.
   */
  resyncDepth: number;
}

export const DEFAULT_SHARED_OBJECT_LIMITS: SharedObjectLimits = {
  maxObjectsPerApp: 1_000,
  // The benchmark's 1,000 users of one object, with room.
  maxUsersPerObject: 5_000,
  maxSlotsPerObject: 10_000,
  // Shared objects hold room state, not files: 64 KiB a slot and 4 MiB an object (what a whole
  // object costs to send to a user joining).
  maxSlotBytes: 64 * 1024,
  maxObjectBytes: 4 * 1024 * 1024,
  // Red5 caps an update at 64 events (so.max.events.per.update) and users hit it (Red5 #110):
  // four times that.
  maxEventsPerMessage: 256,
  // A drag on a whiteboard sends one change per frame (30-60 a second): far above it.
  maxEventsPerSecondPerClient: 1_000,
  resyncDepth: 1_000,
};

/** The limit names, for configuration checks. */
export const SHARED_OBJECT_LIMIT_NAMES = Object.keys(DEFAULT_SHARED_OBJECT_LIMITS) as Array<keyof SharedObjectLimits>;
