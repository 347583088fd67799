"""The CI workflow follows the usual Pulumi conventions: a preview with the policy pack on pull requests for the
stacks a change touches, with its summary published to the pull request; up on merge; one concurrency group per
stack; a scheduled drift check. (tests/integration/test_ci_workflow.py runs its commands.)"""

from __future__ import annotations

from tests.support.engine import PROJECT_DIR
from tests.support.workflow import commands, load


def test_triggers():
    on = load()["on"]
    assert "pull_request" in on and on["push"]["branches"] == ["main"] and on["schedule"][0]["cron"]


def test_each_stack_job_runs_setup_first_and_has_a_concurrency_group_per_stack():
    jobs = load()["jobs"]
    for name in ("preview", "up", "drift"):
        job = jobs[name]
        assert job["needs"] == "changes"
        assert job["concurrency"]["group"] == "pulumi-stack-${{ matrix.stack }}", name
        assert job["concurrency"]["cancel-in-progress"] is False, "an up is never cancelled half-way"
        assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.changes.outputs.stacks) }}"
        assert commands(job)[0][1].strip() == "make setup", name


def test_the_commands_of_each_job():
    jobs = load()["jobs"]
    scripts = {name: "\n".join(script for _, script, _ in commands(job)) for name, job in jobs.items()}
    assert "scripts/changed-stacks --json" in scripts["changes"]
    assert "pulumi preview --stack \"$STACK\" --non-interactive --diff --policy-pack policies" in scripts["preview"]
    assert "$GITHUB_STEP_SUMMARY" in scripts["preview"]
    assert "pulumi up --stack \"$STACK\" --yes --non-interactive" in scripts["up"]
    assert "--policy-pack policies" in scripts["up"]
    assert "refresh --stack \"$STACK\" --preview-only --expect-no-changes" in scripts["drift"]
    assert jobs["preview"]["if"].startswith("github.event_name == 'pull_request'")
    assert jobs["up"]["if"].startswith("github.event_name == 'push'")
    published = [s for s in jobs["preview"]["steps"] if "sticky-pull-request-comment" in s.get("uses", "")]
    assert published and published[0]["with"]["path"] == "summary.md"


def test_docs_describe_the_workflow():
    text = (PROJECT_DIR / "docs" / "ci.md").read_text()
    for needle in (".github/workflows/pulumi.yml", "scripts/changed-stacks", "--policy-pack policies",
                   "--expect-no-changes", "concurrency", "DEPLOYED_STACKS", "REPLSTACK_STATE_DIR"):
        assert needle in text, needle
