// The contract between a session and its flows. The session owns the clock, the packet
// assembly, RTT measurement and congestion control; flows own their messages, sequence
// numbers and acknowledgements. Keeping this small lets flows be tested without a network.

/** One fragment of user data as it arrives, after the session has expanded Next User Data. */
export interface ReceivedFragment {
  /** User Data flags byte (fragment control, abandon, final); see UserDataFlag. */
  flags: number;
  sequenceNumber: number;
  /** sequenceNumber minus the flow's forward sequence number. */
  fsnOffset: number;
  /** A view into the packet; copy it to keep it past the call. */
  data: Buffer;
}

/** An acknowledgement as received, decoded from either the bitmap or the ranges form. */
export interface ReceivedAck {
  /** Blocks of 1024 bytes the receiver can still buffer. */
  bufferBlocksAvailable: number;
  cumulativeAck: number;
  /** Sequence numbers above cumulativeAck that were received, as inclusive [first, last] ranges, ascending. */
  ranges: Array<[number, number]>;
}

export interface SessionCongestion {
  /** Bytes the session may still put in flight now. */
  sendBudget(now: number): number;
  /** A fragment of `bytes` went out (first transmission or retransmission). */
  onSent(bytes: number, now: number): void;
  /** Fragments totalling `bytes` were acknowledged; `anyLoss` if this ack also revealed losses. */
  onAcked(bytes: number, anyLoss: boolean, now: number): void;
  /** Fragments totalling `bytes` are considered lost (NAKs or timeout) and leave the flight. */
  onLost(bytes: number, timeout: boolean, now: number): void;
  /** Fragments totalling `bytes` leave the flight with no congestion signal (flow failed, or abandoned data). */
  onDiscarded(bytes: number): void;
  /** The effective retransmission timeout in ms. */
  erto(): number;
}

export interface SendFlowContext {
  now(): number;
  congestion: SessionCongestion;
  /** Asks the session to run packet assembly soon (data became sendable). */
  wantTransmit(): void;
}

export interface RecvFlowContext {
  now(): number;
  /**
   * A complete message of flow `flowId`, in order (or abandoned messages skipped). The flow ID
   * lets one context serve all of a session's flows.
   */
  deliver(flowId: number, message: Buffer): void;
  /** Asks the session to send an ack soon; `immediate` for out-of-order arrivals. */
  wantAck(immediate: boolean): void;
  /**
   * A flow now owes a Flow Exception Report (it was refused, or a fragment came to it after).
   * The session looks for owed exceptions only after this: asking every flow on every packet
   * was a cache miss per flow per packet on a fan-out server.
   */
  wantException(): void;
}
