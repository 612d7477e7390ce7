// A Covey server over a www/ folder of Lua apps made for the test, with Covey's RTMP and RTMFP
// clients connecting to whole app paths (a/b), and the server's log lines to search.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLogs } from './test-server.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { defaultConfig, type ServerConfig } from '../../src/server-config.js';
import { RtmpClient } from '../../src/client/rtmp-client.js';
import { RtmfpClient } from '../../src/client/rtmfp-client.js';
import type { NetConnection } from '../../src/client/net-connection.js';

export interface LuaWorld {
  www: string;
  server: RunningServer;
  logs: Array<Record<string, unknown>>;
  rtmp(path: string, connectArgs?: unknown[]): Promise<RtmpClient>;
  rtmfp(path: string, connectArgs?: unknown[]): Promise<RtmfpClient>;
  write(rel: string, code: string): void;
  close(): Promise<void>;
}

/**
 * Waits until an asynchronous check (an RPC into a script, say) answers something truthy, asking
 * again every 50 ms; `until` from test-server takes synchronous checks only (a Promise is truthy).
 */
export async function eventually<T>(check: () => Promise<T | undefined | false | null>, ms: number, what: string): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    const v = await check();
    if (v) return v;
    last = v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what} (last answer: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let stampBump = 0;

export async function luaWorld(files: Record<string, string>, options: { www?: string; keep?: boolean; configure?: (config: ServerConfig) => void } = {}): Promise<LuaWorld> {
  const www = options.www ?? mkdtempSync(join(tmpdir(), 'covey-lua-'));
  const write = (rel: string, code: string) => {
    const file = join(www, rel);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, code);
    // A distinct mtime even within the file system's timestamp granularity.
    const t = new Date(Date.now() + ++stampBump * 1000);
    utimesSync(file, t, t);
  };
  for (const [rel, code] of Object.entries(files)) write(rel, code);
  // Debug: the Lua host logs what scripts do (their print, load errors, reloads) at that level.
  const { log, logs } = captureLogs('debug');
  const config = defaultConfig();
  config.www = www;
  config.rtmp = { enabled: true, host: '127.0.0.1', port: 0 };
  config.rtmfp = { ...config.rtmfp, enabled: true, host: '127.0.0.1', port: 0 };
  options.configure?.(config);
  const server = await startServer(config, log);
  const clients: NetConnection[] = [];
  return {
    www,
    server,
    logs,
    write,
    rtmp: async (path, connectArgs) => {
      // The whole path as the app (Covey's URL parser takes what follows the first segment for a stream name).
      const port = server.rtmp!.address.port;
      const c = await RtmpClient.connect({ host: '127.0.0.1', port, app: path, stream: '', tcUrl: `rtmp://127.0.0.1:${port}/${path}` }, { connectArgs });
      clients.push(c);
      return c;
    },
    rtmfp: async (path, connectArgs) => {
      const port = server.rtmfp!.localAddress.port;
      const c = await RtmfpClient.connect({ host: '127.0.0.1', port, app: path, stream: '', tcUrl: `rtmfp://127.0.0.1:${port}/${path}` }, { connectArgs });
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients) c.close();
      await server.close();
      if (!options.keep) rmSync(www, { recursive: true, force: true });
    },
  };
}

