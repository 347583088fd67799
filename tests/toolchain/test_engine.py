"""The engine built by scripts/setup: pinned version, and a whole stack lifecycle with no network at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.engine import PROJECT_DIR, engine_env, temp_project

VERSIONS = dict(
    line.split("=", 1)
    for line in (PROJECT_DIR / "engine" / "versions.env").read_text().splitlines()
    if line and not line.startswith("#")
)


def test_pulumi_version_is_the_pinned_one(tmp_path):
    env = {**os.environ, "REPLSTACK_STATE_DIR": str(tmp_path)}
    out = subprocess.run([str(PROJECT_DIR / "scripts" / "pulumi"), "version"], check=True, env=env,
                         capture_output=True, text=True).stdout.strip()
    assert out == "v" + VERSIONS["PULUMI_VERSION"]


def test_language_host_reports_the_pinned_version(tmp_path):
    env = engine_env(tmp_path)
    host = Path(env["PULUMI_ROOT"]) / "bin" / "pulumi-language-python"
    assert host.is_file() and os.access(host, os.X_OK)
    assert (host.parent / "pulumi-language-python-exec").is_file()
    assert (host.parent / "pulumi-resource-pulumi-python").is_file()
    assert (host.parent / "replstack_runtime.py").is_file()


LIFECYCLE = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.support.engine import temp_project

tmp = Path(sys.argv[2])
project = temp_project(tmp, Path(sys.argv[3]), name="toolchain")
journal = tmp / "journal.jsonl"
stack = project.stack("dev", {"toolchain:value": 21, "toolchain:journal": str(journal)})
result = {}
up = stack.up(on_output=lambda line: None)
result["up_outputs"] = {k: v.value for k, v in up.outputs.items()}
result["up_summary"] = up.summary.resource_changes
preview = stack.preview(on_output=lambda line: None)
result["preview_changes"] = preview.change_summary
refresh = stack.refresh(on_output=lambda line: None)
result["refresh_summary"] = refresh.summary.resource_changes
destroy = stack.destroy(on_output=lambda line: None)
result["destroy_summary"] = destroy.summary.resource_changes
result["journal"] = [json.loads(line)["op"] for line in journal.read_text().splitlines()]
stack.workspace.remove_stack("dev")
print("RESULT " + json.dumps(result))
"""


def test_dynamic_resource_lifecycle_without_network(tmp_path):
    """up, preview (no changes), refresh and destroy through the Automation API, run in a network namespace
    that has only a loopback interface: nothing can reach out, so anything that tried to download would fail."""
    program = Path(__file__).parent / "programs" / "dynamic"
    script = (
        "ip link set lo up && exec " + " ".join([
            sys.executable, "-c", _quote(LIFECYCLE), str(PROJECT_DIR), str(tmp_path), str(program)])
    )
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])

    assert result["up_outputs"] == {"doubled": 42}
    assert result["up_summary"] == {"create": 2}
    assert set(result["preview_changes"]) == {"same"}, result["preview_changes"]
    assert result["destroy_summary"] == {"delete": 2}
    # The provider really ran, in the dynamic-provider plugin process: create, read (refresh), delete.
    assert result["journal"] == ["create", "read", "delete"]


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@pytest.mark.parametrize("toolchain", ["uv", "poetry"])
def test_language_host_refuses_toolchains_that_install_at_run_time(tmp_path, toolchain):
    program = Path(__file__).parent / "programs" / "dynamic"
    project = temp_project(tmp_path, program, name="toolchain")
    settings = (project.root / "Pulumi.yaml").read_text().replace("toolchain: pip", f"toolchain: {toolchain}")
    (project.root / "Pulumi.yaml").write_text(settings)
    stack = project.stack("dev", {"toolchain:value": 1, "toolchain:journal": str(tmp_path / "j")})
    with pytest.raises(Exception) as failure:
        stack.preview(on_output=lambda line: None)
    assert f'toolchain="{toolchain}"' in str(failure.value) and "allowed values: pip" in str(failure.value)
