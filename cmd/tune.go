package cmd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// Live tuning, as virsh has it: setmem, setmaxmem, memtune, schedinfo and
// blkiotune change the running domain (its cgroups, and its live XML so
// dumpxml and a reboot keep the change), its stored definition, or both,
// under the domain's lock. Every value is checked before anything is
// written; a bad one changes nothing.

func tuneCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newSetMemCmd(g), newSetMaxMemCmd(g), newMemtuneCmd(g), newSchedinfoCmd(g), newBlkiotuneCmd(g)}
}

// scope is virsh's --live, --config and --current.
type scope struct{ live, config, current bool }

func (s *scope) flags(f *pflag.FlagSet) {
	f.BoolVar(&s.live, "live", false, "change the running domain")
	f.BoolVar(&s.config, "config", false, "change the stored definition (next start)")
	f.BoolVar(&s.current, "current", false, "change the running domain if it runs, else the definition (the default)")
}

// resolve says which of the live domain and the definition to change.
func (s scope) resolve(d *domain.Domain) (live, config bool, err error) {
	if s.current && (s.live || s.config) {
		return false, false, errors.New("--current cannot be combined with --live or --config")
	}
	live, config = s.live, s.config
	if !live && !config {
		live, config = d.Active(), !d.Active()
	}
	if live && !d.Active() {
		return false, false, fmt.Errorf("domain '%s' is not running: --live needs a running domain (use --config to change the definition)", d.Name)
	}
	if config && d.Def == nil {
		return false, false, fmt.Errorf("domain '%s' is transient: it has no definition to change with --config", d.Name)
	}
	return live, config, nil
}

// parseKiB reads a scaled size as virsh does ("500000" is KiB, "512M",
// "1GiB", "2G"), rounded up to whole KiB. -1 means unlimited when allowed.
func parseKiB(what, s string, allowUnlimited bool) (int64, error) {
	if allowUnlimited && s == "-1" {
		return cgroup.Unlimited, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], s[i:]
	}
	b, err := domainxml.ParseSize(num, unit, "KiB")
	if err != nil {
		hint := ""
		if allowUnlimited {
			hint = ", or -1 for unlimited"
		}
		return 0, fmt.Errorf("%s: %q is not a size (use KiB, or a unit: 512M, 2GiB%s)", what, s, hint)
	}
	if b == 0 {
		return 0, fmt.Errorf("%s: size must be above zero", what)
	}
	return int64((b + 1023) / 1024), nil
}

// tuneDomain runs f on a domain under its lock, then writes back what f
// changed: the live XML of a running domain and the stored definition.
func (g *globals) tuneDomain(arg string, s scope, f func(d *domain.Domain, paths map[string]string, live, config bool) error) error {
	return g.withLock(arg, func(name string) error {
		d, err := g.inspectLocked(name)
		if err != nil {
			return err
		}
		if d.Active() && d.Live == nil {
			return fmt.Errorf("domain '%s': its live config cannot be read: %v", name, d.LiveErr)
		}
		live, config, err := s.resolve(d)
		if err != nil {
			return err
		}
		var paths map[string]string
		if live {
			// Derived from the layout, never from a record.
			if paths, err = g.host().CgroupDirs(d); err != nil {
				return err
			}
		}
		if err := f(d, paths, live, config); err != nil {
			return err
		}
		if config {
			out, err := d.Def.Marshal()
			if err != nil {
				return err
			}
			if err := g.layout().SaveDefinition(name, out); err != nil {
				return err
			}
		}
		if live {
			return writeLive(g, d)
		}
		return nil
	})
}

// writeLive records a running domain's changed live config, where dumpxml
// reads it and where the controller takes it from when it reboots the
// container.
func writeLive(g *globals, d *domain.Domain) error {
	out, err := d.Live.Marshal()
	if err != nil {
		return err
	}
	p, err := container.RunFile(g.layout(), d.Name, container.LiveXMLFile)
	if err != nil {
		return err
	}
	return state.WriteRuntimeFile(p, out, 0o600)
}

func kibBytes(k int64) *int64 {
	if k == cgroup.Unlimited {
		return &k
	}
	b := k * 1024
	return &b
}

