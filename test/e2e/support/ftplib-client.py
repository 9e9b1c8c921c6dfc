"""One FTP operation with Python's ftplib, as a legacy client does it: PASV, and the 227 address trusted.

Usage: ftplib-client.py HOST PORT USER PASSWORD TIMEOUT list
       ftplib-client.py HOST PORT USER PASSWORD TIMEOUT get REMOTE LOCAL
       ftplib-client.py HOST PORT USER PASSWORD TIMEOUT put LOCAL REMOTE

`trust_server_pasv_ipv4_address = True` restores the behaviour of Python before 3.6.13 / 3.7.10 / 3.8.8:
the data connection goes to the address inside the 227 reply, not to the control peer. ftplib sends PASV
(not EPSV) on IPv4. TIMEOUT (seconds) bounds every socket operation, control and data, so a failure is
fast. The LIST output goes to stdout as UTF-8; the protocol trace (set_debuglevel) goes to stderr.
Exit status: 0 done, 1 FTP or network error (its class and errno on the last stderr line), 2 bad usage.
"""

import ftplib
import sys


def main(argv):
    if len(argv) < 7:
        sys.stderr.write(__doc__)
        return 2
    host, port, user, password, timeout, operation = argv[1:7]
    operands = argv[7:]
    out = sys.stdout.buffer
    # ftplib prints its debug trace with print(); keep stdout for the listing only.
    sys.stdout = sys.stderr
    try:
        ftp = ftplib.FTP(timeout=float(timeout), encoding="utf-8")
        ftp.trust_server_pasv_ipv4_address = True
        ftp.set_debuglevel(1)
        ftp.connect(host, int(port))
        ftp.login(user, password)
        ftp.set_pasv(True)
        if operation == "list" and not operands:
            ftp.retrlines("LIST", lambda line: out.write(line.encode("utf-8") + b"\n"))
        elif operation == "get" and len(operands) == 2:
            with open(operands[1], "wb") as local:
                ftp.retrbinary("RETR " + operands[0], local.write, blocksize=1 << 16)
        elif operation == "put" and len(operands) == 2:
            with open(operands[0], "rb") as local:
                ftp.storbinary("STOR " + operands[1], local, blocksize=1 << 16)
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
