"""What MariaDB's server accepts in ``my.cnf``, and which of it replstack refuses or keeps for itself.

``mariadb-options.yaml`` beside this file lists every option name the installed ``mariadbd`` accepts (with the
options of every plugin library shipped in its plugin directory), generated from ``mariadbd --verbose --help``
by this module: ``python -m components.configurator.server_options`` rewrites it, ``--check`` only compares.
A unit test fails when the shipped list and the installed server disagree, so a server upgrade is one command.

Option names are kept in their ``_`` form: the server treats ``-`` and ``_`` alike. The server also accepts any
unambiguous prefix of a name (``skip-grant-tab`` is ``skip-grant-tables``); the spec checks whole names only.

The tables below are data for the spec (which does the checking): settings replstack renders itself, settings
refused unless ``database.allowUnsafeSettings`` lists them, and options whose value is a file or directory.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "mariadb-options.yaml"

# Settings replstack writes itself (placement, replication identity, its own way in): never taken from a stack.
MANAGED: dict[str, str] = {
    **{name: "chosen by the orchestrator for each node (the address is local.bindAddress)" for name in (
        "port", "bind_address", "report_host", "report_port", "socket", "datadir", "pid_file", "log_error",
        "tmpdir", "user", "log_basename")},
    **{name: "set by replstack for replication (node identity, binary and relay logs, read-only replicas)"
       for name in ("server_id", "read_only", "log_bin", "log_bin_index", "relay_log", "relay_log_index")},
    "unix_socket": "replstack logs in to each node through the unix_socket authentication plugin",
    "bootstrap": "a start-up mode that reads SQL from standard input, not a server setting",
    "help": "prints the server's help and exits, not a server setting",
}

# Refused unless listed in database.allowUnsafeSettings, whatever their value.
UNSAFE: dict[str, str] = {
    "skip_grant_tables": "starts the server without privilege checks: any login is accepted",
    "init_file": "runs the SQL of a file with full privileges at every start",
    "init_slave": "runs SQL with full privileges whenever replication starts",
    "plugin_dir": "loads plugins from another directory: any shared library there runs inside the server",
    "allow_suspicious_udfs": "lets CREATE FUNCTION load any symbol of any library",
    "secure_file_priv": "replstack limits server-side file import and export to the node's tmp directory; "
                        "changing it lets FILE-privileged accounts read or write files elsewhere as the server's "
                        "OS user",
    "skip_networking": "turns TCP off: replication, proxies and clients stop reaching the node",
    "proxy_protocol_networks": "lets clients from those networks claim any source address, bypassing the "
                               "accounts' host limits",
    "chroot": "moves the server into another root directory, away from the files replstack manages",
}

# Galera options: a provider library loaded into the server, commands run on events and state transfers.
UNSAFE_PREFIXES: dict[str, str] = {
    "wsrep_": "Galera options load a provider library and run commands (wsrep_provider, wsrep_notify_cmd, "
              "wsrep_sst_method); replstack clusters use asynchronous replication",
}

# Booleans refused in one position only: (the unsafe position, why).
UNSAFE_WHEN_ON: dict[str, str] = {
    "local_infile": "LOAD DATA LOCAL lets any SQL statement upload files of the client's host; replstack turns "
                    "it off",
}
UNSAFE_WHEN_OFF: dict[str, str] = {
    "secure_auth": "accepts pre-4.1 password hashes, which are trivial to crack",
    "skip_name_resolve": "account host names would be matched through DNS answers",
}
TRUE_WORDS, FALSE_WORDS = frozenset({"1", "on", "true"}), frozenset({"0", "off", "false"})

# Load shared libraries: allowed when every library is one the server ships in its plugin directory, except:
PLUGIN_LOADERS = ("plugin_load", "plugin_load_add")
UNSAFE_PLUGIN_LIBRARIES: dict[str, str] = {
    "handlersocket": "opens its own network ports that read and write tables without any login",
}

# Options whose value names a file or directory: a relative path (inside the node's data directory) is fine,
# an absolute one or one that climbs out with '..' is refused unless allowed. Those replstack sets itself
# (datadir, socket, log_error, ...) are in MANAGED; the unsafe ones (init_file, plugin_dir, ...) in UNSAFE.
PATH_OPTIONS: frozenset[str] = frozenset({
    "aria_log_dir_path", "basedir", "character_sets_dir", "des_key_file", "file_key_management_filename",
    "ft_stopword_file", "general_log_file", "innodb_buffer_pool_filename", "innodb_data_file_path",
    "innodb_data_home_dir", "innodb_log_group_home_dir", "innodb_temp_data_file_path", "innodb_tmpdir",
    "innodb_undo_directory", "language", "lc_messages_dir", "log_slow_query_file", "log_tc", "master_info_file",
    "relay_log_info_file", "server_audit_file_path", "slave_load_tmpdir", "slow_query_log_file",
    "sql_error_log_filename", "ssl_ca", "ssl_capath", "ssl_cert", "ssl_crl", "ssl_crlpath", "ssl_key",
})

# The special prefixes of the server's option parser; only loose_ is accepted (and dropped) by the spec.
LOOSE_PREFIX = "loose_"
BOOLEAN_PREFIXES = ("skip_", "enable_", "disable_", "maximum_")


def canonical(name: str) -> str:
    """An option name as this module keeps it: ``-`` and ``_`` are the same to the server."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class ServerOptions:
    """The option names one server build accepts, and the plugin libraries it ships."""

    server: str
    options: frozenset[str]
    plugin_libraries: frozenset[str]

    def to_yaml(self) -> str:
        header = ("# Option names the MariaDB server accepts (with every shipped plugin loaded), and its plugin "
                  "libraries.\n# Generated from `mariadbd --verbose --help`: python -m "
                  "components.configurator.server_options\n")
        body = {"server": self.server, "plugin_libraries": sorted(self.plugin_libraries),
                "options": sorted(self.options)}
        return header + yaml.safe_dump(body, sort_keys=False, width=120)


