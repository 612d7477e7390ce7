// Stream names as clients give them to publish and play: "name" or "name?key=value&...". The
// query (tokens, encoder options) is not part of the name that publishers and players meet on.

export interface StreamName {
  /** What publishers and players meet on: the name without its query string. */
  key: string;
  /** The query parameters, for hooks that check tokens and the like. */
  query: URLSearchParams;
  /** As the client sent it. */
  raw: string;
}

export function parseStreamName(raw: string): StreamName {
  const q = raw.indexOf('?');
  const key = (q < 0 ? raw : raw.slice(0, q)).trim();
  return { key, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)), raw };
}
