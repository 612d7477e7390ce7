/** The peer broke the chunk stream rules or a limit; the connection must close with this reason. */
export class ChunkStreamError extends Error {
  override name = 'ChunkStreamError';
}
