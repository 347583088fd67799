"""The importer with the real Pulumi CLI: a replication-manager cluster file becomes a stack whose passwords are
secrets in its file (set through ``config set --secret``, the value on standard input) and whose preview passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import PULUMI, cli_stack

pytestmark = pytest.mark.timeout(300)
SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "importer_samples"


def test_imported_stack_has_secret_passwords_and_previews(tmp_path):
    stack = cli_stack(tmp_path, {})
    try:
        root = stack.project.root
        done = subprocess.run([sys.executable, "-m", "components.importer", str(SAMPLES / "local-haproxy.toml"),
                               "--stack", stack.name, "--project", str(root), "--pulumi", PULUMI],
                              env=stack.env, capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr
        assert "set replstack:rootPassword as a secret" in done.stderr
        text = (root / f"Pulumi.{stack.name}.yaml").read_text()
        assert "mariadb-root-pw" not in text and "secure:" in text and "encryptionsalt" in text
        assert stack.run("config", "get", "replstack:rootPassword").ok().stdout.strip() == "mariadb-root-pw"
        assert stack.config()["replstack:database"]["preferredPrimary"] == "db2"
        # Ports of the sample may be taken on a shared host: free ones instead, the rest as imported.
        stack.config_set("replstack:local", {"baseDir": str(tmp_path / "data"), "mariadbBinDir": "/usr/sbin",
                                             "haproxyBinary": "/usr/sbin/haproxy"})
        stack.run("config", "rm", "--path", "replstack:database.port").ok()
        stack.run("config", "rm", "--path", "replstack:proxies[0].ports").ok()
        preview = stack.run("preview").ok()
        assert "mariadb-root-pw" not in preview.output
    finally:
        stack.run("stack", "rm", "--yes", "--force")
