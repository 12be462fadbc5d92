package container

import (
	"fmt"
	"path"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer/configs"
)

// PayloadCgroup is the cgroup, below the domain's own, that init runs in.
//
// Every container gets a cgroup namespace whose root is the cgroup init is
// in, so that a privileged root inside, which can always mount a cgroup
// hierarchy (it has CAP_SYS_ADMIN), sees only its own subtree. But cgroup v1
// lets root write the limit files of that root cgroup itself: devices.allow
// 'a' would lift the device allow-list as far as the parent allows (the
// partition, /machine, allows everything), and memory or pids limits could
// be raised at will. So the limits go on the domain's cgroup
// (<partition>/<name>.lxctl), which the controller creates and sets up, and
// init runs one level below in <name>.lxctl/payload (LXC's name for the
// same split): whatever the container writes there, the kernel holds every
// cgroup to its parent's limits, and the parent is out of the namespace's
// reach. Status, freeze, kill, stats and removal all work on the domain's
// cgroup as before: they take in its descendants.
const PayloadCgroup = "payload"

// nestCgroups sets up the domain's cgroup (cfg.Cgroups as Config made it)
// with every limit, then points libcontainer at the payload cgroup below,
// with only the device allow-list: a payload that held limits of its own
// would keep them when live tuning changes the domain's.
func nestCgroups(cfg *configs.Config) error {
	outer := *cfg.Cgroups
	m, err := manager.New(&outer)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", outer.Path, err)
	}
	if err := m.Apply(-1); err != nil {
		return fmt.Errorf("create cgroup %s: %w", outer.Path, err)
	}
	step("domain cgroup made")
	if err := m.Set(outer.Resources); err != nil {
		return fmt.Errorf("set the limits of cgroup %s: %w", outer.Path, err)
	}
	inner := outer
	inner.Path = path.Join(outer.Path, PayloadCgroup)
	inner.Resources = &cgroups.Resources{Devices: outer.Resources.Devices}
	cfg.Cgroups = &inner
	return nil
}
