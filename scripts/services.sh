#!/usr/bin/env bash
# Installs Redis and RabbitMQ from Debian's packages when missing, and starts
# them on 127.0.0.1 when they are not running. Idempotent.
#   Redis:    127.0.0.1:${TASKGEN_REDIS_PORT:-6379}
#   RabbitMQ: 127.0.0.1:${TASKGEN_AMQP_PORT:-5672}, user guest/guest
set -euo pipefail

redis_port=${TASKGEN_REDIS_PORT:-6379}
amqp_port=${TASKGEN_AMQP_PORT:-5672}
state=${TASKGEN_SERVICES_DIR:-/tmp/taskgen-services}
mkdir -p "$state"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		echo "services: need root to run: $*" >&2; return 1
	fi
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
	echo "services: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A package install may start the service on all interfaces through its init
# scripts; where there is no init system nothing runs yet. Either way we only
# start our own servers, on loopback, when nothing answers.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
	echo "services: starting redis on 127.0.0.1:$redis_port"
	redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes \
		--dir "$state" --logfile "$state/redis.log" --pidfile "$state/redis.pid" \
		--save '' --appendonly yes --appendfsync everysec
	for _ in $(seq 1 100); do
		redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null
fi

if ! port_open "$amqp_port"; then
	echo "services: starting rabbitmq on 127.0.0.1:$amqp_port"
	as_root env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port" \
		ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=$((amqp_port + 20000)) \
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
		rabbitmq-server -detached
	# The AMQP listener opens last in the boot sequence.
	for _ in $(seq 1 600); do port_open "$amqp_port" && break; sleep 0.2; done
	port_open "$amqp_port" || { echo "services: rabbitmq did not start; see /var/log/rabbitmq" >&2; exit 1; }
fi
echo "services: redis 127.0.0.1:$redis_port and rabbitmq 127.0.0.1:$amqp_port are up"
