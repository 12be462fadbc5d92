package network

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// Table is lxctl's own nftables table (family ip). Each NAT network has a
// base chain of its own in it, named after its bridge (unique on the
// host, whatever the --root), so networks never touch each other's rules
// and nothing outside the table is changed. `nft list table ip lxctl`
// shows, for network default on lxctlbr0:
//
//	chain nat_lxctlbr0 {
//		type nat hook postrouting priority srcnat; policy accept;
//		ip saddr 192.168.124.0/24 ip daddr != 192.168.124.0/24 masquerade comment "lxctl network default root 1a2b3c4d"
//	}
const Table = "lxctl"

const nftLockWait = 10 * time.Second

// NATChain is the chain of the NAT network whose bridge is br.
func NATChain(br string) string { return "nat_" + br }

var lxctlTable = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: Table}

// NATRule is what the kernel holds for one network's chain, read back
// through netlink.
type NATRule struct {
	Chain      string
	Comment    string
	Subnet     netip.Prefix // the masqueraded source subnet (ip saddr)
	Masquerade bool
}

// ListNAT returns every chain of lxctl's table with what its rule says;
// nil when the table does not exist.
func ListNAT() ([]NATRule, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	var out []NATRule
	for _, ch := range chains {
		if ch.Table.Name != Table {
			continue
		}
		r := NATRule{Chain: ch.Name}
		rules, err := c.GetRules(lxctlTable, ch)
		if err != nil {
			return nil, fmt.Errorf("list the rules of chain %s: %w", ch.Name, err)
		}
		for _, rl := range rules {
			if s, ok := userdata.GetString(rl.UserData, userdata.TypeComment); ok {
				r.Comment = s
			}
			r.Subnet, r.Masquerade = readMasq(rl.Exprs)
		}
		out = append(out, r)
	}
	return out, nil
}

// readMasq reads back the source subnet and verdict of a rule addNAT made.
func readMasq(exprs []expr.Any) (netip.Prefix, bool) {
	var subnet netip.Prefix
	var addr netip.Addr
	bits, masq, saddr := -1, false, false
	for _, e := range exprs {
		switch x := e.(type) {
		case *expr.Payload:
			saddr = x.Offset == 12
		case *expr.Bitwise:
			if saddr && len(x.Mask) == 4 {
				bits = 0
				for _, b := range x.Mask {
					for ; b != 0; b <<= 1 {
						bits++
					}
				}
			}
		case *expr.Cmp:
			if saddr && x.Op == expr.CmpOpEq && len(x.Data) == 4 {
				addr = netip.AddrFrom4([4]byte(x.Data))
			}
			saddr = false
		case *expr.Masq:
			masq = true
		}
	}
	if addr.IsValid() && bits >= 0 {
		subnet = netip.PrefixFrom(addr, bits)
	}
	return subnet, masq
}

// natChainOf finds the chain whose rule carries network name's comment.
func natChainOf(l state.Layout, name string) (string, error) {
	rules, err := ListNAT()
	if err != nil {
		return "", err
	}
	want := natComment(l, name)
	for _, r := range rules {
		if r.Comment == want {
			return r.Chain, nil
		}
	}
	return "", nil
}

// addNAT adds, in one netlink batch (all or nothing), lxctl's table if
// missing, the chain of bridge br and its masquerade rule:
// ip saddr SUBNET ip daddr != SUBNET masquerade. A chain of that name that
// is another network's is an error; a stale one of this network's is
// replaced.
func addNAT(l state.Layout, name, br string, subnet netip.Prefix) error {
	lk, err := state.GlobalLock("nft", nftLockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	rules, err := ListNAT()
	if err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chain := &nftables.Chain{
		Name: NATChain(br), Table: lxctlTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	}
	t := c.AddTable(lxctlTable)
	for _, r := range rules {
		if r.Chain != chain.Name {
			continue
		}
		if r.Comment != natComment(l, name) {
			return fmt.Errorf("nftables chain %s %s already exists and is not network '%s''s (%q): choose another <bridge name>", Table, chain.Name, name, r.Comment)
		}
		c.DelChain(chain)
	}
	policy := nftables.ChainPolicyAccept
	chain.Policy = &policy
	chain.Table = t
	ch := c.AddChain(chain)
	s := subnet.Masked()
	var mask [4]byte
	for i := 0; i < s.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	net4 := s.Addr().As4()
	match := func(offset uint32, op expr.CmpOp) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: op, Register: 1, Data: net4[:]},
		}
	}
	exprs := append(match(12, expr.CmpOpEq), match(16, expr.CmpOpNeq)...)
	exprs = append(exprs, &expr.Masq{})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, natComment(l, name))})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add the NAT chain %s to nftables table ip %s: %w", chain.Name, Table, err)
	}
	return nil
}

// removeNAT deletes network name's chain (found by its comment, not by a
// recorded name), and lxctl's table once it is empty, under a host-wide
// lock so no other lxctl adds a chain between the check and the delete.
func removeNAT(l state.Layout, name string) error {
	lk, err := state.GlobalLock("nft", nftLockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	rules, err := ListNAT()
	if noNFTables(err) {
		return nil // a kernel without nf_tables holds no chain of ours
	}
	if err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	left, del := 0, false
	for _, r := range rules {
		if r.Comment == natComment(l, name) {
			c.DelChain(&nftables.Chain{Name: r.Chain, Table: lxctlTable})
			del = true
			continue
		}
		left++
	}
	if left == 0 && (del || len(rules) == 0) && tableExists(c) {
		c.DelTable(lxctlTable)
		del = true
	}
	if !del {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove network '%s''s NAT chain from nftables table ip %s: %w", name, Table, err)
	}
	return nil
}

func tableExists(c *nftables.Conn) bool {
	_, err := c.ListTableOfFamily(Table, nftables.TableFamilyIPv4)
	return err == nil
}

// noNFTables reports an error saying the kernel has no nf_tables: an
// isolated network must still start and stop there.
func noNFTables(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAFNOSUPPORT)
}
