# tests/e2e/mesh_node.sh: one training node's mtlsd config, in the shape
# of examples/transparent-node.ini, for the two namespaces of e2e/t_torch
# and bench/training.sh (sourced by both).  IPv6 peers need their own
# transparent route (nftables redirects IPv6 to [::1]) and their own port
# at the peer (mtlsd takes [fd77:1::N]:7443 for a clash with 0.0.0.0:7443).
#
# mesh_node_conf DIR NAME N PEER [GLOBAL_LINE...]: writes DIR/NAME.ini for
# node NAME at 10.77.1.N and fd77:1::N, with DIR/pki's certificates,
# accepting only node PEER; extra [global] lines follow.
mesh_node_conf() {
	local dir=$1 name=$2 n=$3 peer=$4
	shift 4
	{
		printf '[global]\nworkers = 1\ncert = %s\nkey = %s\nca = %s\n' \
		    "$dir/pki/$name.crt" "$dir/pki/$name.key" "$dir/pki/ca.crt"
		printf 'allow_inbound = 22\nadmin_listen = 127.0.0.1:9901\n'
		# Ranks start seconds apart (tens of them on a loaded machine): a
		# refused tunnel end is retried this long.
		printf 'connect_timeout = 60s\n'
		for line in "$@"; do printf '%s\n' "$line"; done
		cat <<-EOF

		[mesh-out]
		mode = transparent
		listen = 127.0.0.1:15001
		connect = original:7443
		redirect = 10.77.1.0/24
		expect_peers = uri:spiffe://mesh/node/$peer

		[mesh-out6]
		mode = transparent
		listen = [::1]:15001
		connect = original:7444
		redirect = fd77:1::/64
		expect_peers = uri:spiffe://mesh/node/$peer

		[mesh-in]
		mode = server
		listen = 0.0.0.0:7443
		connect = original
		allow_ports = 29500-29599, 32768-60999
		allow_peers = uri:spiffe://mesh/node/$peer

		[mesh-in6]
		mode = server
		listen = [fd77:1::$n]:7444
		connect = original
		allow_ports = 29500-29599, 32768-60999
		allow_peers = uri:spiffe://mesh/node/$peer
		EOF
	} > "$dir/$name.ini"
}

# mesh_at NS CMD...: runs CMD in network namespace NS.
mesh_at() { local n=$1; shift; nsenter --net="/run/netns/$n" "$@"; }

# mesh_net WORLD NS...: a bridge br0 in namespace WORLD and, for the Nth
# NS, a veth mesh0 on it with 10.77.1.N/24 and fd77:1::N/64.  DAD is off so
# the link-local addresses are usable at once.
mesh_net() {
	local world=$1 ns i=0
	shift
	ip netns add "$world" && mesh_at "$world" ip link add br0 type bridge &&
	    mesh_at "$world" ip link set br0 up || return 1
	for ns in "$@"; do
		i=$((i + 1))
		ip netns add "$ns" &&
		mesh_at "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 &&
		ip link add mesh0 netns "$ns" type veth peer name "p$i" netns "$world" &&
		mesh_at "$world" ip link set "p$i" master br0 up &&
		mesh_at "$ns" ip addr add "10.77.1.$i/24" dev mesh0 &&
		mesh_at "$ns" ip addr add "fd77:1::$i/64" dev mesh0 nodad &&
		mesh_at "$ns" ip link set mesh0 up && mesh_at "$ns" ip link set lo up || return 1
	done
}

# mesh_lladdr NS: NS's usable IPv6 link-local address on mesh0, if any.
mesh_lladdr() {
	mesh_at "$1" ip -6 -o addr show dev mesh0 scope link -tentative |
	    awk '{ sub("/.*", "", $4); print $4 }'
}
