"""The per-flavor words of the live SQL steps (components.dialect), without a server: what MariaDB stacks carry
stays as it was, and MySQL gets its own privileges, account clauses and replica statements."""

from __future__ import annotations

from components.dialect import Dialect


def test_mariadb_stacks_carry_nothing_new():
    assert Dialect.of({}).inputs == {}
    assert Dialect.of({}).replica("status") == "SHOW SLAVE STATUS"
    clause, params = Dialect.of({}).identified("s3cret")
    assert clause == "IDENTIFIED BY PASSWORD %s" and params[0].startswith("*") and "s3cret" not in params[0]


def test_mysql_words_follow_the_version():
    mysql = Dialect.of({"flavor": "mysql", "serverVersion": "9.7.4"})
    assert mysql.inputs == {"flavor": "mysql", "serverVersion": "9.7.4"}
    assert mysql.replica("status") == "SHOW REPLICA STATUS" and mysql.replica("reset") == "RESET REPLICA ALL"
    assert mysql.identified("s3cret") == ("IDENTIFIED BY %s", ("s3cret",))  # a parameter, never in the text
    assert mysql.privileges("PROCESS, BINLOG MONITOR, SLAVE MONITOR, SHOW DATABASES") == \
        "PROCESS, REPLICATION CLIENT, SHOW DATABASES"
    assert mysql.grant("SELECT, SLAVE MONITOR ON *.*") == "SELECT, REPLICATION CLIENT ON *.*"
    assert mysql.bypass_read_only == ("SUPER", "CONNECTION_ADMIN")
    assert mysql.semi_sync("source") == "rpl_semi_sync_source_enabled"
    old = Dialect.of({"flavor": "mysql", "serverVersion": "8.0.20"})
    assert old.replica("start") == "START SLAVE" and old.semi_sync("replica") == "rpl_semi_sync_slave_enabled"
    change = mysql.change_source(host="10.0.0.1", port=3306, user="repl", password="pw")
    assert "SOURCE_AUTO_POSITION = 1" in change.sql and "pw" not in change.sql