func newSetMemCmd(g *globals) *cobra.Command {
	var s scope
	c := &cobra.Command{
		Use:   "setmem NAME SIZE",
		Short: "Change a domain's current memory (its memory limit while it runs)",
		Long: `Set the current memory of a domain: on a running domain the memory cgroup's
limit, at once; with --config the <currentMemory> of the definition. SIZE is in
KiB unless it has a unit (512M, 2GiB). It cannot exceed the maximum memory
(<memory>; change that with setmaxmem --config).`,
		Example: "  lxctl setmem vm1 256M\n  lxctl setmem vm1 400000 --config",
		Args:    exactArgs("name", "size"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(g.tuneDomain(args[0], s, func(d *domain.Domain, paths map[string]string, live, config bool) error {
				kib, err := parseKiB("size", args[1], false)
				if err != nil {
					return err
				}
				for _, x := range []struct {
					on  bool
					dom *domainxml.Domain
				}{{live, d.Live}, {config, d.Def}} {
					if x.on && uint64(kib) > x.dom.Memory {
						return fmt.Errorf("Cannot set memory higher than max memory (%d KiB > %d KiB; raise it first with lxctl setmaxmem %s SIZE --config)", kib, x.dom.Memory, d.Name)
					}
				}
				if live {
					if err := cgroup.SetMemoryLimits(paths, kibBytes(kib), nil, nil); err != nil {
						return err
					}
					d.Live.CurrentMemory = uint64(kib)
				}
				if config {
					d.Def.CurrentMemory = uint64(kib)
				}
				return nil
			}), "Failed to set memory of domain '%s'", args[0])
		},
	}
	s.flags(c.Flags())
	return c
}

func newSetMaxMemCmd(g *globals) *cobra.Command {
	var s scope
	c := &cobra.Command{
		Use:   "setmaxmem NAME SIZE",
		Short: "Change a domain's maximum memory (--config only while it runs, as libvirt)",
		Long: `Set the maximum memory (<memory>) of a domain's definition. As with libvirt it
cannot change on a running domain: use --config there, and setmem for the live
limit. A current memory above the new maximum is lowered to it.`,
		Args: exactArgs("name", "size"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(g.tuneDomain(args[0], s, func(d *domain.Domain, paths map[string]string, live, config bool) error {
				if live {
					return fmt.Errorf("Cannot resize the max memory on an active domain (use lxctl setmaxmem %s SIZE --config, then restart it)", d.Name)
				}
				kib, err := parseKiB("size", args[1], false)
				if err != nil {
					return err
				}
				d.Def.Memory = uint64(kib)
				d.Def.CurrentMemory = min(d.Def.CurrentMemory, uint64(kib))
				return nil
			}), "Failed to set max memory of domain '%s'", args[0])
		},
	}
	s.flags(c.Flags())
	return c
}

