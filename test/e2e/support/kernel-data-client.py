"""The data-path scenarios of kernel mode (issue 14), each one JSON object on stdout.

Usage: kernel-data-client.py session HOST PORTFILE GOFILE REMOTE
       kernel-data-client.py thief HOST PORT
       kernel-data-client.py sessions HOST COUNT REMOTE
       kernel-data-client.py abandon HOST LARGE_REMOTE

session:  logs in, sends PASV, writes the announced port to PORTFILE, waits (at most 20 s) until GOFILE
          exists, then connects to the port, downloads REMOTE (RETR) and reads the final reply. Then it
          connects to the same port once more: {"port", "size", "sha256", "reply", "second"} where
          "second" is "refused", "timeout" or "connected".
thief:    connects to HOST:PORT and reads what comes: {"connect": "refused"|"timeout"|"connected", "bytes"}.
sessions: COUNT sessions, one after the other, each: login, PASV, RETR REMOTE, QUIT:
          {"sessions", "intact", "sha256"} (intact: downloads whose bytes equal the first one's).
abandon:  sessions left at every stage of a passive transfer (see STAGES): {"stages": [name, ...],
          "after_passive_timeout": how a connection made after the passive timeout went}.

The control connection goes to HOST:21 as scott/tiger; the data connection to the address in the 227,
as legacy clients do. Every socket operation is bounded by 5 s.
"""

import ftplib
import hashlib
import json
import os
import re
import socket
import sys
import time

TIMEOUT = 5.0


def login(host):
    ftp = ftplib.FTP()
    ftp.connect(host, 21, timeout=TIMEOUT)
    ftp.login("scott", "tiger")
    ftp.voidcmd("TYPE I")
    return ftp


def pasv(ftp):
    reply = ftp.sendcmd("PASV")
    numbers = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", reply)
    if numbers is None:
        raise RuntimeError("unreadable 227: " + reply)
    parts = [int(n) for n in numbers.groups()]
    return ".".join(str(n) for n in parts[:4]), parts[4] * 256 + parts[5]


def try_connect(host, port):
    try:
        sock = socket.create_connection((host, port), timeout=TIMEOUT)
    except ConnectionRefusedError:
        return "refused", None
    except (socket.timeout, TimeoutError):
        return "timeout", None
    return "connected", sock


def read_all(sock):
    data = bytearray()
    sock.settimeout(TIMEOUT)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError, ConnectionResetError):
        pass
    sock.close()
    return bytes(data)


def session(host, port_file, go_file, remote):
    ftp = login(host)
    data_host, port = pasv(ftp)
    with open(port_file + ".tmp", "w") as out:
        out.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    deadline = time.monotonic() + 20
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            raise RuntimeError("no go file within 20 s")
        time.sleep(0.05)
    state, sock = try_connect(data_host, port)
    if sock is None:
        print(json.dumps({"port": port, "size": 0, "sha256": "", "reply": "data connection " + state, "second": ""}))
        return
    ftp.putcmd("RETR " + remote)
    ftp.getresp()
    data = read_all(sock)
    reply = ftp.getresp()
    second, extra = try_connect(data_host, port)
    if extra is not None:
        extra.close()
    ftp.quit()
    print(json.dumps({"port": port, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "reply": reply, "second": second}))


def thief(host, port):
    state, sock = try_connect(host, port)
    received = 0 if sock is None else len(read_all(sock))
    print(json.dumps({"connect": state, "bytes": received}))


def sessions(host, count, remote):
    digests = []
    for _ in range(count):
        ftp = login(host)
        data = bytearray()
        ftp.retrbinary("RETR " + remote, data.extend)
        ftp.quit()
        digests.append(hashlib.sha256(bytes(data)).hexdigest())
    print(json.dumps({"sessions": len(digests), "intact": digests.count(digests[0]), "sha256": digests[0]}))


def stage_no_pasv(host, _large):
    ftp = ftplib.FTP()
    ftp.connect(host, 21, timeout=TIMEOUT)
    ftp.close()


def stage_pasv_then_quit(host, _large):
    ftp = login(host)
    pasv(ftp)
    ftp.quit()


def stage_pasv_then_drop(host, _large):
    ftp = login(host)
    pasv(ftp)
    ftp.close()


def stage_connected_no_transfer(host, _large):
    ftp = login(host)
    data_host, port = pasv(ftp)
    _, sock = try_connect(data_host, port)
    ftp.close()
    if sock is not None:
        sock.close()


def stage_transfer_cut(host, large):
    ftp = login(host)
    data_host, port = pasv(ftp)
    _, sock = try_connect(data_host, port)
    ftp.putcmd("RETR " + large)
    ftp.getresp()
    if sock is not None:
        sock.recv(65536)
        sock.close()
    ftp.close()


def stage_pasv_replaced(host, _large):
    ftp = login(host)
    for _ in range(3):
        pasv(ftp)
    ftp.quit()


def stage_transfer_refused(host, _large):
    ftp = login(host)
    pasv(ftp)
    try:
        ftp.sendcmd("RETR no-such-file")
    except ftplib.error_perm:
        pass
    ftp.quit()


def stage_passive_timeout(host, _large):
    # The site's passive timeout is 2 s in the test: after it, the port is no longer forwarded.
    ftp = login(host)
    data_host, port = pasv(ftp)
    time.sleep(3)
    state, sock = try_connect(data_host, port)
    if sock is not None:
        sock.close()
    ftp.quit()
    return state


STAGES = [
    stage_no_pasv,
    stage_pasv_then_quit,
    stage_pasv_then_drop,
    stage_connected_no_transfer,
    stage_transfer_cut,
    stage_pasv_replaced,
    stage_transfer_refused,
    stage_passive_timeout,
]


def abandon(host, large):
    outcomes = {}
    for stage in STAGES:
        outcomes[stage.__name__] = stage(host, large)
    print(json.dumps({"stages": list(outcomes), "after_passive_timeout": outcomes["stage_passive_timeout"]}))


def main(argv):
    if len(argv) >= 6 and argv[1] == "session":
        session(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 4 and argv[1] == "thief":
        thief(argv[2], int(argv[3]))
    elif len(argv) >= 5 and argv[1] == "sessions":
        sessions(argv[2], int(argv[3]), argv[4])
    elif len(argv) >= 4 and argv[1] == "abandon":
        abandon(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
