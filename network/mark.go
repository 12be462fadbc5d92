package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/lxctl/lxctl/state"
)

// Mark prefixes. A mark is <prefix><uuid>/<root id>/<name>: the uuid tells
// a human whose link it is, the root id and name are what ownership is
// decided on, since both come from the command's own layout and argument,
// never from a record.
const (
	vethMarkPrefix   = "lxctl/"
	bridgeMarkPrefix = "lxctl-net/"
)

// rootID identifies an lxctl root on this host: a hash of its run dir.
// Links are host-global; the root id keeps two roots' domains or networks
// of the same name apart.
func rootID(l state.Layout) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(l.Run))
	return fmt.Sprintf("%08x", h.Sum32())
}

func ownerSuffix(l state.Layout, name string) string { return "/" + rootID(l) + "/" + name }

// VethMark is the alias lxctl gives the host end of each veth of domain
// name (uuid) in root l.
func VethMark(l state.Layout, uuid, name string) string {
	return vethMarkPrefix + uuid + ownerSuffix(l, name)
}

func isVethOf(alias string, l state.Layout, name string) bool {
	return strings.HasPrefix(alias, vethMarkPrefix) && strings.HasSuffix(alias, ownerSuffix(l, name))
}

// BridgeMark is the alias of the bridge of network name (uuid) in root l.
func BridgeMark(l state.Layout, uuid, name string) string {
	return bridgeMarkPrefix + uuid + ownerSuffix(l, name)
}

func isBridgeOf(alias string, l state.Layout, name string) bool {
	return strings.HasPrefix(alias, bridgeMarkPrefix) && strings.HasSuffix(alias, ownerSuffix(l, name))
}

// natComment is the comment of a NAT network's masquerade rule; it names
// the network (as `nft list ruleset` shows) and its root.
func natComment(l state.Layout, name string) string {
	return "lxctl network " + name + " root " + rootID(l)
}

// tempName is a link name no one else uses: links are created under one,
// marked, and only then renamed to their real name, so a real name is
// never seen without its mark.
func tempName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// dumpRetries bounds the retries of a netlink dump the kernel flagged as
// interrupted (NLM_F_DUMP_INTR: links came or went meanwhile, which
// happens whenever containers start in parallel).
const dumpRetries = 20

// linkList lists the host's links, retrying an interrupted dump so a
// decision (is this name free, which links are marked) is never taken on
// a half list.
func linkList() ([]netlink.Link, error) {
	for i := 0; ; i++ {
		links, err := netlink.LinkList()
		if err == nil || !errors.Is(err, netlink.ErrDumpInterrupted) || i == dumpRetries {
			if err != nil {
				return nil, fmt.Errorf("list host interfaces: %w", err)
			}
			return links, nil
		}
	}
}

func addrList(link netlink.Link) ([]netlink.Addr, error) {
	for i := 0; ; i++ {
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err == nil || !errors.Is(err, netlink.ErrDumpInterrupted) || i == dumpRetries {
			return addrs, err
		}
	}
}

func routeList() ([]netlink.Route, error) {
	for i := 0; ; i++ {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err == nil || !errors.Is(err, netlink.ErrDumpInterrupted) || i == dumpRetries {
			return routes, err
		}
	}
}
