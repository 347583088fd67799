"""The CI workflow's commands, in the workflow's order, against a local stack (the commands, not GitHub).

A throw-away git repository holds a copy of the project (the code linked in); a change adds a stack file. Then,
as the workflow would: the `changes` job lists the stacks the change touches; the `preview` job's commands
(setup, select, preview --diff with the policy pack, the summary) run for it and create nothing; the `up` job's
commands build it; the `drift` job's check passes, and fails once the cluster drifted (a config file changed
behind the engine's back)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.engine import PASSPHRASE, PROJECT_DIR
from tests.support.workflow import SHELL, commands, load

LINKED = ("__main__.py", "components", "policies", "engine", "requirements.txt", "Makefile")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    for name in LINKED:
        (root / name).symlink_to(PROJECT_DIR / name)
    shutil.copytree(PROJECT_DIR / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / ".gitignore").write_text(".venv\n*.txt\nsummary.md\n")
    (root / "stacks" / ".keep").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "test")
    git(root, "add", "-A", ".")
    git(root, "commit", "-q", "-m", "base")
    return root, git(root, "rev-parse", "HEAD")


def run_job(job: dict, root: Path, env: dict[str, str], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Runs a job's `run:` steps in order, as GitHub's default shell would, stopping at the first failure."""
    done = []
    for name, script, step_env in commands(job):
        step = {**env, **{k: v for k, v in step_env.items() if "${{" not in v}}
        result = subprocess.run([*SHELL, script], cwd=root, env=step, capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        print(f"--- {name}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        done.append(result)
        if result.returncode != 0:
            break
    return done


@pytest.mark.timeout(1500)
def test_the_workflow_commands_gate_deploy_and_check_drift_of_a_local_stack(tmp_path):
    workflow = load()
    jobs = workflow["jobs"]
    root, base = make_repo(tmp_path)
    data_dir = tmp_path / "data"
    stack = "ci"
    config = {"replstack:environment": "staging", "replstack:orchestrator": "local",
              "replstack:local": {"baseDir": str(data_dir)},
              "replstack:database": {"nodes": 1, "memory": 256}, "replstack:proxies": []}
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text("# A stack for the CI workflow's test.\n"
                                                          + yaml.safe_dump({"config": config}))
    git(root, "add", "-A", ".")
    git(root, "commit", "-q", "-m", "add the ci stack")

    output = tmp_path / "github-output"
    summary = tmp_path / "github-summary"
    output.touch()
    summary.touch()
    env = {**os.environ, "REPLSTACK_STATE_DIR": str(tmp_path / "state"), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
           "DEPLOYED_STACKS": f"{stack} production", "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary), "STACK": stack}
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)

    def pulumi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(root / "scripts" / "pulumi"), *args, "--stack", stack, "--non-interactive"],
                              env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    try:
        # Pull request: which stacks, then the gate.
        steps = run_job(jobs["changes"], root, {**env, "EVENT": "pull_request", "BASE": base})
        assert all(s.returncode == 0 for s in steps)
        assert f'stacks=["{stack}"]' in output.read_text()

        steps = run_job(jobs["preview"], root, env)
        assert [s.returncode for s in steps] == [0] * len(commands(jobs["preview"])), "setup, select, preview, summary"
        preview = steps[2].stdout
        assert "+ 5 to create" in preview or "to create" in preview, preview
        assert "Policies:" in preview or "high-availability" in preview, "the policy pack ran"
        assert "high-availability" in preview, "a one-node stack gets the advisory warning"
        published = summary.read_text()
        assert f"`pulumi preview` of stack `{stack}`" in published and "to create" in published
        assert not data_dir.exists(), "the preview started nothing"

        # Merge: up.
        steps = run_job(jobs["up"], root, env)
        assert [s.returncode for s in steps] == [0] * len(commands(jobs["up"])), steps[-1].stderr
        assert (data_dir / f"replstack-{stack}" / "db1" / "my.cnf").is_file()

        # Schedule: the drift check passes on a converged stack...
        steps = run_job(jobs["drift"], root, env)
        assert [s.returncode for s in steps] == [0, 0], steps[-1].stdout + steps[-1].stderr

        # ... and fails once reality drifted.
        my_cnf = data_dir / f"replstack-{stack}" / "db1" / "my.cnf"
        my_cnf.write_text(my_cnf.read_text() + "\n# edited by hand\nmax_connections = 7\n")
        steps = run_job(jobs["drift"], root, env)
        assert steps[-1].returncode != 0, "a drifted stack fails the drift check"
        assert "no changes were expected" in (steps[-1].stdout + steps[-1].stderr).lower()
    finally:
        destroyed = pulumi("destroy", "--yes")
        print(destroyed.stdout + destroyed.stderr)
        pulumi("stack", "rm", "--yes", "--force")
    assert not data_dir.exists() or not any(data_dir.iterdir()), "destroy left nothing"
