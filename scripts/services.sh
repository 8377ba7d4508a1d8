#!/usr/bin/env bash
# Installs Redis and RabbitMQ from Debian's packages when missing, and starts
# them on 127.0.0.1 when they are not running. Idempotent.
#   Redis:         127.0.0.1:${TASKGEN_REDIS_PORT:-6379}
#   Redis Cluster: 3 masters, no replicas, on 127.0.0.1 ports
#                  ${TASKGEN_REDIS_CLUSTER_PORTS:-7001 7002 7003}
#   RabbitMQ:      127.0.0.1:${TASKGEN_AMQP_PORT:-5672}, user guest/guest
set -euo pipefail

redis_port=${TASKGEN_REDIS_PORT:-6379}
amqp_port=${TASKGEN_AMQP_PORT:-5672}
read -r -a cluster_ports <<<"${TASKGEN_REDIS_CLUSTER_PORTS:-7001 7002 7003}"
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

# The cluster's nodes keep their state (nodes.conf) under $state, so a node
# that is restarted rejoins the cluster it belonged to.
cluster_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }
cluster_ok() { cluster_info "$1" | grep -q '^cluster_state:ok$'; }
for port in "${cluster_ports[@]}"; do
	redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && continue
	dir="$state/redis-cluster-$port"
	mkdir -p "$dir"
	echo "services: starting redis cluster node on 127.0.0.1:$port"
	redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
		--cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
		--dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" \
		--save '' --appendonly no
	for _ in $(seq 1 100); do
		redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null
done

# A cluster with no slots assigned is created; nodes that rejoin from their
# nodes.conf need a moment to agree; a cluster stuck half-made is reset and
# created again (these nodes hold test data only).
wait_cluster() {
	for _ in $(seq 1 "$1"); do
		cluster_ok "${cluster_ports[0]}" && return 0
		sleep 0.2
	done
	return 1
}
slots_assigned() {
	local total=0 n port
	for port in "${cluster_ports[@]}"; do
		n=$(cluster_info "$port" | sed -n 's/^cluster_slots_assigned://p')
		total=$((total + ${n:-0}))
	done
	echo "$total"
}
if ! cluster_ok "${cluster_ports[0]}"; then
	if [ "$(slots_assigned)" -ne 0 ] && ! wait_cluster 50; then
		echo "services: redis cluster is not healthy; resetting its nodes"
		for port in "${cluster_ports[@]}"; do
			redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
			redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null
		done
	fi
	if [ "$(slots_assigned)" -eq 0 ]; then
		echo "services: creating redis cluster on ports ${cluster_ports[*]}"
		nodes=()
		for port in "${cluster_ports[@]}"; do nodes+=("127.0.0.1:$port"); done
		redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$state/redis-cluster-create.log" 2>&1 ||
			{ cat "$state/redis-cluster-create.log" >&2; exit 1; }
	fi
	wait_cluster 150 || { echo "services: redis cluster did not become healthy; see $state/redis-cluster-*/redis.log" >&2; exit 1; }
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
echo "services: redis 127.0.0.1:$redis_port, redis cluster 127.0.0.1:{${cluster_ports[*]}} and rabbitmq 127.0.0.1:$amqp_port are up"
