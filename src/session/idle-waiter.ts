/**
 * One promise for every caller of a session's `whenIdle()`, settled and dropped together when the
 * session becomes idle or closes, so many callers add no listeners.
 */
export class IdleWaiter {
  private pending: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;

  wait(): Promise<void> {
    if (this.pending === undefined) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((settle) => {
        resolve = settle;
      });
      this.pending = { promise, resolve };
    }
    return this.pending.promise;
  }

  settle(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve();
  }
}
