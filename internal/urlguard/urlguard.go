// Package urlguard decides which callback URLs may receive a bearer token:
// https only, hosts under an allowlist of domain suffixes, and no dial to a
// loopback, private, link-local or metadata address unless allowed.
package urlguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// DefaultAllowedHosts are the domain suffixes callbacks may go to when none
// are configured. Adobe does not document its production callback hosts.
var DefaultAllowedHosts = []string{"adobe.com", "adobe.io"}

// Config sets what a Guard lets through.
type Config struct {
	// AllowedHosts are domain suffixes: "adobe.com" admits adobe.com and
	// any host under it. An IP literal admits exactly that address.
	AllowedHosts []string
	// AllowHTTP admits plain http URLs (for a local simulator).
	AllowHTTP bool
	// AllowPrivate admits loopback, private and link-local addresses.
	AllowPrivate bool
}

// Guard checks callback URLs and the addresses they resolve to.
type Guard struct {
	hosts        []string
	allowHTTP    bool
	allowPrivate bool
}

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("callback URL refused")

// New returns a guard for cfg.
func New(cfg Config) *Guard {
	hosts := cfg.AllowedHosts
	if len(hosts) == 0 {
		hosts = DefaultAllowedHosts
	}
	g := &Guard{allowHTTP: cfg.AllowHTTP, allowPrivate: cfg.AllowPrivate}
	for _, h := range hosts {
		h = strings.ToLower(strings.Trim(strings.TrimSpace(h), "."))
		if h != "" {
			g.hosts = append(g.hosts, h)
		}
	}
	return g
}

// Check reports whether a callback URL may be used, and why not.
func (g *Guard) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrRefused)
	}
	return g.CheckURL(u)
}

// CheckURL is Check for a parsed URL.
func (g *Guard) CheckURL(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.allowHTTP:
	case u.Scheme == "http":
		return fmt.Errorf("%w: scheme http is not allowed; use https", ErrRefused)
	default:
		return fmt.Errorf("%w: scheme %q is not allowed; use https", ErrRefused, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL are not allowed", ErrRefused)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return fmt.Errorf("%w: no host", ErrRefused)
	}
	if !g.hostAllowed(host) {
		return fmt.Errorf("%w: host %q is not under an allowed domain %v", ErrRefused, host,
			g.hosts)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if err := g.checkAddr(addr); err != nil {
			return err
		}
	}
	return nil
}

func (g *Guard) hostAllowed(host string) bool {
	for _, allowed := range g.hosts {
		if host == allowed || strings.HasSuffix(host, "."+allowed) {
			return true
		}
	}
	return false
}

// checkAddr refuses addresses a callback must never reach unless private
// addresses are allowed.
func (g *Guard) checkAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	if g.allowPrivate {
		return nil
	}
	switch {
	case addr.IsLoopback(), addr.IsPrivate(), addr.IsLinkLocalUnicast(),
		addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast(),
		addr.IsUnspecified(), addr.IsMulticast(), isSpecial(addr):
		return fmt.Errorf("%w: address %s is loopback, private, link-local or reserved",
			ErrRefused, addr)
	}
	return nil
}

var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
	netip.MustParsePrefix("fd00:ec2::/32"), // cloud metadata over IPv6
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64, may map to private IPv4
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("0.0.0.0/8"),     // this network
	netip.MustParsePrefix("255.255.255.255/32"),
}

func isSpecial(addr netip.Addr) bool {
	for _, p := range specialPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function that refuses to connect to a
// forbidden address, whatever name resolved to it.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q", ErrRefused, address)
	}
	return g.checkAddr(ap.Addr())
}

// DialContext dials through a dialer whose Control is the guard's.
func (g *Guard) DialContext(d *net.Dialer) func(ctx context.Context, network,
	addr string) (net.Conn, error) {
	guarded := *d
	guarded.Control = g.Control
	return guarded.DialContext
}
