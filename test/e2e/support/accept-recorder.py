"""A TCP listener that records every connection it accepts: the host a bounce attack would aim at.

Usage: accept-recorder.py HOST PORT SECONDS

Listens on HOST:PORT (IPv4 or IPv6 literal), prints "listening" once it does, then one line
"accept PEER_ADDRESS PEER_PORT" per accepted connection (closed at once), flushed as it happens. It stops
when its stdin reaches EOF (the test is done) or after SECONDS, whichever comes first, and prints "done".
Exit status: 0 done, 1 cannot listen, 2 bad usage.
"""

import selectors
import socket
import sys
import time


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    host, port, seconds = argv[1], int(argv[2]), float(argv[3])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(16)
    except OSError as error:
        sys.stderr.write("accept-recorder: cannot listen on %s port %d: %s\n" % (host, port, error))
        return 1
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print("listening", flush=True)
    deadline = time.monotonic() + seconds
    running = True
    while running:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for key, _ in selector.select(timeout=remaining):
            if key.data == "stdin":
                if sys.stdin.buffer.read1(4096) == b"":
                    running = False
            else:
                try:
                    connection, peer = listener.accept()
                except BlockingIOError:
                    continue
                print("accept %s %d" % (peer[0], peer[1]), flush=True)
                connection.close()
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
