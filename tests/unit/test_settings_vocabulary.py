"""The settings vocabulary of replication-manager's configurator: its tags (its default tag string as it is,
labels with no effect, tags refused with the reason), checked against the golden file and mariadbd's own option
parser."""

from __future__ import annotations

import subprocess

import pytest

from components.configurator.mariadb import database_settings
from components.configurator.tags import (DATABASE_TAGS, LABELS, REFUSED_TAGS, RM_DEFAULT_TAGS, conflicts,
                                          tag_settings)
from components.spec import SpecError
from tests.unit.test_configurator import check_golden, compatible_tags, my_cnf, spec_of


def test_replication_managers_default_tag_string_is_accepted_as_it_is():
    spec = spec_of({"prov-db-tags": RM_DEFAULT_TAGS})
    assert spec.database.tags == RM_DEFAULT_TAGS.split(",")
    assert spec_of({"database": {"tags": RM_DEFAULT_TAGS}}).database.tags == RM_DEFAULT_TAGS.split(",")


def test_default_tag_string_golden():
    check_golden("rm-default-tags.my.cnf", my_cnf({"tags": RM_DEFAULT_TAGS}, 1, True))


def test_labels_change_nothing_and_each_says_why():
    labels = [t for t, settings in DATABASE_TAGS.items() if not settings and t != "smallredolog"]
    assert sorted(labels) == sorted(LABELS)
    base = database_settings(spec_of({"database": {"tags": []}}).database, 1, True)
    assert database_settings(spec_of({"database": {"tags": labels}}).database, 1, True) == base


def test_every_tag_of_the_reference_is_known_or_refused():
    reference = ("innodb myrocks tokudb spider sphinx connect mroonga oqgraph archive s3 mcs backhole semisync row "
                 "statement multidomains mysqlgtid grouprep nologslaveupdates wsrep gtidstrict nobinlog noslavestart "
                 "lossyconv idempotent trustfunctioncreators optimistic serialize minimal aggressive "
                 "nologslavestatement nosyncbinlog noalter2phase compresstables compressbinlog nodoublewrite "
                 "nodurable noodirect autodefrag smallredolog ssd zfs diskmonitor relayspacelimit splitundolog "
                 "nosplitpath notmpdisk noadaptatiiveflush general metadatalocks audit sqlerror pfs userstats "
                 "logtotable nologdeadlocks nologslowqueries nologslowddlqueries nologslowslavequeries nowarnings "
                 "threadpool noquerycache resolvdns proxyprotocol bind nobind ssl readonly pwdchecksimple "
                 "pwdcheckcracklib keyfileencrypt localinfile ed25519 noauth nohandshake bm4ci bm4cs utf8ci utf8cs "
                 "noautocommit lowercasetable sqlmodeoracle sqlmodeunstrict eits noicp nodeadlockdetect hashjoin "
                 "nestedjoin firstmatch semijoincache loosescan extendedkeys noderivedmerge notableelimination "
                 "noderivedwithkeys nointoexists nomrr noouterjoincache subquerycache utctime readcommitted sequence "
                 "noecp noscp nohcp nodcp nointosubquery nolateralderived imsi nobloomfilter histograms readsnapshot "
                 "readdirty readserialized trace noforcepk interleave docker pkg deb rpm linux osx slow noaio").split()
    assert [t for t in reference if t not in DATABASE_TAGS and t not in REFUSED_TAGS] == []
    assert not set(DATABASE_TAGS) & set(REFUSED_TAGS)


@pytest.mark.parametrize("tag", sorted(REFUSED_TAGS))
def test_a_refused_tag_says_why(tag):
    with pytest.raises(SpecError) as error:
        spec_of({"database": {"tags": ["slow", tag]}})
    assert f"replstack:database.tags: tag {tag!r} is refused: {REFUSED_TAGS[tag]}" in str(error.value)


def test_tags_that_disagree_are_refused_together_and_slow_yields():
    with pytest.raises(SpecError, match="'readcommitted' and 'readdirty' both set transaction_isolation"):
        spec_of({"database": {"tags": ["readcommitted", "readdirty"]}})
    assert tag_settings(["slow", "nologslowqueries"])["slow_query_log"] == "0"
    assert conflicts(["nodurable", "nosyncbinlog"]) == []  # the same value twice


def test_list_settings_add_up():
    settings = tag_settings(["sqlerror", "audit", "noicp", "nomrr", "sqlerror"])
    assert settings["plugin_load_add"] == "sql_errlog;server_audit"
    assert settings["optimizer_switch"] == "index_condition_pushdown=off,mrr=off"


def test_an_unknown_tag_suggests_a_close_one():
    with pytest.raises(SpecError, match=r"unknown tag 'semisnc' \(did you mean semisync\?\)"):
        spec_of({"database": {"tags": ["semisnc"]}})


def test_mariadbd_accepts_every_compatible_tag_together(tmp_path):
    text = my_cnf({"tags": compatible_tags()}, 1, True)
    path = tmp_path / "my.cnf"
    path.write_text(text.replace("/srv/replstack/demo/db1", str(tmp_path)))
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(["mariadbd", f"--defaults-file={path}", "--help", "--verbose"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "unknown variable" not in proc.stderr and "ERROR" not in proc.stderr
