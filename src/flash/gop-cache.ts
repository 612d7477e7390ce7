// The frames of a publication since its last video keyframe (one group of pictures), so that a
// player joining mid-stream starts on that keyframe at once instead of waiting up to a keyframe
// interval (0.9-2 s with 2 s GOPs, measured by scripts/bench/time-to-first-frame.ts) for the next.
// Bounded in bytes: a GOP that outgrows the bound is dropped whole and caching starts again at the
// next keyframe, so the cache never holds frames without the keyframe they depend on.
// Audio-only streams have no keyframes and cache nothing: their players start with the next
// audio frame, a few tens of milliseconds away.
import type { MediaFrame } from './media-frame.js';

/**
 * The default bound, bytes of payload: a whole 4 s GOP at 8 Mb/s (a 2 s GOP at 720p 2.5 Mb/s is
 * about 650 KiB). The cost is what the current GOP holds, not the bound: see the benchmark's
 * memory line.
 */
export const DEFAULT_GOP_CACHE_BYTES = 4 * 1024 * 1024;

export class GopCache {
  /** Payload bytes held. */
  bytes = 0;
  /** GOPs dropped for outgrowing the bound (each then waits for the next keyframe). */
  overflows = 0;
  private held: MediaFrame[] = [];
  /** The smallest timestamp held (audio may trail the keyframe by a few ms): where a joiner's headers go. */
  private firstTs = 0;
  /** Frames are not kept until a keyframe: at the start, after an overflow or a codec change. */
  private waitingKeyframe = true;

  /** @param maxBytes payload bytes at most; 0 keeps nothing. */
  constructor(readonly maxBytes: number) {}

  /** What a joining player gets after the headers: a keyframe first, then what followed it, in order. */
  get frames(): readonly MediaFrame[] {
    return this.held;
  }

  /** The smallest timestamp held; meaningful only when frames are held. */
  get startTimestamp(): number {
    return this.firstTs;
  }

  /** A frame the publisher sent (sequence headers and data frames are kept elsewhere, or not at all). */
  push(frame: MediaFrame): void {
    if (this.maxBytes <= 0 || frame.sequenceHeader || frame.kind === 'data') return;
    if (frame.keyframe) {
      const overtaking = this.audioFrom(frame.timestamp);
      this.drop();
      this.waitingKeyframe = false;
      this.firstTs = frame.timestamp;
      if (this.add(ownCopy(frame))) for (const a of overtaking) if (!this.add(a)) return;
      return;
    }
    if (this.waitingKeyframe) return;
    this.add(ownCopy(frame));
  }

  /**
   * The audio frames at the end of the GOP held that are stamped at `ts` or later: published with
   * or after the next keyframe, they reached us before it (an RTMFP publisher's audio has a flow
   * of its own, and overtakes a large keyframe; see subscription.ts), and belong to its GOP.
   */
  private audioFrom(ts: number): MediaFrame[] {
    const held = this.held;
    let i = held.length;
    while (i > 0 && held[i - 1]!.kind === 'audio' && ((held[i - 1]!.timestamp - ts) | 0) >= 0) i--;
    return i === held.length ? [] : held.slice(i);
  }

  /** Holds a frame (its payload already owned), or restarts when it would outgrow the bound; answers whether it is held. */
  private add(frame: MediaFrame): boolean {
    const size = frame.payload.length;
    if (this.bytes + size > this.maxBytes) {
      this.overflows++;
      this.restart();
      return false;
    }
    this.held.push(frame);
    this.bytes += size;
    if (frame.timestamp < this.firstTs) this.firstTs = frame.timestamp;
    return true;
  }

  /** Drops what is held and waits for the next keyframe (a codec change: old frames cannot be decoded with the new headers). */
  restart(): void {
    this.drop();
    this.waitingKeyframe = true;
  }

  private drop(): void {
    if (this.held.length > 0) this.held = [];
    this.bytes = 0;
  }
}

/**
 * The frame with a payload that owns its memory. A small payload is often a view into a larger
 * buffer (an 8 KiB pool slab, a received packet); held for a whole GOP, a 200-byte audio frame
 * would keep all of it alive. Copied once a publication, not a player.
 */
function ownCopy(frame: MediaFrame): MediaFrame {
  const payload = frame.payload;
  if (payload.byteLength === payload.buffer.byteLength) return frame;
  const copy = Buffer.allocUnsafeSlow(payload.length);
  payload.copy(copy);
  return { ...frame, payload: copy };
}
