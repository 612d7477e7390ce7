// Two LANs behind NATs and a server on the "internet" between them, made of network namespaces
// (Linux, as root), for tests of rendezvous and hole punching with real NATs:
//
//   hostA  10.1.0.2 ─┬ natA 10.1.0.1 | 203.0.113.2 ──┐
//   hostA2 10.1.0.3 ─┘ (a bridge: one LAN)            wan 192.0.2.1 (the server), routes
//   hostB  10.2.0.2 ── natB 10.2.0.1 | 198.51.100.2 ─┘
//
// Each NAT masquerades its LAN behind its public address and, like a home router, drops what
// comes unsolicited from the internet (dropped in its input hook, such a packet leaves no
// conntrack entry that would later take the port the LAN host wants mapped). A NAT is 'cone'
// (Linux masquerade keeps the host's source port whatever the destination: one mapping per
// socket, the kind hole punching gets through) or 'symmetric' (fully-random: a fresh random
// port for each destination, so the port the server saw is not the one a peer would have to
// answer). Counters in the wan namespace tell the server's own UDP traffic from what went
// between the two NATs directly.
//
// Names are unique per run (the pid), so parallel runs do not meet; destroy() removes every
// namespace even when the test failed, and a run also removes namespaces left by runs whose
// process is gone.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type NatKind = 'cone' | 'symmetric';

/** Why namespaces cannot be made here (a test skips with it), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root to make network namespaces';
  for (const tool of ['ip', 'nft']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return `needs ${tool} (${tool === 'ip' ? 'iproute2' : 'nftables'}) to make NATs out of network namespaces`;
  }
  const probe = `covey-nat-probe-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot make a network namespace: ${made.stderr.trim()}`;
  try {
    const nat = spawnSync('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], { input: 'table ip t {\n chain p {\n type nat hook postrouting priority srcnat;\n masquerade fully-random;\n }\n}\n', encoding: 'utf8' });
    if (nat.status !== 0) return `this kernel's nftables cannot masquerade: ${nat.stderr.trim()}`;
  } finally {
    spawnSync('ip', ['netns', 'del', probe]);
  }
  return undefined;
}

const PREFIX = 'covey-nat-';

export const NAT_ADDRESSES = {
  server: '192.0.2.1',
  natA: '203.0.113.2',
  natB: '198.51.100.2',
  hostA: '10.1.0.2',
  hostA2: '10.1.0.3',
  hostB: '10.2.0.2',
} as const;

interface CounterValue {
  packets: number;
  bytes: number;
}

export interface WanCounters {
  /** UDP to and from the server's port, in the wan namespace. */
  server: CounterValue;
  /** Everything routed between the two NATs (what did not go through the server). */
  betweenNats: CounterValue;
  /** What the server sent to natB's public address (to whoever is behind it). */
  serverToNatB: CounterValue;
}

function run(args: string[], input?: string): void {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces of this harness whose run's process no longer exists (a killed test run). */
function removeLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0]!;
    const m = /^covey-nat-(\d+)-/.exec(name);
    if (m && !alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', name]);
  }
}

function natRules(kind: NatKind): string {
  return `
table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" masquerade${kind === 'symmetric' ? ' fully-random' : ''}; }
}
table inet firewall {
  chain input { type filter hook input priority filter; iifname "wan" ct state new drop; }
  chain forward { type filter hook forward priority filter; policy drop; ct state established,related accept; iifname != "wan" accept; }
}
`;
}

export class NatWorld {
  readonly ns: { wan: string; natA: string; natB: string; hostA: string; hostA2: string; hostB: string };
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(
    readonly serverPort: number,
    private readonly kinds: { a: NatKind; b: NatKind },
  ) {
    const base = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
    this.ns = { wan: `${base}-wan`, natA: `${base}-natA`, natB: `${base}-natB`, hostA: `${base}-hostA`, hostA2: `${base}-hostA2`, hostB: `${base}-hostB` };
  }

  /** Builds the namespaces, links, addresses, routes, NAT rules and counters. */
  static create(options: { serverPort: number; natA?: NatKind; natB?: NatKind }): NatWorld {
    removeLeftovers();
    const world = new NatWorld(options.serverPort, { a: options.natA ?? 'cone', b: options.natB ?? 'cone' });
    try {
      world.build();
    } catch (err) {
      world.removeNamespaces();
      throw err;
    }
    return world;
  }

