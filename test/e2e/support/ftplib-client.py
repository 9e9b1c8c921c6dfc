"""One FTP operation with Python's ftplib, as a legacy client does it: PASV, and the 227 address trusted.

Usage: ftplib-client.py [--active] HOST PORT USER PASSWORD TIMEOUT list
       ftplib-client.py [--active] HOST PORT USER PASSWORD TIMEOUT get REMOTE LOCAL
       ftplib-client.py [--active] HOST PORT USER PASSWORD TIMEOUT put LOCAL REMOTE
       ftplib-client.py HOST PORT USER PASSWORD TIMEOUT commands COMMAND [COMMAND ...]
       ftplib-client.py HOST PORT USER PASSWORD TIMEOUT abort REMOTE NEXT
       ftplib-client.py HOST PORT USER PASSWORD TIMEOUT stat REMOTE

`trust_server_pasv_ipv4_address = True` restores the behaviour of Python before 3.6.13 / 3.7.10 / 3.8.8:
the data connection goes to the address inside the 227 reply, not to the control peer. ftplib sends PASV
(not EPSV) when HOST is IPv4, and EPSV when HOST is IPv6. `--active` is `set_pasv(False)`: ftplib listens
on the control connection's local address and sends PORT (IPv4) or EPRT |2|...| (IPv6).

`commands` logs in and sends each COMMAND as one control line (ftplib's sendcmd), whatever the reply, and
prints one JSON object per command on stdout: {"command": ..., "reply": ...}, the reply's lines joined
by "\\n" (after a preliminary 1xx reply, the final reply too). It opens no data connection itself: for
FEAT, a PASV by hand, a PORT that must be refused, a RETR that must fail.

`abort` starts RETR REMOTE, reads its first 1 MiB, then calls ftplib's abort() (ABOR sent as TCP urgent
data) and reads the replies to it: the abort's, and after a 426 the 226 that RFC 959 says follows. Then it
sends NOOP and downloads NEXT, and prints one JSON object: {"abort": [replies], "noop": reply,
"received": bytes read before the abort, "next_sha256": hex}.

`stat` starts RETR REMOTE, reads its first 1 MiB, sends STAT on the control connection, reads the rest
of the data to its end, then reads two replies (in the order they come) and sends NOOP. It prints one
JSON object: {"replies": [the two replies, lines joined by "\\n"], "noop": reply, "received": bytes,
"sha256": hex of the whole download}.

TIMEOUT (seconds) bounds every socket operation, control and data, so a failure is fast. The LIST output
goes to stdout as UTF-8; the protocol trace (set_debuglevel) goes to stderr. Exit status: 0 done, 1 FTP
or network error (its class and errno on the last stderr line), 2 bad usage.
"""

import ftplib
import hashlib
import json
import sys


def abort_download(ftp, remote, following, out):
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR " + remote)
    received = 0
    while received < (1 << 20):
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        received += len(chunk)
    replies = [ftp.abort()]
    if replies[0].startswith("426"):
        replies.append(ftp.getresp())
    conn.close()
    noop = ftp.voidcmd("NOOP")
    digest = hashlib.sha256()
    ftp.retrbinary("RETR " + following, digest.update, blocksize=1 << 16)
    out.write(json.dumps({"abort": replies, "noop": noop, "received": received, "next_sha256": digest.hexdigest()}).encode("utf-8") + b"\n")


def stat_during_download(ftp, remote, out):
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR " + remote)
    digest = hashlib.sha256()
    received = 0
    while received < (1 << 20):
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        digest.update(chunk)
        received += len(chunk)
    ftp.putcmd("STAT")
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        digest.update(chunk)
        received += len(chunk)
    conn.close()
    replies = [ftp.getmultiline(), ftp.getmultiline()]
    noop = ftp.voidcmd("NOOP")
    out.write(json.dumps({"replies": replies, "noop": noop, "received": received, "sha256": digest.hexdigest()}).encode("utf-8") + b"\n")


def send_commands(ftp, commands, out):
    for command in commands:
        reply = ""
        try:
            reply = ftp.sendcmd(command)
            if reply.startswith("1"):
                # A preliminary reply (150 before a transfer): the final one follows.
                reply += "\n" + ftp.getresp()
        except ftplib.Error as error:
            # error_reply, error_temp, error_perm, error_proto: the reply text is the message.
            reply = (reply + "\n" if reply.startswith("1") else "") + str(error)
        out.write(json.dumps({"command": command, "reply": reply}).encode("utf-8") + b"\n")


def main(argv):
    arguments = argv[1:]
    active = False
    if arguments[:1] == ["--active"]:
        active = True
        arguments = arguments[1:]
    if len(arguments) < 6:
        sys.stderr.write(__doc__)
        return 2
    host, port, user, password, timeout, operation = arguments[:6]
    operands = arguments[6:]
    out = sys.stdout.buffer
    # ftplib prints its debug trace with print(); keep stdout for the listing only.
    sys.stdout = sys.stderr
    try:
        ftp = ftplib.FTP(timeout=float(timeout), encoding="utf-8")
        ftp.trust_server_pasv_ipv4_address = True
        ftp.set_debuglevel(1)
        ftp.connect(host, int(port))
        ftp.login(user, password)
        ftp.set_pasv(not active)
        if operation == "list" and not operands:
            ftp.retrlines("LIST", lambda line: out.write(line.encode("utf-8") + b"\n"))
        elif operation == "get" and len(operands) == 2:
            with open(operands[1], "wb") as local:
                ftp.retrbinary("RETR " + operands[0], local.write, blocksize=1 << 16)
        elif operation == "put" and len(operands) == 2:
            with open(operands[0], "rb") as local:
                ftp.storbinary("STOR " + operands[1], local, blocksize=1 << 16)
        elif operation == "commands" and operands:
            send_commands(ftp, operands, out)
        elif operation == "abort" and len(operands) == 2:
            abort_download(ftp, operands[0], operands[1], out)
        elif operation == "stat" and len(operands) == 1:
            stat_during_download(ftp, operands[0], out)
        else:
            sys.stderr.write(__doc__)
            return 2
        ftp.quit()
        return 0
    except (OSError, EOFError, ftplib.Error) as error:
        errno = getattr(error, "errno", None)
        sys.stderr.write("\nftplib-client: %s errno=%s: %s\n" % (type(error).__name__, errno, error))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
