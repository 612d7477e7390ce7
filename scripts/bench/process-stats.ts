// What the fan-out benchmarks read about a server process from /proc (Linux): CPU time and
// resident memory, so the server's cost is measured from outside and its clients are not counted.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds a process has used so far, in user space and in the kernel (for it). */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLK_TCK, system: Number(fields[12]) / CLK_TCK };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** Resident memory of a process, MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Mean resident memory (MB) of a process over the next `ms`, sampled every `everyMs`. One
 * reading lands anywhere in a GC cycle (the old generation grows until a mark-compact, then
 * drops), which made single readings swing by tens of MB between runs; the mean does not.
 */
export async function meanRssMb(pid: number, ms: number, everyMs = 250): Promise<number> {
  let sum = 0;
  let count = 0;
  for (const end = performance.now() + ms; performance.now() < end; ) {
    sum += rssMb(pid);
    count++;
    await new Promise<void>((r) => setTimeout(r, everyMs));
  }
  return sum / Math.max(1, count);
}

/**
 * UDP datagrams the kernel has dropped so far because a socket's receive buffer was full, on
 * the whole machine (Linux's Udp RcvbufErrors counter), or undefined where it cannot be read.
 * On loopback every drop is one that a benchmark's own processes caused: a dropped packet is
 * retransmitted, and costs the server CPU and memory (fragments in flight) that it would not
 * spend on clients that kept up.
 */
export function udpReceiveBufferDrops(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    if (lines.length < 2) return undefined;
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const at = names.indexOf('RcvbufErrors');
    return at > 0 ? Number(values[at]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Datagrams the kernel has dropped so far for a full receive buffer on the UDP sockets bound to
 * local `port` (the drops column of /proc/net/udp and udp6), or undefined where it cannot be
 * read. Beside the machine-wide count, it tells a server that cannot keep up with what it is
 * sent from players that cannot keep up with the server.
 */
export function udpSocketDrops(port: number): number | undefined {
  let drops = 0;
  let found = false;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXADDR:HEXPORT; drops is the last column.
      const local = fields[1];
      if (local === undefined || parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      found = true;
      drops += Number(fields[fields.length - 1]);
    }
  }
  return found ? drops : undefined;
}
