import type net from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * Size of the buffer a dialled data socket reads into. Larger reads mean fewer syscalls and
 * wakeups per GiB; 256 KiB per relay direction keeps 50 parallel transfers within a few MiB.
 */
export const READ_BUFFER_BYTES = 256 * 1024;
/**
 * The first buffer of a data connection: most carry a listing or a small file, and a 256 KiB
 * allocation per connection (an mmap and munmap each) showed up in the short-session CPU.
 * A read that fills it switches the connection to READ_BUFFER_BYTES.
 */
export const FIRST_READ_BUFFER_BYTES = 16 * 1024;

/**
 * Reads of a socket ftpmasq dials land in one reused buffer (net.connect's `onread`) and are
 * written on to the other side at once. A fresh Buffer per read is what made the relay
 * expensive: allocation, page faults and garbage collection cost more CPU than the copies.
 * The buffer is free again once the kernel has taken the write (`writableLength === 0`, most
 * writes); when it has not, the source pauses until that write is done, then reads into the
 * same buffer again.
 */
export class ReusedReadBuffer {
  /** Allocated at the first read: a data connection that carries nothing costs nothing. */
  private buffer: Buffer | undefined;
  private size = FIRST_READ_BUFFER_BYTES;
  private source: net.Socket | undefined;
  private sink: net.Socket | undefined;
  private waitingForWrite = false;
  /** Reads that arrived before the relay was attached (copied; the source is paused). */
  private early: Buffer[] = [];
  readonly onread: net.OnReadOpts = {
    buffer: () => (this.buffer ??= Buffer.allocUnsafe(this.size)),
    callback: (bytes: number, buffer: Uint8Array): boolean => this.forward(bytes, buffer),
  };
  private readonly onWritten = (): void => {
    if (!this.waitingForWrite || this.sink === undefined || this.sink.writableLength > 0) return;
    this.waitingForWrite = false;
    this.source?.resume();
  };

  attach(source: net.Socket, sink: net.Socket): void {
    this.source = source;
    this.sink = sink;
    for (const chunk of this.early.splice(0)) sink.write(chunk);
  }

  private forward(bytes: number, buffer: Uint8Array): boolean {
    const sink = this.sink;
    if (sink === undefined) {
      this.early.push(Buffer.from(buffer.subarray(0, bytes)));
      return false;
    }
    sink.write(buffer.subarray(0, bytes), this.onWritten);
    if (bytes === buffer.length && this.size < READ_BUFFER_BYTES) {
      // A bulk transfer: the next read gets a large buffer; the write keeps the small one alive.
      this.size = READ_BUFFER_BYTES;
      this.buffer = undefined;
      return true;
    }
    if (sink.writableLength === 0) return true;
    // The pending write still points into the buffer: no read may overwrite it before it is done.
    this.waitingForWrite = true;
    return false;
  }
}

/** For each side, the reused read buffer it was dialled with, if it was dialled by ftpmasq. */
export interface RelayReaders {
  readonly client?: ReusedReadBuffer | undefined;
  readonly upstream?: ReusedReadBuffer | undefined;
}

export type RelayCloseReason = 'complete' | 'client-error' | 'upstream-error' | 'aborted' | 'session-closed' | 'stalled';

export interface RelayOptions {
  /**
   * Closes the relay (reason `stalled`) once no byte has been read from either side for this
   * long. Checked a few times per period from the sockets' byte counts, so the data path itself
   * does no bookkeeping; a stall is noticed within 1.25 times the limit.
   */
  readonly stallTimeoutMs?: number | undefined;
}

/** How many times per stall period the byte counts are sampled. */
const STALL_SAMPLES_PER_PERIOD = 4;

/** A relay's bytes so far, for the live view: read from its own sockets' counters, never from its data path. */
export interface RelayProgress {
  /** When the relay started, on the `performance.now()` clock. */
  readonly startedAtMs: number;
  readonly bytesToClient: number;
  readonly bytesToUpstream: number;
}

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
  private readonly startedAtMs = performance.now();
  private reason: RelayCloseReason | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private toClientFinished = false;
  private toUpstreamFinished = false;
  private readonly toClientWaiters: Array<() => void> = [];
  private readonly onClose: (result: RelayResult) => void;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    onClose: (result: RelayResult) => void,
    readers: RelayReaders = {},
    options: RelayOptions = {},
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
    if (options.stallTimeoutMs !== undefined) this.watchForStall(options.stallTimeoutMs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the relay closed; undefined while open. */
  get closeReason(): RelayCloseReason | undefined {
    return this.reason;
  }

  /** Bytes handed to each side's socket so far (what the kernel has not sent yet included). */
  get progress(): RelayProgress {
    return { startedAtMs: this.startedAtMs, bytesToClient: this.client.bytesWritten, bytesToUpstream: this.upstream.bytesWritten };
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
    this.reason = reason;
    clearInterval(this.stallTimer);
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

  private watchForStall(limitMs: number): void {
    let lastRead = this.bytesRead();
    let quietSince = performance.now();
    this.stallTimer = setInterval(
      () => {
        const read = this.bytesRead();
        const now = performance.now();
        if (read !== lastRead) {
          lastRead = read;
          quietSince = now;
        } else if (now - quietSince >= limitMs) {
          this.close('stalled');
        }
      },
      Math.min(2 ** 31 - 1, Math.max(1, Math.floor(limitMs / STALL_SAMPLES_PER_PERIOD))),
    );
    this.stallTimer.unref();
  }

  private bytesRead(): number {
    return this.client.bytesRead + this.upstream.bytesRead;
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
    reader.attach(source, sink);
  }
  sink.on('drain', () => source.resume());
  source.on('end', () => sink.end());
  sink.on('finish', onFinished);
}
