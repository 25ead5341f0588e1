#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal and answers its prompts, as a person at a terminal.

    tty_answer.py TIMEOUT_SECONDS CMD [ARG...]   (the answers on stdin, one line each)

Each answer is typed only once the command has asked (its output ends in ": " since the last
answer) and has turned the terminal's echo off (password prompts; a prompt that echoes gets
none), so a password prompt that flushes earlier input (tcsetattr TCSAFLUSH) cannot lose it and
nothing typed is echoed. The answers never reach a
command line. The command's terminal output goes to our stdout; we exit with its status, or 124
when it outlives TIMEOUT_SECONDS (then it is killed).
"""
import os
import pty
import select
import signal
import sys
import termios
import time


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    answers = sys.stdin.read().splitlines()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    since_answer = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124
        ready, _, _ = select.select([fd], [], [], min(left, 0.05))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the command closed the terminal (it exited)
                break
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            since_answer += chunk
        if answers and since_answer.endswith(b": ") and not termios.tcgetattr(fd)[3] & termios.ECHO:
            os.write(fd, answers.pop(0).encode() + b"\n")
            since_answer = b""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
