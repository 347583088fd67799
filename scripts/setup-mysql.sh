# Steps of scripts/setup for a real MySQL server (--mysql), sourced by it (not run on its own).
#
# Debian 12 ships no MySQL server; Debian unstable does (mysql-server-core), built against that suite's C
# library. It is installed into a private prefix, never onto the system: apt downloads the server's package and
# the unstable libraries it links with (resolved by apt itself, against Debian's signed archive), dpkg-deb
# unpacks them into $CACHE/mysql-<version>/root, and $CACHE/mysql-<version>/bin/mysqld runs the server through
# that prefix's own dynamic loader, with its own share and plugin directories: a `database.binaryDir` as a
# MySQL release tarball's bin/ would be. Nothing of the system's packages changes.
#
# The version is pinned (engine/versions.env, MYSQL_DEBIAN_VERSION); when unstable has moved on, the version it
# has now is taken and said. $CACHE/mysql.env names the directory (MYSQL_BINARY_DIR) for the tests.

MYSQL_SUITE_URI=http://deb.debian.org/debian
MYSQL_APT_DIR=$CACHE/apt-unstable

# apt and apt-cache on unstable's lists only, kept apart from the system's own (no installed package counts).
MYSQL_APT_OPTIONS=(-o Dir::Etc::sourcelist="$MYSQL_APT_DIR/sources.list" -o Dir::Etc::sourceparts=-
                   -o Dir::State::Lists="$MYSQL_APT_DIR/lists" -o Dir::Cache="$MYSQL_APT_DIR/cache"
                   -o Dir::State::status=/dev/null -o APT::Architecture=amd64 -o APT::Architectures::=amd64)

mysql_apt() {
    apt-get -q "${MYSQL_APT_OPTIONS[@]}" -o APT::Sandbox::User=root "$@"
}

mysql_apt_cache() {
    apt-cache "${MYSQL_APT_OPTIONS[@]}" "$@"
}

# The package and every library it needs, as unstable resolves them; perl and the databases perl's modules
# use serve only the server's helper scripts, which replstack does not run.
mysql_closure() {
    mysql_apt_cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances "$1" | grep -v '^[ <]' | sort -u \
        | grep -Ev '^(perl|perl-base|perl-modules-.*|libperl.*|libgdbm.*|libdb5\.3.*|debconf.*|mysql-common)$'
}

mysql_server() {
    local existing
    existing=""
    [ ! -f "$CACHE/mysql.env" ] || existing=$(sed -n 's/^MYSQL_BINARY_DIR=//p' "$CACHE/mysql.env")
    if [ -n "$existing" ] && [ -x "$existing/mysqld" ] && "$existing/mysqld" --version >/dev/null 2>&1; then
        echo "cached $("$existing/mysqld" --version | sed 's/^.*Ver /Ver /')"
        return
    fi
    mkdir -p "$MYSQL_APT_DIR/lists/partial" "$MYSQL_APT_DIR/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MYSQL_SUITE_URI unstable main" \
        >"$MYSQL_APT_DIR/sources.list"
    mysql_apt update >"$LOG_DIR/mysql.log" 2>&1
    local version
    version=$(mysql_apt_cache show "mysql-server-core=$MYSQL_DEBIAN_VERSION" 2>/dev/null | sed -n 's/^Version: //p' \
        | head -1)
    if [ -z "$version" ]; then
        version=$(mysql_apt_cache policy mysql-server-core | sed -n 's/^ *Candidate: //p')
        echo "unstable no longer has mysql-server-core $MYSQL_DEBIAN_VERSION; taking $version" >&2
    fi
    local prefix=$CACHE/mysql-$version
    local debs=$prefix/debs root=$prefix/root
    rm -rf "$prefix" && mkdir -p "$debs" "$root" "$prefix/bin"
    local packages
    mapfile -t packages < <(mysql_closure mysql-server-core | grep -vx mysql-server-core)
    (cd "$debs" && mysql_apt download "mysql-server-core=$version" "${packages[@]}") >>"$LOG_DIR/mysql.log" 2>&1
    local deb
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$root"
    done
    rm -rf "$debs"
    local lib=$root/usr/lib/x86_64-linux-gnu
    # Options a caller gives first (--defaults-file and its kin must be first) stay first.
    cat >"$prefix/bin/mysqld" <<EOF
#!/bin/sh
# MySQL $version from Debian unstable, run through its own prefix (scripts/setup-mysql.sh).
first=""
case "\${1:-}" in --no-defaults|--defaults-file=*|--defaults-extra-file=*) first=\$1; shift ;; esac
exec "$lib/ld-linux-x86-64.so.2" --argv0 "$prefix/bin/mysqld" --library-path "$lib:$lib/krb5" \\
    "$root/usr/sbin/mysqld" \\
    \$first --basedir="$root/usr" --lc-messages-dir="$root/usr/share/mysql" \\
    --plugin-dir="$root/usr/lib/mysql/plugin" "\$@"
EOF
    chmod 0755 "$prefix/bin/mysqld"
    "$prefix/bin/mysqld" --version >>"$LOG_DIR/mysql.log" 2>&1
    echo "MYSQL_BINARY_DIR=$prefix/bin" >"$CACHE/mysql.env"
    echo "installed $("$prefix/bin/mysqld" --version | sed 's/^.*Ver /Ver /') in $prefix"
}

mysql_steps() {
    step "mysql server" "See $LOG_DIR/mysql.log; deb.debian.org must serve Debian unstable." mysql_server
}
