// The connect command's command object, read into what the model needs: the application (the
// first segment of the URL path), the rest of the path (an instance), tcUrl, object encoding.
import { amfObjectProperties } from '../codec/amf-types.js';
import type { ObjectEncoding } from './flash-transport.js';

export interface ConnectRequest {
  /** Application name: "live" for rtmp://host/live or rtmp://host/live/instance; "" for rtmp://host/ (the root app). */
  app: string;
  /** What followed the application in the path ("" when nothing did). */
  instance: string;
  /** The URL the client connected to, as it said. */
  tcUrl: string | undefined;
  objectEncoding: ObjectEncoding;
  /** Every property of the command object (flashVer, swfUrl, pageUrl, fourCcList...). */
  properties: Record<string, unknown>;
  /** Extra arguments after the command object, for apps (tokens, user names). */
  args: unknown[];
}

/** Application names we accept: what a folder under www/ can be called, no path tricks. */
const APP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/**
 * Reads a connect command; returns a rejection description instead when it cannot be served
 * (`invalidApp`: the application name itself cannot exist, NetConnection.Connect.InvalidApp).
 */
export function parseConnectRequest(commandObject: unknown, args: unknown[]): ConnectRequest | { rejected: string; invalidApp?: true } {
  const properties = amfObjectProperties(commandObject);
  if (properties === undefined) return { rejected: 'connect without a command object' };
  const tcUrl = typeof properties.tcUrl === 'string' ? properties.tcUrl : undefined;
  let path: string | undefined = typeof properties.app === 'string' ? properties.app : undefined;
  if (path === undefined && tcUrl !== undefined) {
    try {
      path = new URL(tcUrl).pathname;
    } catch {
      return { rejected: `tcUrl ${JSON.stringify(tcUrl)} is not a URL` };
    }
  }
  // Some encoders put a query string on the app (tokens); it is not part of the name.
  const cleaned = (path ?? '').split('?')[0]!.replace(/^\/+/, '');
  const slash = cleaned.indexOf('/');
  const app = slash < 0 ? cleaned : cleaned.slice(0, slash);
  const instance = slash < 0 ? '' : cleaned.slice(slash + 1).replace(/\/+$/, '');
  // An empty path asks for the root application (MonaServer's www/main.lua), if the server has one.
  if (app !== '' && !APP_NAME.test(app)) return { rejected: `invalid application name ${JSON.stringify(app)}`, invalidApp: true };
  const encoding = properties.objectEncoding ?? 0;
  if (encoding !== 0 && encoding !== 3) return { rejected: `unsupported objectEncoding ${JSON.stringify(encoding)} (0 or 3)` };
  return { app, instance, tcUrl, objectEncoding: encoding, properties, args };
}
