import type net from 'node:net';

/** Size of the one buffer a dialled data socket reads into; 64 KiB is what libuv reads anyway. */
export const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Reads of a socket ftpmasq dials land in one reused buffer (net.connect's `onread`) and are
 * written on to the other side at once. A fresh 64 KiB Buffer per read is what made the relay
 * expensive: allocation, page faults and garbage collection cost more CPU than the copies.
 * The buffer is reused only when the sink took the whole write synchronously
 * (`writableLength === 0`); while a write still holds it, reads go to a new buffer.
 */
export class ReusedReadBuffer {
  private buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private sink: net.Socket | undefined;
  /** Reads that arrived before the relay was attached (copied; the source is paused). */
  private early: Buffer[] = [];
  readonly onread: net.OnReadOpts = {
    buffer: () => this.buffer,
    callback: (bytes: number, buffer: Uint8Array): boolean => this.forward(bytes, buffer),
  };

  attach(sink: net.Socket): void {
    this.sink = sink;
    for (const chunk of this.early.splice(0)) sink.write(chunk);
  }

  private forward(bytes: number, buffer: Uint8Array): boolean {
    const sink = this.sink;
    if (sink === undefined) {
      this.early.push(Buffer.from(buffer.subarray(0, bytes)));
      return false;
    }
    sink.write(buffer.subarray(0, bytes));
    if (sink.writableLength > 0) {
      // The pending write still points into this buffer: read the next chunk elsewhere.
      this.buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      if (sink.writableNeedDrain) return false;
    }
    return true;
  }
}

/** For each side, the reused read buffer it was dialled with, if it was dialled by ftpmasq. */
export interface RelayReaders {
  readonly client?: ReusedReadBuffer | undefined;
  readonly upstream?: ReusedReadBuffer | undefined;
}

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
    readers: RelayReaders = {},
  ) {
    this.onClose = onClose;
    pump(upstream, client, readers.upstream, () => {
      this.toClientFinished = true;
      for (const wake of this.toClientWaiters.splice(0)) wake();
      this.closeIfDone();
    });
    pump(client, upstream, readers.client, () => {
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
 * the sink has flushed everything and sent its FIN. A source dialled with a ReusedReadBuffer
 * forwards from its onread callback; an accepted one through 'data' events.
 */
function pump(source: net.Socket, sink: net.Socket, reader: ReusedReadBuffer | undefined, onFinished: () => void): void {
  if (reader === undefined) {
    source.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk)) source.pause();
    });
  } else {
    reader.attach(sink);
  }
  sink.on('drain', () => source.resume());
  source.on('end', () => sink.end());
  sink.on('finish', onFinished);
}