  private build(): void {
    const { wan, natA, natB, hostA, hostA2, hostB } = this.ns;
    for (const name of Object.values(this.ns)) {
      run(['ip', 'netns', 'add', name]);
      run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    }
    // Links are made inside the namespaces: nothing appears in the caller's own namespace.
    const link = (a: string, aName: string, b: string, bName: string) => run(['ip', '-n', a, 'link', 'add', 'name', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b]);
    link(wan, 'toA', natA, 'wan');
    link(wan, 'toB', natB, 'wan');
    // natA's LAN is a bridge with two hosts on it: peers behind the same NAT.
    run(['ip', '-n', natA, 'link', 'add', 'name', 'lan', 'type', 'bridge']);
    link(natA, 'portA', hostA, 'eth0');
    link(natA, 'portA2', hostA2, 'eth0');
    for (const port of ['portA', 'portA2']) {
      run(['ip', '-n', natA, 'link', 'set', 'dev', port, 'master', 'lan']);
      run(['ip', '-n', natA, 'link', 'set', 'dev', port, 'up']);
    }
    link(natB, 'lan', hostB, 'eth0');
    const addr = (ns: string, dev: string, cidr: string) => {
      run(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', dev]);
      run(['ip', '-n', ns, 'link', 'set', 'dev', dev, 'up']);
    };
    run(['ip', '-n', wan, 'addr', 'add', `${NAT_ADDRESSES.server}/32`, 'dev', 'lo']);
    addr(wan, 'toA', '203.0.113.1/24');
    addr(wan, 'toB', '198.51.100.1/24');
    addr(natA, 'wan', `${NAT_ADDRESSES.natA}/24`);
    addr(natA, 'lan', '10.1.0.1/24');
    addr(natB, 'wan', `${NAT_ADDRESSES.natB}/24`);
    addr(natB, 'lan', '10.2.0.1/24');
    addr(hostA, 'eth0', `${NAT_ADDRESSES.hostA}/24`);
    addr(hostA2, 'eth0', `${NAT_ADDRESSES.hostA2}/24`);
    addr(hostB, 'eth0', `${NAT_ADDRESSES.hostB}/24`);
    run(['ip', '-n', natA, 'route', 'add', 'default', 'via', '203.0.113.1']);
    run(['ip', '-n', natB, 'route', 'add', 'default', 'via', '198.51.100.1']);
    run(['ip', '-n', hostA, 'route', 'add', 'default', 'via', '10.1.0.1']);
    run(['ip', '-n', hostA2, 'route', 'add', 'default', 'via', '10.1.0.1']);
    run(['ip', '-n', hostB, 'route', 'add', 'default', 'via', '10.2.0.1']);
    for (const ns of [wan, natA, natB]) run(['ip', 'netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    this.setNat('a', this.kinds.a);
    this.setNat('b', this.kinds.b);
    run(
      ['ip', 'netns', 'exec', wan, 'nft', '-f', '-'],
      `
table inet covey_count {
  counter server {}
  counter between_nats {}
  counter server_to_natb {}
  chain input { type filter hook input priority filter; udp dport ${this.serverPort} counter name server; }
  chain output { type filter hook output priority filter; udp sport ${this.serverPort} counter name server; ip daddr ${NAT_ADDRESSES.natB} udp sport ${this.serverPort} counter name server_to_natb; }
  chain forward { type filter hook forward priority filter; counter name between_nats; }
}
`,
    );
  }

  /** Makes NAT `which` cone or symmetric from now on (mappings already made stay as they are). */
  setNat(which: 'a' | 'b', kind: NatKind): void {
    const ns = which === 'a' ? this.ns.natA : this.ns.natB;
    run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], `flush ruleset\n${natRules(kind)}`);
    this.kinds[which] = kind;
  }

  /** The server's and the direct path's traffic so far, as the wan namespace counted it. */
  counters(): WanCounters {
    const r = spawnSync('ip', ['netns', 'exec', this.ns.wan, 'nft', '-j', 'list', 'counters', 'table', 'inet', 'covey_count'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`reading the wan counters: ${r.stderr.trim()}`);
    const found: Record<string, CounterValue> = {};
    for (const item of (JSON.parse(r.stdout) as { nftables: Array<{ counter?: { name: string; packets: number; bytes: number } }> }).nftables) {
      if (item.counter) found[item.counter.name] = { packets: item.counter.packets, bytes: item.counter.bytes };
    }
    return { server: found.server!, betweenNats: found.between_nats!, serverToNatB: found.server_to_natb! };
  }

  /** Starts `node --import tsx <args>` from the repository root inside namespace `ns`; killed by destroy(). */
  spawnNode(ns: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env } });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Kills what runs in the namespaces, then removes them. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const exits = [...this.children].map((child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()))));
    for (const child of this.children) child.kill('SIGKILL');
    // ip netns exec runs the program in its own process (exec): killing it kills the program.
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5000))]);
    this.removeNamespaces();
  }

  private removeNamespaces(): void {
    for (const name of Object.values(this.ns)) spawnSync('ip', ['netns', 'del', name]);
  }
}
