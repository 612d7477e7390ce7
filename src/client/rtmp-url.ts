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

function parseFlashUrl(text: string, scheme: 'rtmp' | 'rtmfp'): RtmpUrl {
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
