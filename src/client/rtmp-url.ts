// rtmp:// and rtmfp:// URLs as the CLI and tests take them: rtmp://host[:port]/app/stream[?query].
// The first path segment is the application, the rest the stream name (query string included, as
// encoders pass tokens that way). Both default to port 1935 (TCP for one, UDP for the other).

export interface RtmpUrl {
  host: string;
  port: number;
  app: string;
  /** Stream name with any query string; "" when the URL names only the application. */
  stream: string;
  /** The connect URL: rtmp://host:port/app (or rtmfp://...). */
  tcUrl: string;
}

export const DEFAULT_RTMP_PORT = 1935;

export function parseRtmpUrl(text: string): RtmpUrl {
  return parseFlashUrl(text, 'rtmp');
}

export function parseRtmfpUrl(text: string): RtmpUrl {
  return parseFlashUrl(text, 'rtmfp');
}

/**
 * The port as written in the URL's authority ('' when none), checked before the URL parser,
 * which rejects a port above 65535 as it rejects any other malformed URL, with no word of why.
 */
function checkPort(text: string): void {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text)?.[1];
  if (authority === undefined) return;
  const port = /^(?:[^@]*@)?(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)?.[1] ?? '';
  if (port === '') return;
  if (!/^\d+$/.test(port)) throw new Error(`bad port "${port}" in ${text}: expected a number 1-65535`);
  if (Number(port) < 1 || Number(port) > 65535) throw new Error(`port ${port} out of range in ${text}: expected 1-65535`);
}

function parseFlashUrl(text: string, scheme: 'rtmp' | 'rtmfp'): RtmpUrl {
  checkPort(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`not a URL: ${text}`);
  }
  if (url.protocol !== `${scheme}:`) throw new Error(`not an ${scheme}:// URL: ${text}`);
  if (url.hostname === '') throw new Error(`no host in ${text}`);
  const port = url.port === '' ? DEFAULT_RTMP_PORT : Number(url.port);
  const path = decodeURIComponent(url.pathname).replace(/^\/+/, '');
  const slash = path.indexOf('/');
  const app = slash < 0 ? path : path.slice(0, slash);
  if (app === '') throw new Error(`no application in ${text} (expected ${scheme}://host/app/stream)`);
  const stream = (slash < 0 ? '' : path.slice(slash + 1)) + url.search;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { host, port, app, stream, tcUrl: `${scheme}://${url.host}/${app}` };
}
