"""The ``replstack:onpremise`` stack section: the existing hosts a cluster runs on, reached over SSH, and where
each service goes. Validated with the rest of the stack before anything is touched; kept apart from the backend
so that the spec can use it without importing the providers."""

from __future__ import annotations

import ipaddress
from pathlib import PurePosixPath
from typing import Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator



class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


class OnPremiseHost(_Section):
    """One existing host, reached over SSH."""

    name: str | None = Field(None, description="how services refer to it; default: its address")
    address: str = Field(description="address the engine connects to and services listen on")
    port: int = Field(22, ge=1, le=65535, description="SSH port")
    user: str = Field("root", description="login account; services run as it (or as root with sudo)")
    private_key: SecretStr | None = Field(None, alias="privateKey", description="the key's text, as a secret")
    password: SecretStr | None = Field(None, description="as a secret; a key is better")
    sudo: bool = Field(False, description="run commands through sudo -n")
    host_key: str | None = Field(None, alias="hostKey", description="the host's public key or SHA256 fingerprint; "
                                 "without it the key must be in the user's known_hosts")
    base_dir: str = Field("/var/lib/replstack", alias="baseDir", description="where cluster directories go")
    supervisor: Literal["auto", "systemd", "processes"] | None = Field(
        None, description="what keeps this host's services running; default: the section's supervisor")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address; give the address services listen on") from None
        return value

    @field_validator("base_dir")
    @classmethod
    def _base_dir(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or str(path) in ("/", "/etc", "/usr", "/var", "/tmp"):
            raise ValueError(f"{value!r} must be an absolute directory of its own (not /, /etc, /usr, /var, /tmp)")
        return str(path)

    @model_validator(mode="after")
    def _credentials(self) -> OnPremiseHost:
        if self.private_key is None and self.password is None:
            raise ValueError(f"host {self.address}: give privateKey (or password) as a secret")
        return self

    @property
    def label(self) -> str:
        return self.name or self.address

    def access(self) -> dict[str, Any]:
        """The access the services on this host carry in their inputs (key and password stay secrets)."""
        access: dict[str, Any] = {"transport": "ssh", "name": self.label, "address": self.address,
                                  "port": self.port, "user": self.user, "sudo": self.sudo}
        if self.host_key:
            access["hostKey"] = self.host_key
        if self.supervisor not in (None, "auto"):
            access["supervisor"] = self.supervisor
        if self.private_key is not None:
            access["privateKey"] = pulumi.Output.secret(self.private_key.get_secret_value())
        if self.password is not None:
            access["password"] = pulumi.Output.secret(self.password.get_secret_value())
        return access


class OnPremiseSpec(_Section):
    """``replstack:onpremise``: the hosts, where each service goes, and the binaries on the hosts."""

    hosts: list[OnPremiseHost] = Field(min_length=1)
    placement: dict[str, str] = Field(default_factory=dict, description="service name -> host name; the rest "
                                      "round-robin")
    install_packages: bool = Field(False, alias="installPackages", description="install missing server packages "
                                   "with the host's package manager; otherwise fail listing them")
    mariadb_bin_dir: str = Field("/usr/sbin", alias="mariadbBinDir")
    client_bin_dir: str = Field("/usr/bin", alias="clientBinDir")
    haproxy_binary: str = Field("/usr/sbin/haproxy", alias="haproxyBinary")
    start_timeout: int = Field(120, alias="startTimeout", ge=5, le=3600)
    stop_timeout: int = Field(60, alias="stopTimeout", ge=1, le=3600)
    supervisor: Literal["auto", "systemd", "processes"] = Field(
        "auto", description="systemd: every service is a unit of its host's systemd (started at boot, restarted "
        "after a crash); processes: detached processes that refresh watches and up restarts; auto: systemd on "
        "hosts whose init is systemd and where commands run as root, processes elsewhere")

    @model_validator(mode="after")
    def _names(self) -> OnPremiseSpec:
        labels = [h.label for h in self.hosts]
        if len(set(labels)) != len(labels):
            raise ValueError(f"host names must differ: {', '.join(labels)}")
        for host in self.hosts:
            if host.supervisor is None:
                host.supervisor = self.supervisor
        unknown = sorted(set(self.placement.values()) - set(labels))
        if unknown:
            raise ValueError(f"placement names unknown host(s) {', '.join(unknown)}; hosts: {', '.join(labels)}")
        return self

    def host_of(self, service: str, index: int) -> OnPremiseHost:
        """The host a service goes to: the one the stack names, else round-robin by the service's index
        (negative indexes count from the last host)."""
        if service in self.placement:
            return next(h for h in self.hosts if h.label == self.placement[service])
        return self.hosts[index % len(self.hosts)]
