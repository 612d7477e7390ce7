// What a users process of shared-object-fanout.ts tells its parent, whoever its users are (Covey's
// full clients, shared-object-users.ts, or lean users, shared-object-lean-users.ts), so both kinds
// are timed and counted the same way.
//
// Receipt times are process.hrtime (CLOCK_MONOTONIC), one clock for every process on the machine,
// so the parent subtracts its own send time from them; {clock} lets the parent check that (the
// answer must fall between its send and its receipt).
// To the parent: {ready} once every user holds the object (`ready()`); then, for each update value
// (an integer), {seq, firstNs, lastNs} once every user here has it (when the first and the last
// of them got it), until {timing: false} (the throughput phase, where that message per update
// would cost this process as much as the users do); on {counts} the fewest updates any user here
// received since the previous {counts}; on {stop} `stop` closes the users, and the process exits.
const now = () => process.hrtime.bigint();

export class UserArrivals {
  /** Per update value: how many users here have it, and when the first and the last got it. */
  private readonly arrivals = new Map<number, { users: number; firstNs: bigint; lastNs: bigint }>();
  private readonly received: number[];
  private timing = true;
  /** Called when the parent starts or ends the latency phase ({timing}). */
  onTiming: (timing: boolean) => void = () => {};

  constructor(
    private readonly count: number,
    stop: () => void,
  ) {
    this.received = new Array<number>(count).fill(0);
    process.on('message', (m: { timing?: boolean; counts?: true; stop?: true; clock?: true }) => {
      if (m.clock) process.send!({ clockNs: String(now()) });
      else if (m.timing !== undefined) {
        this.timing = m.timing;
        this.arrivals.clear();
        this.onTiming(m.timing);
      } else if (m.counts) {
        process.send!({ fewest: Math.min(...this.received) });
        this.received.fill(0);
      } else if (m.stop) {
        stop();
        // process.exit writes the CPU profile when one was asked for (--cpu-prof).
        setTimeout(() => process.exit(0), 200);
      }
    });
  }

  ready(): void {
    process.send!({ ready: true });
  }

  /** User `user` got update `seq`, now. */
  arrived(user: number, seq: number): void {
    this.received[user]!++;
    if (!this.timing) return;
    const t = now();
    let a = this.arrivals.get(seq);
    if (a === undefined) this.arrivals.set(seq, (a = { users: 0, firstNs: t, lastNs: t }));
    a.users++;
    a.lastNs = t;
    if (a.users === this.count) {
      this.arrivals.delete(seq);
      process.send!({ seq, firstNs: String(a.firstNs), lastNs: String(a.lastNs) });
    }
  }
}
