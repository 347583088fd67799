"""What the kube backend's tests share: the plugin (and, for the applied layer, kube-apiserver and etcd) built
by ``scripts/setup`` and reused from its cache; reading rendered manifests; the strict schema check of each
object; a real API server with its etcd on free loopback ports in a temporary directory."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import kubernetes_validate
import yaml

from tests.support.engine import PROJECT_DIR

# The Kubernetes version the objects are checked against (kubernetes-validate ships strict schemas up to 1.37).
SCHEMA_VERSION = "1.34.0"


def cache_dir() -> Path:
    return Path(os.environ.get("REPLSTACK_CACHE") or Path.home() / ".cache" / "replstack")


def setup_kube(apiserver: bool = False) -> str:
    """``scripts/setup --kube`` (``--kube-apiserver``): builds what is missing, else only checks (seconds)."""
    flag = "--kube-apiserver" if apiserver else "--kube"
    done = subprocess.run([str(PROJECT_DIR / "scripts" / "setup"), flag], capture_output=True, text=True,
                          timeout=3600)
    assert done.returncode == 0, f"scripts/setup {flag} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def rendered(directory: Path) -> list[dict[str, Any]]:
    """Every object renderYamlToDirectory wrote (``1-manifest/*.yaml``), in file name order."""
    out = []
    for path in sorted((directory / "1-manifest").glob("*.yaml")):
        out.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def validate_strict(obj: dict[str, Any]) -> None:
    """The object against the API's own schema, unknown fields refused."""
    kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ApiServer:
    """A running kube-apiserver (with its etcd): its URL, an admin token and a kubeconfig file for it."""

    url: str
    token: str
    kubeconfig: Path

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict[str, Any]]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=context, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def get(self, path: str) -> dict[str, Any]:
        status, body = self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    def names(self, path: str) -> list[str]:
        return sorted(item["metadata"]["name"] for item in self.get(path)["items"])


def _wait_ready(url: str, token: str, processes: list[subprocess.Popen], logs: list[Path], timeout: float) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while True:
        for process, log in zip(processes, logs):
            if process.poll() is not None:
                raise RuntimeError(f"{log.stem} exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            req = urllib.request.Request(url + "/readyz", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, context=context, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API server did not answer /readyz within {timeout} s: "
                               f"{logs[-1].read_text()[-2000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def api_server(directory: Path) -> Iterator[ApiServer]:
    """etcd and kube-apiserver built by ``scripts/setup --kube-apiserver``, on free loopback ports, with their
    data, keys and logs in ``directory``, and kube-controller-manager; all stopped on exit, even when the test
    failed. There is no scheduler or kubelet: objects are stored, validated, admitted and reconciled by the
    controllers, but no pod runs."""
    bin_dir = next(iter(sorted(cache_dir().glob("kube-apiserver-v*/bin"))), None)
    assert bin_dir is not None and (bin_dir / "kube-apiserver").exists(), "run scripts/setup --kube-apiserver"
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    token = secrets.token_hex(16)
    (directory / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
    client, peer, secure = free_port(), free_port(), free_port()
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        etcd_log = directory / "etcd.log"
        logs.append(etcd_log)
        processes.append(subprocess.Popen(
            [str(bin_dir / "etcd"), "--name", "test", "--data-dir", str(directory / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"test=http://127.0.0.1:{peer}"],
            stdout=etcd_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
        api_log = directory / "kube-apiserver.log"
        logs.append(api_log)
        processes.append(subprocess.Popen(
            [str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client}",
             "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
             f"--secure-port={secure}",
             f"--cert-dir={directory / 'certs'}", "--service-cluster-ip-range=10.0.0.0/24",
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
             f"--token-auth-file={directory / 'tokens.csv'}", "--authorization-mode=RBAC"],
            stdout=api_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
        url = f"https://127.0.0.1:{secure}"
        _wait_ready(url, token, processes, logs, timeout=90)
        kubeconfig = directory / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": url, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}]}))
        # The controllers: StatefulSets and Deployments make pods (which stay Pending: there is no scheduler
        # nor kubelet), PVCs, endpoints; deleted namespaces are finalized, owned objects collected.
        manager_log = directory / "kube-controller-manager.log"
        logs.append(manager_log)
        processes.append(subprocess.Popen(
            [str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
             "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
             f"--service-account-private-key-file={key}", "--use-service-account-credentials=false",
             "--controllers=*"],
            stdout=manager_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True))
        yield ApiServer(url=url, token=token, kubeconfig=kubeconfig)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def decode_secret(obj: dict[str, Any]) -> dict[str, str]:
    out = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    out.update(obj.get("stringData") or {})
    return out
