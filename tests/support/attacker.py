"""Another local user of the host, for the security tests: commands run as ``nobody`` (no groups), the way a
hostile account on a shared machine would run them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
# The system interpreter: the project's virtualenv may sit where other users cannot read.
PYTHON = "/usr/bin/python3"


def as_nobody(argv: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*AS_NOBODY, *argv], capture_output=True, text=True, timeout=timeout, cwd="/",
                          stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


def python_as_nobody(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return as_nobody([PYTHON, "-c", code, *args], timeout=timeout)


@contextlib.contextmanager
def shared_tmp(prefix: str) -> Iterator[Path]:
    """A temporary directory every account may traverse (as a checkout in a home directory usually is), so that
    only the protections replstack sets itself stand between other users and what is inside."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        os.chmod(path, 0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
