// What a fan-out benchmark's player records of the frames it receives, whatever the player is
// (Covey's client, or another program whose output is read): frame timestamps, how late each
// came, bytes. Shared by the player processes so they all count the same way.
//
// Lateness: the publisher sends in real time, so for a frame with timestamp ts, arrival - ts is
// a constant (the start offset) plus the delay. The smallest arrival - ts a player has seen is its
// baseline; a frame more than LATE_MS past it is late for a player with a normal live buffer.

import type { FrameKind } from '../../src/client/net-connection.js';
import { isVideoSequenceHeader } from '../../src/codec/video-tag.js';
import { isAudioSequenceHeader } from '../../src/codec/audio-tag.js';

export const LATE_MS = 500;

export class PlayerFrames {
  /** Timestamps of the audio and video frames received since the last mark, and of the late ones. */
  private received: number[] = [];
  private late: number[] = [];
  bytes = 0;
  private baseline = Infinity;
  lastTs = -1;

  /**
   * One audio or video frame, arrived now. Codec configuration (sequence headers) is sent when a
   * player joins, outside the media's real-time schedule: MonaServer2 sends it at once and its
   * first media frame about a second later, so a baseline taken from it made every frame after
   * it look a second late. It is counted, but sets no baseline.
   */
  frame(ts: number, size: number, codecConfig: boolean, arrivedAt = Date.now()): void {
    this.received.push(ts);
    this.bytes += size;
    if (ts > this.lastTs) this.lastTs = ts;
    if (codecConfig) return;
    const lag = arrivedAt - ts;
    if (lag < this.baseline) this.baseline = lag;
    if (lag - this.baseline > LATE_MS) this.late.push(ts);
  }

  /** Covey's client's onFrame handler, counting its audio and video frames here. */
  readonly onClientFrame = (kind: FrameKind, ts: number, payload: Buffer): void => {
    if (kind === 'data') return;
    this.frame(ts, payload.length, kind === 'video' ? isVideoSequenceHeader(payload) : isAudioSequenceHeader(payload));
  };

  /** Starts the measurement window: what came before is forgotten (the baseline is kept). */
  mark(): void {
    this.received = [];
    this.late = [];
    this.bytes = 0;
  }

  /** Frames, and late ones, with timestamps in (from, to]: a range of media time, not of wall clock. */
  count(from: number, to: number): { frames: number; late: number } {
    return { frames: inRange(this.received, from, to), late: inRange(this.late, from, to) };
  }
}

function inRange(list: number[], from: number, to: number): number {
  let n = 0;
  for (const ts of list) if (ts > from && ts <= to) n++;
  return n;
}

/** The messages a player process answers to its parent, the fan-out benchmark. */
export interface PlayerProgress {
  lastTs: number[];
  /** CPU the players have used so far, µs (as process.cpuUsage()). */
  cpu: { user: number; system: number };
  /** Datagrams received and sent so far; null where the players cannot tell. */
  packetsIn: number | null;
  packetsOut: number | null;
}

/**
 * Answers the parent's commands over IPC: `mark` (start of the window), `last` (end), `count`
 * (frames in a media-time range) and `exit`.
 */
export function answerParent(players: PlayerFrames[], progress: () => PlayerProgress, exit: () => void): void {
  process.on('message', (m: { cmd: string; from?: number; to?: number }) => {
    if (m.cmd === 'mark') {
      for (const p of players) p.mark();
      process.send!(progress());
    }
    if (m.cmd === 'last') process.send!(progress());
    if (m.cmd === 'count') {
      const counts = players.map((p) => p.count(m.from!, m.to!));
      process.send!({ frames: counts.map((c) => c.frames), late: counts.map((c) => c.late), bytes: players.map((p) => p.bytes) });
    }
    if (m.cmd === 'exit') exit();
  });
}
