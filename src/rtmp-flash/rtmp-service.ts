// The RTMP service of the server: a listener whose connections become Flash model clients.
import type { FlashServer } from '../flash/flash-server.js';
import type { Logger } from '../util/log.js';
import type { RtmpConnectionLimits } from '../rtmp/rtmp-connection.js';
import { RtmpListener } from '../rtmp/rtmp-listener.js';
import { RtmpFlashSession, type RtmpSessionOptions } from './rtmp-flash-session.js';

export interface RtmpServiceOptions extends RtmpSessionOptions {
  host: string;
  port: number;
  flash: FlashServer;
  log: Logger;
  limits?: Partial<RtmpConnectionLimits>;
  maxConnections?: number;
}

export function startRtmpService(options: RtmpServiceOptions): Promise<RtmpListener> {
  const { flash, ...rest } = options;
  return RtmpListener.listen({
    host: rest.host,
    port: rest.port,
    log: rest.log,
    limits: rest.limits,
    maxConnections: rest.maxConnections,
    onConnection: (connection) => {
      new RtmpFlashSession(connection, flash, rest);
    },
  });
}
