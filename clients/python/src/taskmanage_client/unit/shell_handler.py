"""The `shell` handler: runs a command on the unit's machine, so it is off unless the unit was
started with `--enable-shell`. The command is an argv list, never a string for a shell to
parse, so a payload cannot smuggle a second command in through quoting."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from typing import IO, Any

from .handlers import Cancelled, Fatal, Job, Retryable, handler, number

POLL_SECONDS = 0.1


def argv_of(job: Job) -> list[str]:
    argv = job.payload.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise Fatal("payload.argv: a non-empty list of strings is required")
    return argv


@handler("shell")
def shell(job: Job) -> dict[str, Any]:
    """payload: argv (list), timeout (s, 60), cwd. A non-zero exit fails the task for good,
    with the output's tails in its logs; a timeout fails it retryably."""
    if not job.settings.enable_shell:
        raise Fatal("the shell handler is disabled on this unit (start it with --enable-shell)")
    argv = argv_of(job)
    timeout = number(job.payload, "timeout", default=60.0, low=0.1,
                     high=job.settings.shell_max_timeout)
    cwd = job.payload.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise Fatal("payload.cwd: a string is required")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                       cwd=cwd, start_new_session=True)
        except OSError as exc:
            raise Fatal(f"payload.argv: cannot run {argv[0]}: {exc}") from exc
        code = wait(job, process, timeout)
        tail = job.settings.output_tail_bytes
        result = {"exit_code": code, "stdout": tail_of(out, tail), "stderr": tail_of(err, tail)}
    if code != 0:
        for stream in ("stdout", "stderr"):
            if result[stream]:
                job.log(f"{stream}: {result[stream]}", "warning")
        raise Fatal(f"exit code {code}")
    return result


def wait(job: Job, process: subprocess.Popen, timeout: float) -> int:
    """Waits for the process, killing it (and its children) on a timeout or a cancel."""
    deadline = time.monotonic() + timeout
    while (code := process.poll()) is None:
        if job.is_cancelled() or time.monotonic() > deadline:
            kill(process)
            if job.is_cancelled():
                raise Cancelled(job.id)
            raise Retryable(f"timed out after {timeout:g} s")
        time.sleep(POLL_SECONDS)
    return code


def kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def tail_of(stream: IO[bytes], size: int) -> str:
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - size))
    return stream.read().decode(errors="replace")