func newMemtuneCmd(g *globals) *cobra.Command {
	var s scope
	var hard, soft, swap string
	c := &cobra.Command{
		Use:   "memtune NAME",
		Short: "Show or change a domain's memory limits (hard, soft, swap)",
		Long: `Without options print the memory limits in KiB; with options change them
(in KiB unless a unit is given; -1 is unlimited). swap_hard_limit is the limit
of memory plus swap, so it cannot be below hard_limit.`,
		Example: "  lxctl memtune vm1\n  lxctl memtune vm1 --hard-limit 512M --swap-hard-limit 1G",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			var vals [3]*int64
			for i, f := range []struct{ name, val string }{{"hard-limit", hard}, {"soft-limit", soft}, {"swap-hard-limit", swap}} {
				if !c.Flags().Changed(f.name) {
					continue
				}
				k, err := parseKiB("--"+f.name, f.val, true)
				if err != nil {
					return failed(err, "Unable to change memory parameters of domain '%s'", args[0])
				}
				vals[i] = &k
			}
			var shown *cgroup.MemoryLimits
			err := g.tuneDomain(args[0], s, func(d *domain.Domain, paths map[string]string, live, config bool) error {
				if live {
					if vals != [3]*int64{} {
						if err := cgroup.SetMemoryLimits(paths, bytesOrNil(vals[0]), bytesOrNil(vals[1]), bytesOrNil(vals[2])); err != nil {
							return err
						}
						setMemTune(&d.Live.MemTune, vals)
					}
					m, err := cgroup.GetMemoryLimits(paths)
					if err != nil {
						return err
					}
					shown = m
				}
				if config {
					if h, sw := pick(vals[0], d.Def.MemTune.HardLimit), pick(vals[2], d.Def.MemTune.SwapHardLimit); h != cgroup.Unlimited && sw != cgroup.Unlimited && sw < h {
						return fmt.Errorf("swap_hard_limit %d KiB is below hard_limit %d KiB: the limit of memory plus swap must be at least the memory limit", sw, h)
					}
					setMemTune(&d.Def.MemTune, vals)
					if !live {
						m := d.Def.MemTune
						shown = &cgroup.MemoryLimits{Hard: kibOr(m.HardLimit), Soft: kibOr(m.SoftLimit), Swap: kibOr(m.SwapHardLimit)}
					}
				}
				return nil
			})
			if err != nil {
				return failed(err, "Unable to change memory parameters of domain '%s'", args[0])
			}
			for _, l := range []struct {
				k string
				v int64
			}{{"hard_limit", shown.Hard}, {"soft_limit", shown.Soft}, {"swap_hard_limit", shown.Swap}} {
				v := "unlimited"
				if l.v != cgroup.Unlimited {
					v = strconv.FormatInt(l.v/1024, 10)
				}
				fmt.Fprintf(g.io.Out, "%-15s: %s\n", l.k, v)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&hard, "hard-limit", "", "most memory the domain may use (KiB or with a unit; -1: unlimited)")
	f.StringVar(&soft, "soft-limit", "", "memory the domain is pushed back to under host pressure")
	f.StringVar(&swap, "swap-hard-limit", "", "most memory plus swap the domain may use")
	s.flags(f)
	return c
}

func bytesOrNil(k *int64) *int64 {
	if k == nil {
		return nil
	}
	return kibBytes(*k)
}

// kibOr turns a definition's limit (KiB, nil: none) into bytes or Unlimited.
func kibOr(k *uint64) int64 {
	if k == nil {
		return cgroup.Unlimited
	}
	return int64(*k) * 1024
}

// pick is the KiB value a change would leave: the new one, else the old.
func pick(v *int64, old *uint64) int64 {
	if v != nil {
		return *v
	}
	if old == nil {
		return cgroup.Unlimited
	}
	return int64(*old)
}

func setMemTune(m *domainxml.MemTune, vals [3]*int64) {
	for i, p := range []**uint64{&m.HardLimit, &m.SoftLimit, &m.SwapHardLimit} {
		switch {
		case vals[i] == nil:
		case *vals[i] == cgroup.Unlimited:
			*p = nil
		default:
			v := uint64(*vals[i])
			*p = &v
		}
	}
}

// schedParams are the parameters of schedinfo --set, with libvirt's ranges.
var schedParams = map[string]struct{ lo, hi int64 }{
	"cpu_shares":  {2, 262144},
	"vcpu_period": {1000, 1000000},
	"vcpu_quota":  {1000, 17592186044415}, // or -1
}

func newSchedinfoCmd(g *globals) *cobra.Command {
	var s scope
	var sets []string
	c := &cobra.Command{
		Use:     "schedinfo NAME",
		Short:   "Show or change a domain's CPU scheduler settings",
		Long:    `Print cpu_shares, vcpu_period and vcpu_quota (µs; -1: no quota); --set name=value changes one (repeatable).`,
		Example: "  lxctl schedinfo vm1 --set cpu_shares=512 --set vcpu_quota=50000",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			var shares, period *uint64
			var quota *int64
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				r, known := schedParams[k]
				if !ok || !known {
					return failed(fmt.Errorf("invalid scheduler option %q (use --set cpu_shares=N, vcpu_period=N or vcpu_quota=N)", kv), "Unable to change scheduler parameters of domain '%s'", args[0])
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || ((n < r.lo || n > r.hi) && !(k == "vcpu_quota" && n == -1)) {
					return failed(fmt.Errorf("%s: %q is out of range (a whole number from %d to %d%s)", k, v, r.lo, r.hi,
						map[bool]string{true: ", or -1 for no quota"}[k == "vcpu_quota"]), "Unable to change scheduler parameters of domain '%s'", args[0])
				}
				switch k {
				case "cpu_shares":
					u := uint64(n)
					shares = &u
				case "vcpu_period":
					u := uint64(n)
					period = &u
				default:
					quota = &n
				}
			}
			var shown *cgroup.CPULimits
			err := g.tuneDomain(args[0], s, func(d *domain.Domain, paths map[string]string, live, config bool) error {
				apply := func(t *domainxml.CPUTune) {
					if shares != nil {
						t.Shares = shares
					}
					if period != nil {
						t.Period = period
					}
					if quota != nil {
						t.Quota = quota
					}
				}
				if live {
					if err := cgroup.SetCPULimits(paths, shares, period, quota); err != nil {
						return err
					}
					apply(&d.Live.CPUTune)
					cl, err := cgroup.GetCPULimits(paths)
					if err != nil {
						return err
					}
					shown = cl
				}
				if config {
					apply(&d.Def.CPUTune)
					if !live {
						t := d.Def.CPUTune
						shown = &cgroup.CPULimits{Shares: 1024, Period: 100000, Quota: -1}
						if t.Shares != nil {
							shown.Shares = *t.Shares
						}
						if t.Period != nil {
							shown.Period = *t.Period
						}
						if t.Quota != nil {
							shown.Quota = *t.Quota
						}
					}
				}
				return nil
			})
			if err != nil {
				return failed(err, "Unable to change scheduler parameters of domain '%s'", args[0])
			}
			fmt.Fprintf(g.io.Out, "%-15s: %s\n%-15s: %d\n%-15s: %d\n%-15s: %d\n\n", "Scheduler", "posix",
				"cpu_shares", shown.Shares, "vcpu_period", shown.Period, "vcpu_quota", shown.Quota)
			return nil
		},
	}
	c.Flags().StringArrayVar(&sets, "set", nil, "`name=value`: cpu_shares, vcpu_period or vcpu_quota")
	s.flags(c.Flags())
	return c
}

