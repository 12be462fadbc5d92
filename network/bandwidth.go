package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
)

// Bandwidth as libvirt applies it (virNetDevBandwidthSet), through
// netlink rather than tc. On the host end of a veth, what the domain
// receives (inbound) is what the host end sends: an htb root qdisc 1:
// whose default class 1:1 has rate average, ceil peak, burst burst. What
// the domain sends (outbound) arrives at the host end: an ingress qdisc
// with a u32 match-all filter policing at average, burst (average when
// unset), dropping the excess. libvirt's units: KiB/s and KiB (tc's
// "kbps" and "kb" are the same 1024s of bytes).
//
// libvirt also puts an sfq under the class, for fairness between flows:
// lxctl does when the kernel has sfq, and goes without otherwise (the
// rate is the htb class's either way).

const (
	htbRoot   = 1 // 1:
	htbClass  = 1 // 1:1
	sfqHandle = 2 // 2:
	policeMTU = 64 * 1024
)

// applyBandwidth shapes link (through h) as bw says. swapped is for a
// link that is the domain's own end (a macvlan in the container): there
// inbound is its ingress and outbound its egress.
func applyBandwidth(h *netlink.Handle, link netlink.Link, bw *domainxml.Bandwidth, swapped bool) error {
	if bw == nil {
		return nil
	}
	egress, ingress, egressWhat, ingressWhat := bw.Inbound, bw.Outbound, "inbound", "outbound"
	if swapped {
		egress, ingress, egressWhat, ingressWhat = bw.Outbound, bw.Inbound, "outbound", "inbound"
	}
	name := link.Attrs().Name
	if egress != nil && egress.Average > 0 {
		if err := shapeEgress(h, link, egress); err != nil {
			return fmt.Errorf("<bandwidth><%s average='%d'> on %s: %w", egressWhat, egress.Average, name, err)
		}
	}
	if ingress != nil && ingress.Average > 0 {
		if err := policeIngress(h, link, ingress); err != nil {
			return fmt.Errorf("<bandwidth><%s average='%d'> on %s: %w", ingressWhat, ingress.Average, name, err)
		}
	}
	return nil
}

func shapeEgress(h *netlink.Handle, link netlink.Link, r *domainxml.Rate) error {
	idx := link.Attrs().Index
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(htbRoot, 0), Parent: netlink.HANDLE_ROOT})
	q.Defcls = htbClass
	if err := h.QdiscAdd(q); err != nil {
		return kernelLacks(err, "the htb qdisc", "CONFIG_NET_SCH_HTB, module sch_htb")
	}
	ca := netlink.HtbClassAttrs{Rate: r.Average * 1024 * 8, Ceil: r.Peak * 1024 * 8, Buffer: uint32(r.Burst * 1024)}
	if r.Peak == 0 {
		ca.Ceil = ca.Rate
	}
	c := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: netlink.MakeHandle(htbRoot, 0), Handle: netlink.MakeHandle(htbRoot, htbClass)}, ca)
	if err := h.ClassAdd(c); err != nil {
		return fmt.Errorf("add htb class 1:1: %w", err)
	}
	sfq := &netlink.Sfq{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(sfqHandle, 0), Parent: netlink.MakeHandle(htbRoot, htbClass)}, Perturb: 10}
	if err := h.QdiscAdd(sfq); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("add sfq under 1:1: %w", err)
	}
	return nil
}

func policeIngress(h *netlink.Handle, link netlink.Link, r *domainxml.Rate) error {
	idx := link.Attrs().Index
	rate, burst := r.Average*1024, r.Burst*1024
	if burst == 0 {
		burst = rate // libvirt: burst defaults to average (KiB ↔ KiB/s)
	}
	if rate > 1<<32-1 || burst > 1<<32-1 {
		return fmt.Errorf("the rate or burst is beyond what the police action takes (4 GiB/s, 4 GiB)")
	}
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := h.QdiscAdd(q); err != nil {
		return kernelLacks(err, "the ingress qdisc", "CONFIG_NET_SCH_INGRESS, module sch_ingress")
	}
	police := netlink.NewPoliceAction()
	police.Rate, police.Burst, police.Mtu = uint32(rate), uint32(burst), policeMTU
	police.ExceedAction = netlink.TC_POLICE_SHOT
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: netlink.MakeHandle(0xffff, 0), Priority: 1, Protocol: unix.ETH_P_ALL},
		ClassId:     netlink.MakeHandle(0, 1),
		// match u32 0 0: every packet
		Sel:     &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{}}},
		Actions: []netlink.Action{police},
	}
	if err := h.FilterAdd(f); err != nil {
		_ = h.QdiscDel(q)
		return kernelLacks(err, "the u32 classifier or the police action", "CONFIG_NET_CLS_U32 and CONFIG_NET_ACT_POLICE, modules cls_u32 and act_police")
	}
	return nil
}

// kernelLacks names the kernel feature behind an ENOENT/EOPNOTSUPP from tc.
func kernelLacks(err error, what, config string) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("this kernel lacks %s (%s): %w (load the module, e.g. modprobe, or remove this <bandwidth> direction)", what, config, err)
	}
	return err
}
