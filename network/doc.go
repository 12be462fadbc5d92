// Package network owns lxctl's host networking: the veth pair of every
// <interface> of a running domain, the bridges of lxctl's named networks
// (net-start, net-destroy), their NAT (one base chain per network in
// lxctl's own nftables table "ip lxctl", written through netlink with
// google/nftables: no nft binary), the addresses handed out from a
// network's range (leases, recorded by state), and the built-in network
// 'default'. Besides veths, a domain's <interface type='direct'> is a
// macvlan (direct.go), <hostdev type='net'> a host interface lent to the
// container (hostdev.go), and <lxc:sharenet> makes it join another
// network namespace (sharenet.go).
//
// What it owns it marks, and the marks are the truth: a veth is a
// domain's only if its alias (IFLA_IFALIAS) is that domain's mark, a
// bridge is a network's only if its alias is that network's mark, a NAT
// chain is a network's only if its rule's comment names that network.
// Marks carry the root (a hash of its run dir) and the name, so two lxctl
// roots on one host never take each other's links. Records (the network's
// run record, a domain's status) are hints for the next command; nothing
// here deletes or trusts a name read from one.
//
// What it never does: touch a link, chain or table it did not mark;
// change anything outside lxctl's table (it only turns
// net.ipv4.ip_forward on for NAT, as libvirt does); send or route traffic;
// print, or exit. It imports domainxml and state, nothing else of lxctl.
package network
