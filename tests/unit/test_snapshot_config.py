"""Snapshot settings and the snapshot command's text: what the spec accepts and refuses (naming the key and what
is allowed), and that the rendered script and crontab line carry paths as single shell words, refusing values
that would add a line or a command."""

from __future__ import annotations

import shlex

import pytest

from components.configurator.mariadb import MariaDBPaths
from components.configurator.render import UnsafeValue
from components.configurator.snapshot import SnapshotJob, cron_line, render_snapshot_script, with_cron_line
from components.spec import SpecError, load_spec


def spec_with(snapshots: dict) -> object:
    return load_spec({"database": {"nodes": 3, "snapshots": snapshots}})


def refusal(snapshots: dict) -> str:
    with pytest.raises(SpecError) as failure:
        spec_with(snapshots)
    return str(failure.value)


def test_defaults_are_off_daily_seven_on_the_preferred_primary():
    spec = load_spec({"database": {"nodes": 3, "preferredPrimary": "db2"}})
    assert (spec.database.snapshots.enabled, spec.database.snapshots.schedule, spec.database.snapshots.keep) == \
        (False, "@daily", 7)
    assert spec.snapshot_node() == "db2"


@pytest.mark.parametrize("schedule", ["30 2 * * *", "*/15 * * * 1-5", "@hourly", "manual", "0  3 * * sun"])
def test_crontab_schedules_are_accepted(schedule):
    assert spec_with({"enabled": True, "schedule": schedule}).database.snapshots.schedule == " ".join(schedule.split())


@pytest.mark.parametrize("schedule", ["daily", "30 2 * *", "* * * * * /bin/evil", "30 2 * * *; reboot", "@often"])
def test_other_schedules_are_refused_naming_the_key(schedule):
    text = refusal({"enabled": True, "schedule": schedule})
    assert "replstack:database.snapshots.schedule" in text and "allowed: five fields" in text


def test_the_node_must_be_a_node_of_the_cluster():
    text = refusal({"enabled": True, "node": "db7"})
    assert "replstack:database.snapshots.node" in text and "allowed: db1, db2, db3" in text


@pytest.mark.parametrize("directory", ["relative/dir", "/var", "/etc/backups", "/srv/a b", "/srv/../etc"])
def test_the_directory_is_an_absolute_directory_of_its_own(directory):
    assert "replstack:database.snapshots.directory" in refusal({"enabled": True, "directory": directory})


def test_keep_is_at_least_one():
    assert "replstack:database.snapshots.keep" in refusal({"enabled": True, "keep": 0})


def job(**changes) -> SnapshotJob:
    paths = MariaDBPaths(config="/d/c/db1/my.cnf", pid_file="/d/c/db1/mariadbd.pid", socket="/d/c/db1/mariadbd.sock",
                         datadir="/d/c/db1/data", log_error="/d/c/db1/error.log", tmpdir="/d/c/db1/tmp")
    values = dict(cluster="replstack-prod", node="db1", paths=paths, directory="/d/c/snapshots", keep=3,
                  os_user="mysql", tools_dir="/usr/bin", from_replica=False)
    values.update(changes)
    return SnapshotJob(**values)


def test_the_script_streams_prepares_and_keeps():
    script = render_snapshot_script(job())
    assert "/usr/bin/mariadb-backup --defaults-file=/d/c/db1/my.cnf --backup --stream=xbstream" in script
    assert "| /usr/bin/mbstream -x" in script and "--prepare" in script
    assert "keep=3" in script and "flock -n 9" in script
    assert "--slave-info" not in script
    assert "--slave-info" in render_snapshot_script(job(from_replica=True))


def test_a_path_with_shell_characters_stays_one_word():
    script = render_snapshot_script(job(directory="/d/my snapshots;rm -rf x"))
    assert "dir='/d/my snapshots;rm -rf x'" in script


@pytest.mark.parametrize("field,value", [("directory", "/d/snap\nrm -rf /"), ("os_user", "mysql\n"),
                                         ("tools_dir", "/usr/bin\r"), ("node", "db1\"; reboot; \""),
                                         ("cluster", "a b")])
def test_a_value_with_a_line_break_is_refused(field, value):
    with pytest.raises(UnsafeValue):
        render_snapshot_script(job(**{field: value}))


def test_the_crontab_line_runs_the_script_and_carries_the_mark():
    line = cron_line("replstack-prod", "30 2 * * *", job())
    assert line == ("30 2 * * * /d/c/snapshots/snapshot-db1.sh >>/d/c/snapshots/snapshots.log 2>&1 "
                    "# replstack snapshot replstack-prod")
    assert shlex.split(line.split(" ", 5)[5], comments=True)[0] == "/d/c/snapshots/snapshot-db1.sh"


def test_a_percent_sign_is_refused_in_a_crontab_line():
    with pytest.raises(UnsafeValue):
        cron_line("replstack-prod", "@daily", job(directory="/d/100%"))


def test_other_crontab_lines_are_kept():
    existing = "MAILTO=ops\n0 1 * * * /usr/local/bin/other\n@daily /x # replstack snapshot replstack-prod\n"
    updated = with_cron_line(existing, "replstack-prod", "@hourly /y # replstack snapshot replstack-prod")
    assert updated == "MAILTO=ops\n0 1 * * * /usr/local/bin/other\n@hourly /y # replstack snapshot replstack-prod\n"
    assert with_cron_line(updated, "replstack-prod", None) == "MAILTO=ops\n0 1 * * * /usr/local/bin/other\n"
    assert with_cron_line("@daily /x # replstack snapshot replstack-prod-2\n", "replstack-prod", None) == \
        "@daily /x # replstack snapshot replstack-prod-2\n"
