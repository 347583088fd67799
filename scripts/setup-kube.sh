# Steps of scripts/setup for the kube backend, sourced by it (not run on its own):
#   --kube            the pulumi-resource-kubernetes plugin, built from the provider's Go module at the version of
#                     the Python SDK (engine/versions.env), into $CACHE/kubernetes-v<version>/bin;
#   --kube-apiserver  also kube-apiserver, kube-controller-manager and etcd, built from their Go modules into
#                     $CACHE/kube-apiserver-v<version>/bin (the kube integration tests apply to them).
# Each is built once and reused while its binary and stamp are there; a cold build's time goes to
# $LOG_DIR/builds.log. scripts/engine-env puts the plugin's directory on PATH (through $CACHE/kube.env), where
# the engine finds it without any plugin download.

KUBE_PLUGIN_DIR=$CACHE/kubernetes-v$KUBERNETES_PROVIDER_VERSION
KUBE_SERVER_DIR=$CACHE/kube-apiserver-v$KUBE_APISERVER_VERSION

record_build() { # record_build WHAT STARTED
    printf '%s %s built in %ss\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$(seconds_since "$2")" >>"$LOG_DIR/builds.log"
}

# The SDK in the virtualenv asks the engine for this plugin version: the build must be the same one.
kube_sdk_version() {
    local have
    have=$("$PROJECT_DIR/.venv/bin/python" -c '
import importlib.resources, json
print(json.loads(importlib.resources.files("pulumi_kubernetes").joinpath("pulumi-plugin.json").read_text())["version"])')
    if [ "$have" != "$KUBERNETES_PROVIDER_VERSION" ]; then
        echo "the virtualenv has pulumi-kubernetes $have but engine/versions.env builds $KUBERNETES_PROVIDER_VERSION" >&2
        return 1
    fi
    echo "pulumi-kubernetes $have"
}

# The provider's own command embeds files that only its release build generates; the project's wrapper command
# (engine/pulumi-resource-kubernetes/main.go) embeds the same two files, written here from the data files the
# module ships: the schema with its version set, and the terraform mapping, both compact.
kube_provider() {
    local src=$PROJECT_DIR/engine/pulumi-resource-kubernetes bin=$KUBE_PLUGIN_DIR/bin key
    key=$(printf '%s\n' "$KUBERNETES_PROVIDER_MODULE" | cat - "$src/main.go" | sha256sum | cut -c1-16)
    if [ -f "$bin/.built-$key" ] && [ -x "$bin/pulumi-resource-kubernetes" ]; then
        echo "cached v$KUBERNETES_PROVIDER_VERSION ($key)"
        return
    fi
    local started build=$CACHE/build/kubernetes-provider-v$KUBERNETES_PROVIDER_VERSION
    started=$(date +%s.%N)
    rm -rf "$build" && mkdir -p "$build" "$bin"
    (
        cd "$build"
        export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
        cp "$src/main.go" .
        go mod init replstack.build/pulumi-resource-kubernetes
        go get "github.com/pulumi/pulumi-kubernetes/provider/v4@$KUBERNETES_PROVIDER_MODULE"
        local data
        data=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes
        python3 - "$data" "$KUBERNETES_PROVIDER_VERSION" <<'PY'
import json, sys
data, version = sys.argv[1:]
schema = json.load(open(f"{data}/schema.json"))
schema["version"] = version
for source, target, doc in ((None, "schema-embed.json", schema),
                            (f"{data}/terraform-mapping.json", "terraform-mapping-embed.json", None)):
    doc = doc if doc is not None else json.load(open(source))
    with open(target, "w") as out:
        json.dump(doc, out, separators=(",", ":"))
PY
        go mod tidy
        nice go build -trimpath \
            -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
            -o "$bin/pulumi-resource-kubernetes" .
    ) >"$LOG_DIR/kubernetes-provider.log" 2>&1
    rm -f "$bin"/.built-* && touch "$bin/.built-$key"
    record_build "pulumi-resource-kubernetes v$KUBERNETES_PROVIDER_VERSION" "$started"
    echo "built v$KUBERNETES_PROVIDER_VERSION in $(seconds_since "$started")s ($key)"
}

kube_env() {
    echo "KUBE_PLUGIN_BIN=$KUBE_PLUGIN_DIR/bin" >"$CACHE/kube.env"
    echo "plugin dir on the engine's PATH"
}

# kube-apiserver from k8s.io/kubernetes: its go.mod points every staging module (k8s.io/api, apiserver, ...) at
# ./staging, which only works inside its own repository, so a wrapper module requires it and replaces each staging
# module by its published v0.<minor>.<patch> version.
kube_apiserver() {
    local bin=$KUBE_SERVER_DIR/bin v=$KUBE_APISERVER_VERSION
    if [ -f "$bin/.apiserver-v$v" ] && [ -x "$bin/kube-apiserver" ]; then
        echo "cached v$v"
        return
    fi
    local started build=$CACHE/build/kube-apiserver-v$v
    started=$(date +%s.%N)
    rm -rf "$build" && mkdir -p "$build" "$bin"
    (
        cd "$build"
        export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
        go mod init replstack.build/kube-apiserver
        local gomod
        gomod=$(go mod download -json "k8s.io/kubernetes@v$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
        go mod edit -json "$gomod" | python3 -c '
import json, sys
staging = sys.argv[1]
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"):
        print("-replace=%s=%s@%s" % (r["Old"]["Path"], r["Old"]["Path"], staging))' "v0.${v#*.}" | xargs -r go mod edit
        go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$v"
        local pkg=k8s.io/component-base/version major=${v%%.*} minor
        minor=${v#*.} && minor=${minor%%.*}
        nice go build -trimpath -o "$bin/kube-apiserver" -ldflags "-s -w -X $pkg.gitVersion=v$v \
            -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
            k8s.io/kubernetes/cmd/kube-apiserver
    ) >"$LOG_DIR/kube-apiserver.log" 2>&1
    rm -f "$bin"/.apiserver-* && touch "$bin/.apiserver-v$v"
    record_build "kube-apiserver v$v" "$started"
    echo "built v$v in $(seconds_since "$started")s"
}

# From the same wrapper module (most of it is compiled already): without it StatefulSets make no pods and a
# deleted namespace is never finalized.
kube_controller_manager() {
    local bin=$KUBE_SERVER_DIR/bin v=$KUBE_APISERVER_VERSION build=$CACHE/build/kube-apiserver-v$KUBE_APISERVER_VERSION
    if [ -f "$bin/.controller-manager-v$v" ] && [ -x "$bin/kube-controller-manager" ]; then
        echo "cached v$v"
        return
    fi
    [ -f "$build/go.mod" ] || { rm -f "$bin/.apiserver-v$v"; kube_apiserver >/dev/null; }
    local started
    started=$(date +%s.%N)
    (
        cd "$build"
        export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
        go get -tool "k8s.io/kubernetes/cmd/kube-controller-manager@v$v"
        local pkg=k8s.io/component-base/version major=${v%%.*} minor
        minor=${v#*.} && minor=${minor%%.*}
        nice go build -trimpath -o "$bin/kube-controller-manager" -ldflags "-s -w -X $pkg.gitVersion=v$v \
            -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
            k8s.io/kubernetes/cmd/kube-controller-manager
    ) >"$LOG_DIR/kube-controller-manager.log" 2>&1
    rm -f "$bin"/.controller-manager-* && touch "$bin/.controller-manager-v$v"
    record_build "kube-controller-manager v$v" "$started"
    echo "built v$v in $(seconds_since "$started")s"
}

kube_etcd() {
    local bin=$KUBE_SERVER_DIR/bin v=$ETCD_VERSION
    if [ -f "$bin/.etcd-v$v" ] && [ -x "$bin/etcd" ]; then
        echo "cached v$v"
        return
    fi
    local started build=$CACHE/build/etcd-v$v
    started=$(date +%s.%N)
    rm -rf "$build" && mkdir -p "$build" "$bin"
    (
        cd "$build"
        export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
        go mod init replstack.build/etcd
        go get -tool "go.etcd.io/etcd/server/v3@v$v"
        nice go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
    ) >"$LOG_DIR/etcd.log" 2>&1
    rm -f "$bin"/.etcd-* && touch "$bin/.etcd-v$v"
    record_build "etcd v$v" "$started"
    echo "built v$v in $(seconds_since "$started")s"
}

kube_steps() { # kube_steps WITH_APISERVER
    step "go toolchain" "" go_toolchain
    step "kubernetes sdk" "Rebuild the virtualenv (scripts/setup) or fix engine/versions.env." kube_sdk_version
    step "kubernetes plugin" "See $LOG_DIR/kubernetes-provider.log; the Go module proxy must serve github.com/pulumi/pulumi-kubernetes/provider/v4@$KUBERNETES_PROVIDER_MODULE." kube_provider
    step "kubernetes plugin env" "Check that $CACHE is writable." kube_env
    if [ "$1" = yes ]; then
        step "kube-apiserver" "See $LOG_DIR/kube-apiserver.log; the Go module proxy must serve k8s.io/kubernetes@v$KUBE_APISERVER_VERSION and its staging modules." kube_apiserver
        step "controller-manager" "See $LOG_DIR/kube-controller-manager.log." kube_controller_manager
        step "etcd" "See $LOG_DIR/etcd.log; the Go module proxy must serve go.etcd.io/etcd/server/v3@v$ETCD_VERSION." kube_etcd
    fi
}
