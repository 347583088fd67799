#!/usr/bin/env bash
# The baseline for bench/local_up.py: the same cluster as the benchmarked stack (3 MariaDB nodes, GTID
# replication, HAProxy with a write and a read port), built with plain commands and no engine.
# Usage: baseline.sh up DIR PORT_BASE | baseline.sh down DIR
set -euo pipefail
action=$1 dir=$2
nodes=3

if [ "$action" = down ]; then
    for pidfile in "$dir"/db*/mariadbd.pid "$dir"/haproxy.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    for pidfile in "$dir"/db*/mariadbd.pid; do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    done
    rm -rf "$dir"
    exit 0
fi

base=$3
mkdir -p "$dir"
for i in $(seq 1 $nodes); do
    d=$dir/db$i
    mkdir -p "$d/tmp"
    cat >"$d/my.cnf" <<CNF
[mariadbd]
port = $((base + i))
bind_address = 127.0.0.1
socket = $d/mariadbd.sock
datadir = $d/data
pid_file = $d/mariadbd.pid
log_error = $d/error.log
tmpdir = $d/tmp
user = root
server_id = $i
log_bin = mariadb-bin
log_slave_updates = 1
gtid_strict_mode = 1
binlog_format = ROW
relay_log = relay-bin
skip_name_resolve = 1
innodb_buffer_pool_size = 153M
innodb_log_file_size = 128M
read_only = $([ "$i" = 1 ] && echo 0 || echo 1)
CNF
done

# install-db ×3 in parallel, then start ×3
for i in $(seq 1 $nodes); do
    mariadb-install-db --defaults-file="$dir/db$i/my.cnf" --user=root --auth-root-authentication-method=socket \
        --skip-test-db >"$dir/db$i/install.log" 2>&1 &
done
wait
for i in $(seq 1 $nodes); do
    setsid mariadbd --defaults-file="$dir/db$i/my.cnf" >/dev/null 2>&1 < /dev/null &
done
for i in $(seq 1 $nodes); do
    until mariadb --socket="$dir/db$i/mariadbd.sock" -e 'SELECT 1' >/dev/null 2>&1; do sleep 0.05; done
done

mariadb --socket="$dir/db1/mariadbd.sock" <<SQL
CREATE USER 'repl'@'%' IDENTIFIED BY 'bench-repl';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
CREATE USER 'check'@'127.0.0.1';
SQL
for i in $(seq 2 $nodes); do
    mariadb --socket="$dir/db$i/mariadbd.sock" <<SQL
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$((base + 1)), MASTER_USER='repl',
  MASTER_PASSWORD='bench-repl', MASTER_USE_GTID=slave_pos;
START SLAVE;
SQL
done

cat >"$dir/haproxy.cfg" <<CFG
defaults
    mode tcp
    timeout connect 3s
    timeout client 1h
    timeout server 1h
frontend write
    bind 127.0.0.1:$((base + 10))
    default_backend write
backend write
    option mysql-check user check post-41
    server db1 127.0.0.1:$((base + 1)) check inter 1s
frontend read
    bind 127.0.0.1:$((base + 11))
    default_backend read
backend read
    balance leastconn
    option mysql-check user check post-41
$(for i in $(seq 2 $nodes); do echo "    server db$i 127.0.0.1:$((base + i)) check inter 1s"; done)
CFG
haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid"
# Ready when both replicas replicate.
for i in $(seq 2 $nodes); do
    until mariadb --socket="$dir/db$i/mariadbd.sock" -e 'SHOW SLAVE STATUS\G' | grep -q 'Slave_SQL_Running: Yes'; do
        sleep 0.05
    done
done
