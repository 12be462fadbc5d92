package cmd

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/domain"
)

// domInfo is dominfo's JSON form: units in the key names, id null when off.
type domInfo struct {
	ID            *int   `json:"id"`
	Name          string `json:"name"`
	UUID          string `json:"uuid"`
	OSType        string `json:"os_type"`
	State         string `json:"state"`
	Reason        string `json:"reason"`
	CPUs          int    `json:"cpus"`
	CPUTimeNS     int64  `json:"cpu_time_ns"`
	MaxMemoryKiB  uint64 `json:"max_memory_kib"`
	UsedMemoryKiB uint64 `json:"used_memory_kib"`
	Persistent    bool   `json:"persistent"`
	Autostart     bool   `json:"autostart"`
	InitPID       *int   `json:"init_pid"`
}

func newDomInfoCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "dominfo NAME",
		Short: "Print basic information about a domain",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			info := gatherInfo(g, d)
			if asJSON {
				enc := json.NewEncoder(g.io.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			printInfo(g, info)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return c
}

func gatherInfo(g *globals, d *domain.Domain) *domInfo {
	x := d.Config()
	info := &domInfo{
		Name: d.Name, UUID: x.UUID, OSType: x.OS.Type, State: d.State, Reason: d.Reason,
		CPUs: x.VCPU.Count, MaxMemoryKiB: x.Memory, UsedMemoryKiB: x.CurrentMemory,
		Persistent: d.Def != nil,
		Autostart:  d.Def != nil && g.layout().Autostart(d.Name),
	}
	if d.Active() {
		id := d.ID()
		info.ID = &id
		if initPID := d.InitPID(); initPID > 0 {
			info.InitPID = &initPID
		}
		if dirs, err := g.host().CgroupDirs(d); err == nil {
			if b, err := cgroup.MemoryUsage(dirs); err == nil {
				info.UsedMemoryKiB = (b + 1023) / 1024
			}
			if t, err := cgroup.CPUTime(dirs); err == nil {
				info.CPUTimeNS = t.Nanoseconds()
			}
		}
	}
	return info
}

// printInfo writes virsh's layout: the label left-justified in 15 columns.
func printInfo(g *globals, info *domInfo) {
	line := func(k, v string) { fmt.Fprintf(g.io.Out, "%-15s %s\n", k+":", v) }
	line("Id", idString(info.ID))
	line("Name", info.Name)
	line("UUID", info.UUID)
	line("OS Type", info.OSType)
	line("State", info.State)
	line("CPU(s)", strconv.Itoa(info.CPUs))
	if info.CPUTimeNS > 0 {
		line("CPU time", fmt.Sprintf("%.1fs", float64(info.CPUTimeNS)/1e9))
	}
	line("Max memory", fmt.Sprintf("%d KiB", info.MaxMemoryKiB))
	line("Used memory", fmt.Sprintf("%d KiB", info.UsedMemoryKiB))
	line("Persistent", yesNo(info.Persistent))
	line("Autostart", map[bool]string{true: "enable", false: "disable"}[info.Autostart])
	line("Managed save", "no")
	line("Security model", "none")
	line("Security DOI", "0")
	if info.InitPID != nil {
		line("Init PID", strconv.Itoa(*info.InitPID))
	}
	fmt.Fprintln(g.io.Out)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
