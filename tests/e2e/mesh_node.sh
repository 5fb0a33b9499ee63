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
		# Ranks start seconds apart: a refused tunnel end is retried this long.
		printf 'connect_timeout = 15s\n'
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
