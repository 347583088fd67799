"""The systemd units the ``onpremise`` backend writes, and the ``supervisor`` setting that chooses them. The units
themselves run on real systemd hosts in tests/integration/test_onpremise_systemd.py (``systemd-analyze verify``
passes there); these check what the text says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.configurator.render import UnsafeValue
from components.configurator.systemd_unit import ServiceCommand, exec_line, render_unit, unit_name
from components.orchestrators.onpremise_config import OnPremiseSpec


def command(**changes) -> ServiceCommand:
    fields = dict(unit="replstack-shop-prod-db1", argv=("/usr/sbin/mariadbd", "--defaults-file=/srv/shop/db1/my.cnf"),
                  workdir="/srv/shop/db1", log_path="/srv/shop/db1/mariadbd.out", user="root",
                  description="MariaDB db1 of shop-prod", start_timeout=120, stop_timeout=60)
    return ServiceCommand(**{**fields, **changes})


def test_the_unit_name_is_what_a_dba_types_after_systemctl_status():
    assert unit_name("/var/lib/replstack/shop-prod/db1") == "replstack-shop-prod-db1"
    assert unit_name("/var/lib/replstack/replstack-demo/haproxy1") == "replstack-demo-haproxy1"
    assert unit_name("/srv/a b/c~d/db2") == "replstack-c-d-db2"


def test_exec_start_quotes_what_systemd_would_split_or_expand():
    assert exec_line(["/usr/sbin/haproxy", "-Ws", "-f", "/srv/x/haproxy.cfg"]) == "/usr/sbin/haproxy -Ws -f /srv/x/haproxy.cfg"
    assert exec_line(["/bin/x", "a b", 'say "hi"', "100%", "$HOME", "back\\slash"]) == \
        '/bin/x "a b" "say \\"hi\\"" "100%%" "$$HOME" "back\\\\slash"'


def test_a_database_unit_runs_in_the_foreground_and_is_restarted_after_a_crash_only():
    text = render_unit(command())
    assert "Type=simple\n" in text
    assert "ExecStart=/usr/sbin/mariadbd --defaults-file=/srv/shop/db1/my.cnf\n" in text
    assert "WorkingDirectory=/srv/shop/db1\n" in text
    assert "StandardOutput=append:/srv/shop/db1/mariadbd.out\n" in text
    assert "Restart=on-abnormal\n" in text and "TimeoutStopSec=60\n" in text and "TimeoutStartSec=120\n" in text
    assert "WantedBy=multi-user.target\n" in text
    assert "User=" not in text and "ExecReload" not in text


def test_haproxy_tells_systemd_when_ready_and_reloads_by_signal_and_an_account_is_named():
    text = render_unit(command(notify=True, reload_signal="USR2", user="mysql"))
    assert "Type=notify\n" in text
    assert "ExecReload=/bin/kill -USR2 $MAINPID\n" in text
    assert "User=mysql\n" in text


def test_a_value_cannot_add_a_line_to_the_unit():
    with pytest.raises(UnsafeValue):
        render_unit(command(workdir="/srv/x\nExecStartPre=/bin/rm -rf /"))


def hosts(**section):
    return OnPremiseSpec.model_validate({"hosts": [{"name": "a", "address": "10.0.0.1", "privateKey": "k"},
                                                   {"name": "b", "address": "10.0.0.2", "privateKey": "k",
                                                    "supervisor": "processes"}], **section})


def test_the_supervisor_is_auto_by_default_a_host_may_differ_and_auto_stays_out_of_the_inputs():
    spec = hosts()
    assert spec.supervisor == "auto"
    assert "supervisor" not in spec.hosts[0].access(), "existing stacks' inputs do not change"
    assert spec.hosts[1].access()["supervisor"] == "processes"
    assert hosts(supervisor="systemd").hosts[0].access()["supervisor"] == "systemd"


def test_an_unknown_supervisor_names_the_allowed_values():
    with pytest.raises(ValidationError) as error:
        hosts(supervisor="sysvinit")
    assert "'auto', 'systemd' or 'processes'" in str(error.value)


def test_a_socket_directory_outside_the_service_is_made_before_each_start():
    text = render_unit(command(runtime_dirs=("/tmp/replstack-0123456789abcdef",)))
    assert "ExecStartPre=/bin/mkdir -p -m 0700 /tmp/replstack-0123456789abcdef\n" in text
    assert text.index("ExecStartPre=") < text.index("ExecStart=/usr/sbin/mariadbd")
    assert "ExecStartPre" not in render_unit(command())
