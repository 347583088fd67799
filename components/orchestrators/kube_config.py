"""The ``replstack:kube`` stack section: which Kubernetes cluster and namespace, how volumes and images are chosen,
and how the engine reaches the pods. Validated with the rest of the stack before anything is touched; kept apart
from the backend so that the spec can use it without importing pulumi-kubernetes."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# A DNS-1123 label: namespaces, object name parts, storage class names.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# A label or annotation key: an optional DNS-subdomain prefix, then a name of letters, digits, '-', '_', '.'.
_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


def _pinned(image: str) -> str:
    """An image reference with a version tag or a digest: never ``latest`` or no tag, so that a preview shows
    every change of what runs."""
    if _DIGEST.search(image):
        return image
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag or tag == "latest" or any(c.isspace() for c in image):
        raise ValueError(f"{image!r} is not pinned: give a version tag (e.g. docker.io/library/mariadb:11.4.5) "
                         "or a digest (@sha256:...), never latest or no tag")
    return image


class KubeImages(_Section):
    """The image per flavor and proxy kind, pinned."""

    mariadb: str = Field("docker.io/library/mariadb:11.4.5", description="the MariaDB server image (its "
                         "entrypoint initialises the datadir and sets the root password from the Secret)")
    haproxy: str = Field("docker.io/library/haproxy:3.0.10", description="the HAProxy image; its health checks "
                         "run the mariadb client: use an image that has both (/usr/bin/mariadb) for checks to pass")
    kubectl: str = Field("docker.io/alpine/k8s:1.34.2", description="an image with sh and kubectl: the snapshot "
                         "CronJob runs it")

    @field_validator("mariadb", "haproxy", "kubectl")
    @classmethod
    def _pinned_image(cls, value: str) -> str:
        return _pinned(value)


class KubeSpec(_Section):
    """``replstack:kube``: the cluster (kubeconfig and context, or the ambient one), the namespace, volumes,
    images, extra labels and annotations, and how the engine reaches the pods."""

    namespace: str | None = Field(None, description="namespace of every object; default: the cluster's name "
                                  "(<project>-<stack>)")
    create_namespace: bool = Field(True, alias="createNamespace", description="create the namespace (and delete "
                                   "it on destroy); false uses an existing one")
    kubeconfig: SecretStr | None = Field(None, description="a kubeconfig's text, as a secret; default: the "
                                         "ambient one ($KUBECONFIG, ~/.kube/config)")
    context: str | None = Field(None, description="the kubeconfig context; default: its current one")
    render_directory: str | None = Field(None, alias="renderDirectory", description="write the objects as YAML "
                                         "into this directory instead of applying them (no cluster needed)")
    storage_class: str | None = Field(None, alias="storageClass", description="storage class of the data "
                                      "volumes; default: the cluster's default class")
    snapshot_class: str | None = Field(None, alias="snapshotClass", description="VolumeSnapshotClass of the "
                                       "snapshots (database.snapshots); default: the cluster's default class")
    images: KubeImages = Field(default_factory=KubeImages)
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field("IfNotPresent", alias="imagePullPolicy")
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels on every object")
    annotations: dict[str, str] = Field(default_factory=dict, description="extra annotations on every object")
    skip_await: bool = Field(False, alias="skipAwait", description="do not wait for StatefulSets and "
                             "Deployments to become ready (an API server without nodes)")
    bootstrap: bool = Field(True, description="run the SQL steps (replication, users, proxy sync) from the engine "
                            "through the control channel (kubectl exec into the pods); false only lays out the "
                            "objects")

    @field_validator("namespace", "storage_class", "snapshot_class")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and not (len(value) <= 63 and _LABEL.fullmatch(value)):
            raise ValueError(f"{value!r} is not a DNS label: lower-case letters, digits and '-', at most 63 "
                             "characters, starting and ending with a letter or digit")
        return value

    @field_validator("labels", "annotations")
    @classmethod
    def _keys(cls, values: dict[str, str], info) -> dict[str, str]:
        for key, value in values.items():
            if not _KEY.fullmatch(key) or key.startswith(("replstack.io/", "app.kubernetes.io/")):
                raise ValueError(f"{key!r} is not a key this stack may set: a label key (prefix/name), not under "
                                 "replstack.io/ or app.kubernetes.io/ (replstack sets those)")
            if info.field_name == "labels" and not _LABEL_VALUE.fullmatch(str(value)):
                raise ValueError(f"label {key}={value!r}: a value is at most 63 letters, digits, '-', '_', '.'")
        return {k: str(v) for k, v in values.items()}

    @field_validator("render_directory")
    @classmethod
    def _directory(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "\n" in value):
            raise ValueError(f"{value!r} is not a directory")
        return value

    @model_validator(mode="after")
    def _render_alone(self) -> KubeSpec:
        if self.render_directory is not None and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("renderDirectory writes YAML without a cluster: it cannot be combined with kubeconfig "
                             "or context")
        return self