@lru_cache(maxsize=1)
def shipped() -> ServerOptions:
    """The list shipped beside this module."""
    data = yaml.safe_load(DATA.read_text())
    return ServerOptions(server=data["server"], options=frozenset(data["options"]),
                         plugin_libraries=frozenset(data["plugin_libraries"]))


# -- generation from an installed server ------------------------------------------------------------------------
_OPTION_LINE = re.compile(r"^  (?:-\S, )?--([a-z0-9][a-z0-9-]*)", re.MULTILINE)
_PLUGIN_DIR_LINE = re.compile(r"^plugin-dir\s+(\S+)$", re.MULTILINE)


def _help(mariadbd: str, *extra: str) -> str:
    proc = subprocess.run([mariadbd, "--no-defaults", *extra, "--verbose", "--help"],
                          capture_output=True, text=True, check=True)
    return proc.stdout


def from_installed_server(mariadbd: str = "mariadbd") -> ServerOptions:
    """Reads the option names of an installed ``mariadbd``: its own, then those of each plugin library in its
    plugin directory, loaded one at a time (some libraries clash when loaded together)."""
    version = subprocess.run([mariadbd, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    base = _help(mariadbd)
    options = {canonical(n) for n in _OPTION_LINE.findall(base)}
    found = _PLUGIN_DIR_LINE.search(base)
    libraries = sorted(p.stem for p in Path(found.group(1)).glob("*.so")) if found else []
    for library in libraries:
        options |= {canonical(n) for n in _OPTION_LINE.findall(_help(mariadbd, f"--plugin-load-add={library}"))}
    return ServerOptions(server=re.sub(r"\s+", " ", version), options=frozenset(options),
                         plugin_libraries=frozenset(libraries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mariadbd", default="mariadbd", help="the server binary to read (default: on PATH)")
    parser.add_argument("--check", action="store_true", help="compare with the shipped list, write nothing")
    args = parser.parse_args(argv)
    installed = from_installed_server(args.mariadbd)
    if args.check:
        current = shipped()
        missing, extra = installed.options - current.options, current.options - installed.options
        if missing or extra or installed.plugin_libraries != current.plugin_libraries:
            print(f"{DATA.name} ({current.server}) differs from {installed.server}: "
                  f"{len(missing)} option(s) missing, {len(extra)} extra", file=sys.stderr)
            return 1
        return 0
    DATA.write_text(installed.to_yaml())
    print(f"wrote {DATA} from {installed.server}: {len(installed.options)} options, "
          f"{len(installed.plugin_libraries)} plugin libraries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
