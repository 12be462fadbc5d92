package domainxml

import (
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// SecurityNamespaceURI is the namespace of lxctl's own settings inside
// <metadata>. libvirt's domain XML has no seccomp element for LXC, and
// <metadata> is where libvirt lets applications keep their own data: one
// element per namespace, kept verbatim, ignored by everything else.
//
//	<metadata>
//	  <lxctl:security xmlns:lxctl='https://lxctl.dev/xmlns/security/1' seccomp='unconfined'/>
//	</metadata>
const SecurityNamespaceURI = "https://lxctl.dev/xmlns/security/1"

// Seccomp profiles a domain may ask for.
const (
	// SeccompDefault refuses, with EPERM, the syscalls that reach past the
	// container into the host kernel (see container/security.go).
	SeccompDefault = "default"
	// SeccompUnconfined installs no filter, as libvirt's LXC driver does.
	SeccompUnconfined = "unconfined"
)

var seccompProfiles = []string{SeccompDefault, SeccompUnconfined}

// Security is what lxctl's <lxctl:security> metadata element asks for.
// It stays inside Metadata (written back verbatim); this is its parsed view.
type Security struct {
	Seccomp string // "" (absent) means SeccompDefault
}

// security parses lxctl's element of <metadata>, if there is one. md is the
// element still in its document, so prefixes declared on <domain> resolve.
func (p *parser) security(md *etree.Element, s *Security) error {
	seen := false
	for _, c := range md.ChildElements() {
		if c.NamespaceURI() != SecurityNamespaceURI {
			continue
		}
		where := "metadata/" + c.FullTag()
		if c.Tag != "security" {
			return p.errorf(c, where, "", "unknown element <%s> in lxctl's namespace %s (use <security seccomp='default|unconfined'/>)", c.FullTag(), SecurityNamespaceURI)
		}
		if seen {
			return p.errorf(c, where, "", "more than one <%s> (libvirt keeps one metadata element per namespace)", c.FullTag())
		}
		seen = true
		for _, a := range c.Attr {
			if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
				continue
			}
			if a.Space != "" || a.Key != "seccomp" {
				return p.errorf(c, where, a.Value, "unknown attribute '%s' (lxctl:security takes seccomp='default|unconfined')", a.FullKey())
			}
			v := strings.TrimSpace(a.Value)
			if !slices.Contains(seccompProfiles, v) {
				return p.errorf(c, where+"/@seccomp", a.Value, "unknown seccomp profile '%s' (use %s)", a.Value, strings.Join(seccompProfiles, " or "))
			}
			s.Seccomp = v
		}
	}
	return nil
}
