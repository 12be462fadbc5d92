package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// vlan is an interface's <vlan>: on a Linux bridge with VLAN filtering
// on, the port (the veth's host end) gets the tags, as libvirt does:
// one tag without trunk is the port's untagged PVID; a trunk carries its
// tags tagged, the nativeMode='untagged' one as the untagged PVID. The
// bridge's default PVID is taken off the port, so its traffic stays in
// the domain's VLANs.
type vlan struct {
	tags   []int
	trunk  bool
	native int
}

// planVLAN checks that the interface's bridge can carry VLANs: a Linux
// bridge of a kernel with VLAN filtering, turned on. lxctl does not turn
// it on itself: that changes how the bridge forwards for every port.
func planVLAN(ni *iface) error {
	tags, trunk, native, err := ni.ifc.VLANTags()
	if err != nil || len(tags) == 0 {
		return err
	}
	if ni.bridge == "" {
		return fmt.Errorf("<vlan>: type '%s' has no bridge port to tag (use type bridge or network; for type direct, a VLAN device as <source dev>)", ni.ifc.Type)
	}
	dir := filepath.Join("/sys/class/net", ni.bridge, "bridge")
	b, err := os.ReadFile(filepath.Join(dir, "vlan_filtering"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("<vlan> on bridge '%s': this kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); remove <vlan>, or run a kernel with it", ni.bridge)
	}
	if err != nil {
		return fmt.Errorf("<vlan> on bridge '%s': %w", ni.bridge, err)
	}
	if strings.TrimSpace(string(b)) != "1" {
		return fmt.Errorf("<vlan> on bridge '%s': the bridge has VLAN filtering off (turn it on: ip link set %s type bridge vlan_filtering 1)", ni.bridge, ni.bridge)
	}
	ni.vlan = &vlan{tags: tags, trunk: trunk, native: native}
	return nil
}

// applyVLAN tags the port link (already on its bridge).
func applyVLAN(link netlink.Link, bridge string, v *vlan) error {
	if v == nil {
		return nil
	}
	name := link.Attrs().Name
	if b, err := os.ReadFile(filepath.Join("/sys/class/net", bridge, "bridge", "default_pvid")); err == nil {
		if pvid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pvid > 0 {
			if err := netlink.BridgeVlanDel(link, uint16(pvid), true, true, false, true); err != nil {
				return fmt.Errorf("<vlan>: take the bridge's default VLAN %d off %s: %w", pvid, name, err)
			}
		}
	}
	for _, id := range v.tags {
		untagged := !v.trunk || id == v.native
		if err := netlink.BridgeVlanAdd(link, uint16(id), untagged, untagged, false, true); err != nil {
			return fmt.Errorf("<vlan><tag id='%d'> on %s (bridge %s): %w", id, name, bridge, err)
		}
	}
	return nil
}
