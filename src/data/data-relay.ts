import type net from 'node:net';

export type RelayCloseReason = 'complete' | 'client-error' | 'upstream-error' | 'aborted' | 'session-closed';

export interface RelayResult {
  readonly reason: RelayCloseReason;
  readonly bytesToClient: number;
  readonly bytesToUpstream: number;
}

/**
 * One pair of data sockets, client and upstream, copied both ways with backpressure.
 * An end on one side becomes a half-close (`end()`) on the other, so an upload's last byte
 * reaches the server before the server sees EOF. The relay owns both sockets; `close()` is
 * the one way they are torn down, and it runs once.
 */
export class DataRelay {
  private closed = false;
  private toClientFinished = false;
  private toUpstreamFinished = false;
  private readonly toClientWaiters: Array<() => void> = [];
  private readonly onClose: (result: RelayResult) => void;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    onClose: (result: RelayResult) => void,
  ) {
    this.onClose = onClose;
    pump(upstream, client, () => {
      this.toClientFinished = true;
      for (const wake of this.toClientWaiters.splice(0)) wake();
      this.closeIfDone();
    });
    pump(client, upstream, () => {
      this.toUpstreamFinished = true;
      this.closeIfDone();
    });
    client.on('error', () => this.close('client-error'));
    upstream.on('error', () => this.close('upstream-error'));
    // A socket that closes after a clean EOF both ways is the normal end; the other direction
    // may still be flushing and finishes on its own. Any other close (reset, destroyed
    // elsewhere) ends the relay.
    client.on('close', () => {
      if (!client.readableEnded || !client.writableFinished) this.close('client-error');
    });
    upstream.on('close', () => {
      if (!upstream.readableEnded || !upstream.writableFinished) this.close('upstream-error');
    });
    client.resume();
    upstream.resume();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Resolves once every byte the upstream sent has been handed to the client's socket and the
   * client has been sent EOF, or the relay has closed. The transfer's final reply waits for it.
   */
  toClientDone(): Promise<void> {
    if (this.toClientFinished || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.toClientWaiters.push(resolve));
  }

  close(reason: RelayCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    const result: RelayResult = {
      reason,
      bytesToClient: this.client.bytesWritten,
      bytesToUpstream: this.upstream.bytesWritten,
    };
    // Both directions finished: the kernel still delivers what it holds after close().
    this.client.destroy();
    this.upstream.destroy();
    for (const wake of this.toClientWaiters.splice(0)) wake();
    this.onClose(result);
  }

  private closeIfDone(): void {
    if (this.toClientFinished && this.toUpstreamFinished) this.close('complete');
  }
}

/**
 * Copies source to sink. A hand loop rather than pipe(): the source pauses when the sink's
 * buffer is full and resumes on drain, an end becomes `sink.end()`, and `onFinished` fires when
 * the sink has flushed everything and sent its FIN.
 */
function pump(source: net.Socket, sink: net.Socket, onFinished: () => void): void {
  source.on('data', (chunk: Buffer) => {
    if (!sink.write(chunk)) source.pause();
  });
  sink.on('drain', () => source.resume());
  source.on('end', () => sink.end());
  sink.on('finish', onFinished);
}