func newBlkiotuneCmd(g *globals) *cobra.Command {
	var s scope
	var weight uint64
	c := &cobra.Command{
		Use:   "blkiotune NAME",
		Short: "Show or change a domain's block I/O weight",
		Long: `Print the block I/O weight (100..1000), or change it with --weight. The live
weight needs an I/O scheduler with proportional sharing (BFQ) on the host.`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			set := c.Flags().Changed("weight")
			if set && (weight < 100 || weight > 1000) {
				return failed(fmt.Errorf("--weight %d is out of range (100 to 1000)", weight), "Unable to change blkio parameters of domain '%s'", args[0])
			}
			var shown uint64
			err := g.tuneDomain(args[0], s, func(d *domain.Domain, paths map[string]string, live, config bool) error {
				if live {
					if set {
						if err := cgroup.SetIOWeight(paths, weight); err != nil {
							return err
						}
						w := weight
						d.Live.BlkioTune.Weight = &w
					}
					w, err := cgroup.GetIOWeight(paths)
					if err != nil {
						return err
					}
					shown = w
				}
				if config {
					if set {
						w := weight
						d.Def.BlkioTune.Weight = &w
					}
					if !live {
						shown = 100
						if w := d.Def.BlkioTune.Weight; w != nil {
							shown = *w
						}
					}
				}
				return nil
			})
			if err != nil {
				return failed(err, "Unable to change blkio parameters of domain '%s'", args[0])
			}
			fmt.Fprintf(g.io.Out, "%-15s: %d\n", "weight", shown)
			for _, k := range []string{"device_weight", "device_read_iops_sec", "device_write_iops_sec", "device_read_bytes_sec", "device_write_bytes_sec"} {
				fmt.Fprintf(g.io.Out, "%-15s: \n", k)
			}
			fmt.Fprintln(g.io.Out)
			return nil
		},
	}
	c.Flags().Uint64Var(&weight, "weight", 0, "block I/O weight, 100 to 1000")
	s.flags(c.Flags())
	return c
}
