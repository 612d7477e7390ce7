// Giving up a wait on an answer from the server when the user interrupts (covey play's SIGINT
// while a silent server has not answered its connect or play: up to 10 s otherwise).

/** `promise`, or a rejection as soon as `signal` aborts; the promise itself runs on. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(`interrupted while waiting for ${what}`));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
