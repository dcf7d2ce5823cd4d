#!/usr/bin/env python3
"""HAProxy runtime API client (the stack has no socat).

  hactl.py SOCKET "command; command"      print HAProxy's answer
  hactl.py SOCKET --server app/app1 FIELD  one field of `show stat` for a
                                           server (status, scur, chkfail, ...)
  hactl.py SOCKET --servers                "name status scur" per server

Exit status 1 when the socket cannot be reached or the server is unknown.
"""
import csv
import io
import socket
import sys


def ask(path, command, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    return b"".join(chunks).decode(errors="replace")


def stat_rows(path):
    text = ask(path, "show stat")
    if text.startswith("# "):
        text = text[2:]
    return list(csv.DictReader(io.StringIO(text)))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path = argv[1]
    try:
        if argv[2] == "--server":
            px, sv = argv[3].split("/", 1)
            for row in stat_rows(path):
                if row.get("pxname") == px and row.get("svname") == sv:
                    print(row.get(argv[4], ""))
                    return 0
            return 1
        if argv[2] == "--servers":
            for row in stat_rows(path):
                if row.get("svname") not in ("FRONTEND", "BACKEND"):
                    print("%s/%s %s %s" % (row["pxname"], row["svname"],
                                           row["status"].replace(" ", "_"), row["scur"]))
            return 0
        out = ask(path, " ".join(argv[2:]))
    except OSError as e:
        sys.stderr.write("hactl: %s: %s\n" % (path, e))
        return 1
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
