"""The replication-manager importer on realistic cluster files (tests/unit/importer_samples): what it
translates, what it lists as not translated and why, and that no password is ever written or printed in clear
(they reach the Pulumi CLI on standard input only)."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from components import importer

SAMPLES = Path(__file__).parent / "importer_samples"
PASSWORDS = ("mariadb-root-pw", "repl-secret-pw", "haproxy-admin-pw", "Adm1n-secret", "Sp0nsor-secret",
             "Pr0xy-secret", "shared-root-pw", "shared-repl-pw", "mxs-admin-pw")


def translated(name: str, cluster: str | None = None) -> importer.Translation:
    document = tomllib.loads((SAMPLES / name).read_text())
    return importer.translate(importer.cluster_section(document, cluster)[1])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = importer.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_local_cluster_with_haproxy():
    t = translated("local-haproxy.toml")
    db = t.config["database"]
    assert t.config["orchestrator"] == "local" and t.config["serialized"] is True
    assert (db["nodes"], db["port"], db["preferredPrimary"], db["memory"], db["cores"]) == (3, 3310, "db2", 1024, 2)
    assert "semisync" in db["tags"] and "compressbinlog" in db["tags"]
    assert t.config["proxies"] == [{"kind": "haproxy", "ports": {"write": 3303, "read": 3304, "stats": 1988},
                                    "memory": 256}]
    assert t.config["bootstrap"] == {"rootUser": "root", "replicationUser": "repl"}
    assert t.config["local"] == {"haproxyBinary": "/usr/sbin/haproxy", "mariadbBinDir": "/usr/sbin"}
    assert t.secrets == {"replstack:rootPassword": "mariadb-root-pw"}
    why = dict(t.skipped)
    assert "generates the replication password" in why["replication-credential"]
    assert "no admin login" in why["haproxy-password"]
    assert "lifecycle hook" in why["prov-db-start-script"]
    assert "not a provisioning setting" in why["failover-mode"]  # from [Default]
    assert importer.validate(t, Path.cwd()) == []


def test_onpremise_cluster_with_proxysql_and_foreign_keys():
    t = translated("onpremise-proxysql.toml")
    assert t.config["orchestrator"] == "onpremise"
    assert t.config["onpremise"]["placement"] == {"db1": "10.20.0.11", "db2": "10.20.0.12", "db3": "10.20.0.13"}
    assert t.config["database"]["tags"] == ["innodb", "row", "pfs"]
    assert t.config["bootstrap"] == {"rootUser": "admin", "sponsorUser": {"name": "dba"}, "semiSync": True}
    assert t.config["proxies"] == [{"kind": "proxysql", "ports": {"sql": 6033, "admin": 6032}, "cores": 2}]
    assert set(t.secrets) == {"replstack:rootPassword", "replstack:bootstrap.sponsorUser.password"}
    why = dict(t.skipped)
    assert "also the root account" in why["replication-credential"]
    assert "opensvc backend" in why["prov-docker-daemon-private"]
    assert t.config["database"]["disk"] == {"fs": "zfs", "pool": "zpool"}
    assert "virtual IP" in why["prov-proxy-route-addr"]
    assert "not a provisioning key replstack knows" in why["prov-db-surprise-key"]
    assert "TLS" in why["prov-db-tags: ssl"] and "Galera" in why["prov-db-tags: wsrep"]
    assert "privateKey" in why["onpremise-ssh-credential"]
    assert any("privateKey" in line for line in importer.validate(t, Path.cwd()))


def test_a_file_with_several_clusters_needs_cluster(capsys):
    code, out, err = run(capsys, str(SAMPLES / "two-clusters.toml"))
    assert code == 2 and out == "" and "--cluster NAME" in err and "billing, ring3" in err
    t = translated("two-clusters.toml", "ring3")
    assert t.config["bootstrap"]["topology"] == "ring" and t.config["servicePlan"] == "x3.small"
    assert t.config["bootstrap"]["rootUser"] == "root"  # from [Default]
    assert t.config["proxies"] == [{"kind": "maxscale", "ports": {"write": 4406, "read": 4407}}]
    assert "do not follow" in dict(t.skipped)["db-servers-hosts"]


@pytest.mark.parametrize("sample, cluster", [("local-haproxy.toml", None), ("onpremise-proxysql.toml", None),
                                             ("two-clusters.toml", "ring3")])
def test_stdout_is_a_stack_file_and_nothing_prints_a_password(capsys, sample, cluster):
    code, out, err = run(capsys, str(SAMPLES / sample), *(["--cluster", cluster] if cluster else []))
    assert code == 0
    assert set(yaml.safe_load(out)) == {"config"}
    assert all(k.startswith("replstack:") for k in yaml.safe_load(out)["config"])
    assert "config set --secret --path replstack:rootPassword --stack NAME" in err
    for secret in PASSWORDS:
        assert secret not in out and secret not in err


def stub_cli(tmp_path: Path, returncode: int = 0) -> Path:
    """A stand-in for the Pulumi CLI that records its arguments and standard input."""
    record = tmp_path / "calls.jsonl"
    stub = tmp_path / "pulumi-stub"
    stub.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(record)!r}, 'a').write(json.dumps({{'argv': sys.argv[1:], 'stdin': sys.stdin.read()}})"
                    " + '\\n')\n"
                    f"print('error: no stack named x found', file=sys.stderr) if {returncode} else None\n"
                    f"sys.exit({returncode})\n")
    stub.chmod(0o755)
    return stub


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: replstack\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks" / "Pulumi.prod.yaml").write_text(
        "encryptionsalt: v1:abc\nconfig:\n  other:key: kept\n  replstack:keepData: true\n")
    return root


def test_stack_file_written_and_passwords_set_through_the_cli_on_stdin(tmp_path, capsys):
    root, stub = project(tmp_path), stub_cli(tmp_path)
    code, out, err = run(capsys, str(SAMPLES / "onpremise-proxysql.toml"), "--stack", "prod", "--project",
                         str(root), "--pulumi", str(stub))
    assert code == 0 and out == ""
    written = (root / "stacks" / "Pulumi.prod.yaml").read_text()
    settings = yaml.safe_load(written)
    assert settings["encryptionsalt"] == "v1:abc" and settings["config"]["other:key"] == "kept"
    assert "replstack:keepData" not in settings["config"]  # replstack keys replaced by the import
    assert settings["config"]["replstack:orchestrator"] == "onpremise"
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [c["argv"] for c in calls] == [
        ["--cwd", str(root.resolve()), "config", "set", "--secret", "--path", "replstack:rootPassword", "--stack",
         "prod"],
        ["--cwd", str(root.resolve()), "config", "set", "--secret", "--path",
         "replstack:bootstrap.sponsorUser.password", "--stack", "prod"]]
    assert [c["stdin"] for c in calls] == ["Adm1n-secret", "Sp0nsor-secret"]
    for secret in PASSWORDS:
        assert secret not in written and secret not in err


def test_a_secret_the_cli_cannot_set_is_left_as_a_command_to_run(tmp_path, capsys):
    root, stub = project(tmp_path), stub_cli(tmp_path, returncode=1)
    code, _out, err = run(capsys, str(SAMPLES / "local-haproxy.toml"), "--stack", "prod", "--project", str(root),
                          "--pulumi", str(stub))
    assert code == 1
    assert "could not set replstack:rootPassword (error: no stack named x found)" in err
    assert "config set --secret --path replstack:rootPassword --stack prod" in err
    assert "mariadb-root-pw" not in err
