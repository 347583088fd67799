"""scripts/changed-stacks against a throw-away git repository made here: which stacks a change touches."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "changed-stacks"


class Repo:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "test@example.invalid")
        self.git("config", "user.name", "test")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True).stdout

    def write(self, path: str, text: str = "x\n") -> None:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A", ".")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def changed(self, *args: str, cwd: Path | None = None) -> list[str]:
        done = subprocess.run([str(SCRIPT), *args], cwd=cwd or self.root, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Repo, str]:
    repo = Repo(tmp_path / "repo")
    for stack in ("local", "staging", "production"):
        repo.write(f"stacks/Pulumi.{stack}.yaml", "config: {}\n")
    for path in ("__main__.py", "Pulumi.yaml", "components/spec.py", "policies/__main__.py", "docs/ci.md",
                 "tests/unit/test_x.py", "README.md", "requirements.txt", "scripts/setup", "scripts/bench-tool"):
        repo.write(path)
    return repo, repo.commit("base")


def test_a_stack_file_touches_that_stack_only(repo):
    repo, base = repo
    repo.git("checkout", "-q", "-b", "change")
    repo.write("stacks/Pulumi.staging.yaml", "config:\n  replstack:environment: staging\n")
    repo.commit("staging only")
    assert repo.changed(base) == ["staging"]


@pytest.mark.parametrize("path", ["components/spec.py", "__main__.py", "Pulumi.yaml", "policies/__main__.py",
                                  "requirements.txt", "scripts/setup", "engine/new.go"])
def test_code_every_stack_uses_touches_every_stack(repo, path):
    repo, base = repo
    repo.write(path, "changed\n")
    repo.commit("shared code")
    assert repo.changed(base) == ["local", "production", "staging"]


def test_docs_tests_and_other_scripts_touch_no_stack(repo):
    repo, base = repo
    for path in ("docs/ci.md", "tests/unit/test_x.py", "README.md", "scripts/bench-tool", ".github/workflows/x.yml"):
        repo.write(path, "changed\n")
    repo.commit("docs")
    assert repo.changed(base) == []
    assert repo.changed("--json", base) == ["[]"]


def test_a_new_stack_is_listed_and_a_deleted_one_is_not(repo):
    repo, base = repo
    repo.write("stacks/Pulumi.qa.yaml", "config: {}\n")
    (repo.root / "stacks" / "Pulumi.local.yaml").unlink()
    repo.commit("add qa, drop local")
    assert repo.changed(base) == ["qa"]


def test_changes_are_counted_from_the_merge_base_as_a_pull_request_shows_them(repo):
    """Commits made on the base branch after the branch point are not the pull request's."""
    repo, base = repo
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("stacks/Pulumi.production.yaml", "config:\n  replstack:keepData: true\n")
    repo.commit("production change")
    repo.git("checkout", "-q", "main")
    repo.write("components/spec.py", "main moved on\n")
    main = repo.commit("main change")
    repo.git("checkout", "-q", "feature")
    assert repo.changed(main) == ["production"]
    assert repo.changed(base, cwd=repo.root / "stacks") == ["production"], "runs from anywhere in the repo"


def test_all_and_json(repo):
    repo, _ = repo
    assert repo.changed("--all") == ["local", "production", "staging"]
    assert json.loads(repo.changed("--json", "--all")[0]) == ["local", "production", "staging"]


def test_only_keeps_the_stacks_ci_deploys(repo):
    repo, base = repo
    repo.write("components/spec.py", "changed\n")
    repo.commit("shared code")
    assert repo.changed("--only", "staging production", base) == ["production", "staging"]
    assert repo.changed("--json", "--only", "", "--all") == ["[]"]


def test_an_unknown_base_fails_saying_so(repo):
    repo, _ = repo
    done = subprocess.run([str(SCRIPT), "0123456789abcdef0123456789abcdef01234567"], cwd=repo.root,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "is not a commit of this repository" in done.stderr
    done = subprocess.run([str(SCRIPT)], cwd=repo.root, capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr
