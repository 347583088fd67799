"""The kube backend's control channel: how the engine's SQL steps (replication, users, proxy sync) reach a pod.

Through the API server with ``kubectl exec``, authenticated by the stack's kubeconfig (or the ambient one):
a unix socket inside the pod is relayed over the exec stream by the same small Perl relay the SSH transport
runs on its hosts (the server image has Perl), so the administrative socket is used as the container's
account (root), as on every other backend, and nothing listens on a port for it. TCP ports are reached with
``kubectl port-forward``. No Service, Job or sidecar is needed, and it works wherever the API server is reachable.

Only what the SQL steps use is here (``os_user``, ``run``, ``unix_request``, ``forward_unix``, ``forward_tcp``);
the process lifecycle of the other backends is the kubelet's job on this one.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import tempfile
import threading
from typing import Any, Iterator, Mapping, Sequence

from components.orchestrators.hosts import CommandFailed


def kubectl() -> str:
    """The kubectl the channel runs: ``$REPLSTACK_KUBECTL`` or the one on PATH."""
    return os.environ.get("REPLSTACK_KUBECTL") or "kubectl"

# The relay of the SSH transport (``relay PATH``: stdin to the socket, its answer to stdout).
_RUN_PERL = 'p=$1; shift; exec perl -e "$p" -- "$@"'


def _relay_source() -> str:
    from components.orchestrators.ssh import _HELPER

    return _HELPER


class KubeHost:
    """One pod (by name, or the first pod a label selector finds), in one container."""

    def __init__(self, access: Mapping[str, Any]):
        self.namespace = access["namespace"]
        self.pod = access.get("pod")
        self.selector = access.get("selector")
        self.container = access.get("container")
        self.kubeconfig = access.get("kubeconfig")
        self.context = access.get("context")

    @property
    def os_user(self) -> str:
        return "root"  # kubectl exec runs as the container's user: root in the server and init images

    @property
    def label(self) -> str:
        return f"pod {self.namespace}/{self.pod or self.selector}"

    @contextlib.contextmanager
    def _base(self) -> Iterator[list[str]]:
        """kubectl with this stack's cluster: a given kubeconfig is written to a private temporary file for the
        command's time only."""
        argv = [kubectl()]
        with contextlib.ExitStack() as stack:
            if self.kubeconfig:
                handle = stack.enter_context(tempfile.NamedTemporaryFile("w", prefix="replstack-kubeconfig-"))
                os.chmod(handle.name, 0o600)
                handle.write(self.kubeconfig)
                handle.flush()
                argv += ["--kubeconfig", handle.name]
            if self.context:
                argv += ["--context", self.context]
            yield argv + ["--namespace", self.namespace]

    def _pod_name(self, base: list[str]) -> str:
        if self.pod:
            return self.pod
        done = subprocess.run(base + ["get", "pods", "--selector", self.selector, "--field-selector",
                                      "status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not done.stdout.strip():
            raise CommandFailed(f"{self.label}: no running pod ({done.stderr.strip() or 'none found'})")
        return done.stdout.strip()

    def _exec(self, base: list[str], argv: Sequence[str], interactive: bool) -> list[str]:
        words = base + ["exec"] + (["-i"] if interactive else []) + [self._pod_name(base)]
        if self.container:
            words += ["-c", self.container]
        return words + ["--", *argv]

    def run(self, argv: Sequence[str], *, timeout: float = 300, stdin: bytes | None = None) -> str:
        with self._base() as base:
            done = subprocess.run(self._exec(base, argv, stdin is not None), input=stdin, capture_output=True,
                                  timeout=timeout)
        if done.returncode != 0:
            raise CommandFailed(f"{self.label}: {' '.join(argv)} exited {done.returncode}: "
                                f"{done.stderr.decode(errors='replace').strip()[-500:]}")
        return done.stdout.decode(errors="replace")

    def read_file(self, path: str) -> str | None:
        try:
            return self.run(["cat", path])
        except CommandFailed:
            return None

    def unix_request(self, path: str, data: bytes, *, timeout: float = 3.0) -> bytes:
        """``data`` to the unix socket ``path`` in the pod, and everything it answers until it closes."""
        with self._base() as base:
            done = subprocess.run(self._exec(base, ["sh", "-c", _RUN_PERL, "sh", _relay_source(), "relay", path],
                                             True), input=data, capture_output=True, timeout=timeout + 30)
        if done.returncode != 0:
            raise CommandFailed(f"{self.label}: unix socket {path}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    @contextlib.contextmanager
    def forward_unix(self, socket_path: str, *, max_connections: int = 8) -> Iterator[tuple[str, int]]:
        """A local ``(127.0.0.1, port)``; each connection to it is carried by its own ``kubectl exec`` of the
        relay to ``socket_path`` in the pod."""
        with self._base() as base:
            command = self._exec(base, ["sh", "-c", _RUN_PERL, "sh", _relay_source(), "relay", socket_path], True)
            with _Forwarder(command, max_connections) as address:
                yield address

    @contextlib.contextmanager
    def forward_tcp(self, remote_host: str, remote_port: int, *, max_connections: int = 8) -> Iterator[tuple[str, int]]:
        """``kubectl port-forward`` of the pod's ``remote_port`` to a free local port (the pod is the host)."""
        with self._base() as base:
            process = subprocess.Popen(base + ["port-forward", f"pod/{self._pod_name(base)}",
                                               f":{int(remote_port)}", "--address", "127.0.0.1"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = process.stdout.readline() if process.stdout else ""
                found = re.search(r"127\.0\.0\.1:(\d+)", line)
                if not found:
                    raise CommandFailed(f"{self.label}: port-forward: {line.strip()} "
                                        f"{process.stderr.read() if process.stderr else ''}".strip())
                yield ("127.0.0.1", int(found.group(1)))
            finally:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)


class _Forwarder:
    """A loopback listener; each accepted connection is copied to and from a new process's stdin and stdout."""

    def __init__(self, command: list[str], max_connections: int):
        self.command = command
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(max_connections)
        self.closing = threading.Event()
        self.threads: list[threading.Thread] = []
        self.processes: list[subprocess.Popen] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True, name="kube-forward")

    def __enter__(self) -> tuple[str, int]:
        self.acceptor.start()
        return self.listener.getsockname()

    def __exit__(self, *exc: Any) -> None:
        self.closing.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for process in list(self.processes):
            if process.poll() is None:
                process.kill()
            process.wait()
        for thread in self.threads:
            thread.join(5)
        self.acceptor.join(5)

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, bufsize=0)
        self.processes.append(process)
        assert process.stdin is not None and process.stdout is not None
        out_fd = process.stdout.fileno()
        client_open = True
        try:
            while not self.closing.is_set():
                readable, _, _ = select.select([client, out_fd] if client_open else [out_fd], [], [], 0.5)
                if client in readable:
                    data = client.recv(65536)
                    if data:
                        process.stdin.write(data)
                    else:
                        client_open = False
                        process.stdin.close()
                if out_fd in readable:
                    data = os.read(out_fd, 65536)
                    if not data:
                        break
                    client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            if process.poll() is None:
                process.kill()
            process.wait()
