#!/usr/bin/env bash
# Installs the three brokers the bench compares skiffmq with (Debian/Ubuntu
# packages: nats-server, redis-server, rabbitmq-server), only the ones missing,
# so running it twice changes nothing. The packages' own services are stopped
# and disabled: the bench starts each server itself on free ports with a temp
# data dir (bench/peers/*-server.mjs), and a service left on a default port
# would only take memory and CPU from the runs.
set -euo pipefail

SUDO=''
if [ "$(id -u)" -ne 0 ]; then SUDO='sudo'; fi

# binary -> package
declare -A PKG=([nats-server]=nats-server [redis-server]=redis-server [rabbitmq-server]=rabbitmq-server)
# package -> the service it installs
declare -A SERVICE=([nats-server]=nats-server [redis-server]=redis-server [rabbitmq-server]=rabbitmq-server)

missing=()
for bin in nats-server redis-server rabbitmq-server; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/lib/rabbitmq/bin/$bin" ]; then
    missing+=("${PKG[$bin]}")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update
  # Whatever service the install starts (where the machine lets it) is stopped below.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi

stop_service() {
  local svc="$1"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif command -v update-rc.d >/dev/null 2>&1; then
    # No systemd (a container): keep the init script from starting it at boot.
    # Not `service ... stop`: RabbitMQ's script runs rabbitmqctl for that, which
    # itself starts an Erlang node and epmd under the rabbitmq user.
    $SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
}

for pkg in nats-server redis-server rabbitmq-server; do
  stop_service "${SERVICE[$pkg]}"
done

# Whatever still runs under a package's own service user was started by the
# package (the bench runs its servers as the invoking user): end it by pid.
for pair in 'redis:redis-server' 'nats:nats-server' 'rabbitmq:beam.smp' 'rabbitmq:epmd' 'rabbitmq:erl_child_setup'; do
  user="${pair%%:*}"; proc="${pair#*:}"
  if id "$user" >/dev/null 2>&1; then
    for pid in $(pgrep -u "$user" -x "$proc" 2>/dev/null || true); do
      echo "stopping $proc (pid $pid, user $user) started by the package"
      $SUDO kill "$pid" 2>/dev/null || true
    done
  fi
done

echo "versions:"
nats-server --version 2>/dev/null || /usr/sbin/nats-server --version || echo "nats-server: not installed"
redis-server --version 2>/dev/null || echo "redis-server: not installed"
if dpkg-query -W -f='${Version}' rabbitmq-server >/dev/null 2>&1; then
  echo "rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server) (Erlang/OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().' 2>/dev/null || echo '?'))"
else
  echo "rabbitmq-server: not installed"
fi
