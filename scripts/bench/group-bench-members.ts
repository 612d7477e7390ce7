// A share of the group-multicast bench's receivers (group members or plain RTMFP subscribers),
// each with its own client and UDP socket, recording when each media frame (and, with --trace,
// each fragment) arrives. The bench runs one share per worker thread (group-bench-worker.ts), or
// all of them on its own thread (--workers 0, the bench as it was before the workers).
//
// Times are process.hrtime in milliseconds: one monotonic clock for every thread of the process,
// so a worker's arrival and the main thread's publication time compare directly.
import { performance } from 'node:perf_hooks';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import { NetGroup } from '../../src/client/net-group.js';
import { playFromGroup, type GroupPlayer } from '../../src/client/group-media.js';

export type FrameKind = 'audio' | 'video' | 'data';

/** Milliseconds on the process's monotonic clock (the same in every thread). */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A media frame's index, written into bytes 5-8 of its payload by the bench (-1 for headers and data). */
export const mediaIndex = (f: { kind: FrameKind; payload: Buffer }): number => (f.kind !== 'data' && f.payload.length >= 9 && f.payload[1] === 1 ? f.payload.readUInt32BE(5) : -1);

export type FragmentArrivals = Map<number, { at: number; via: 'push' | 'pull'; from: string }>;

export interface ShareOptions {
  mode: 'group' | 'plain';
  url: string;
  /** The groupspec (mode 'group'). */
  spec?: string;
  /** The stream name: published into the group, or to the server. */
  stream: string;
  count: number;
  trace: boolean;
  verbose: boolean;
}

export interface ShareReport {
  /** Per receiver: media frame index -> arrival time (first arrival). */
  arrivals: Array<Map<number, number>>;
  /** Per receiver, with --trace: fragment ID -> how and when it came. */
  fragments: FragmentArrivals[];
  /** Group mode: the members' counters summed (--trace prints them). */
  sums: { duplicateFragments: number; pullsSent: number; pushersDropped: number; fragmentsSent: number };
  /** With --verbose: one line a member (neighbours, counters, progress), without its index. */
  lines: string[];
  /** This thread's event-loop utilisation while the stream was sent (1 = saturated). */
  streamingUtilization: number;
}

/** The receivers of one share: joined/subscribed by start(), summed up by report(). */
export class ReceiverShare {
  private readonly clients: RtmfpClient[] = [];
  private readonly members: Array<{ g: NetGroup; p: GroupPlayer }> = [];
  private readonly arrivals: Array<Map<number, number>> = [];
  private readonly fragments: FragmentArrivals[] = [];
  private elu0 = performance.eventLoopUtilization();

  constructor(private readonly options: ShareOptions) {}

  /** Connects every receiver of the share, one after the other; answers their peer IDs. */
  async start(): Promise<string[]> {
    const { mode, url, spec, stream, count, trace } = this.options;
    const peerIds: string[] = [];
    for (let i = 0; i < count; i++) {
      const c = await RtmfpClient.connect(url);
      this.clients.push(c);
      peerIds.push(c.peerId);
      const got = new Map<number, number>();
      this.arrivals.push(got);
      const onFrame = (kind: FrameKind, _ts: number, payload: Buffer) => {
        const k = mediaIndex({ kind, payload });
        if (k >= 0 && !got.has(k)) got.set(k, now());
      };
      if (mode === 'group') {
        const g = await NetGroup.join(c, spec!);
        const frags: FragmentArrivals = new Map();
        this.fragments.push(frags);
        const p = playFromGroup(g, stream, { onFrame, onFragment: trace ? (id, via, from) => frags.set(id, { at: now(), via, from }) : undefined });
        this.members.push({ g, p });
      } else {
        await c.play(stream, { onFrame });
      }
    }
    return peerIds;
  }

  /** The stream starts now: utilisation is measured from here to report(). */
  streaming(): void {
    this.elu0 = performance.eventLoopUtilization();
  }

  report(): ShareReport {
    const streamingUtilization = performance.eventLoopUtilization(this.elu0).utilization;
    const sums = { duplicateFragments: 0, pullsSent: 0, pushersDropped: 0, fragmentsSent: 0 };
    for (const { p } of this.members) for (const k of Object.keys(sums) as Array<keyof typeof sums>) sums[k] += p.stats[k];
    const lines = !this.options.verbose
      ? []
      : this.members.map(({ g, p }, i) =>
          `frames ${this.arrivals[i]!.size}, group neighbours ${g.neighbors.length} (introduced ${g.introduced.length}, unreachable ${[...g.unreachable.values()].slice(0, 2).join(' | ')}, refused ${[...g.refused.values()].slice(0, 2).join(' | ')}), stats ${JSON.stringify(p.stats)}, progress ${JSON.stringify(p.progress)}`,
        );
    return { arrivals: this.arrivals, fragments: this.fragments, sums, lines, streamingUtilization };
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
