// Composes the running server from its layers: transports, the Flash model, the apps.
import type { ServerConfig } from './cli/config.js';
import type { Logger } from './util/log.js';

export interface RunningServer {
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  log.info({ www: config.www }, 'covey starting');
  return { close: async () => {} };
}
