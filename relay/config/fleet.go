package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Fleet defaults and bounds.
const (
	DefaultFleetPrefix   = "/camrelay"
	DefaultFleetLeaseTTL = 5 * time.Second
	// etcd grants leases in whole seconds and raises short ones to its own
	// minimum (1.5 x the election timeout): below 2 s a TTL would not be
	// what it says; above a minute failover is too slow to be a fleet.
	MinFleetLeaseTTL = 2 * time.Second
	MaxFleetLeaseTTL = time.Minute
)

// Fleet makes this instance a member of a fleet coordinated through etcd:
// the camera list lives in etcd (cameras: only seeds it, once), members
// register under a lease, and each camera is relayed by the one live member
// that rendezvous hashing over the live members picks, after it holds the
// camera's claim key. No fleet section (no etcd endpoints): no fleet.
type Fleet struct {
	// Etcd are the etcd client endpoints, e.g. http://etcd-0.etcd:2379.
	Etcd []string `yaml:"etcd"`
	// Prefix is where this fleet's keys live; several fleets may share an
	// etcd under different prefixes. Default /camrelay.
	Prefix string `yaml:"prefix"`
	// LeaseTTL bounds how long a dead or cut-off member's cameras stay dark
	// (and how long a member keeps relaying without etcd). Default 5s,
	// whole seconds from 2s to 1m.
	LeaseTTL Duration `yaml:"lease_ttl"`
	TLS      FleetTLS `yaml:"tls"`
	// User and Pass authenticate to etcd when its auth is enabled.
	User string `yaml:"user"`
	Pass string `yaml:"pass"`
	// ID names this member; unique among live members. Default the host
	// name (on Kubernetes, the pod name). A restarted member with the same
	// ID gets the same cameras back.
	ID string `yaml:"id"`
	// Address is shown for this member in GET /v1/fleet; default the host
	// name.
	Address string `yaml:"address"`
	// APIURL is where operators and other members reach this member's API;
	// default http:// and the address the API listens on.
	APIURL string `yaml:"api_url"`
}

// FleetTLS is how camrelay talks TLS to etcd: CA verifies the servers, Cert
// and Key are a client certificate.
type FleetTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether fleet mode is configured.
func (f *Fleet) Enabled() bool { return len(f.Etcd) > 0 }

func (c *Config) fleetDefaults() {
	f := &c.Fleet
	if !f.Enabled() {
		return
	}
	if f.Prefix == "" {
		f.Prefix = DefaultFleetPrefix
	}
	setDur(&f.LeaseTTL, DefaultFleetLeaseTTL)
	if f.ID == "" || f.Address == "" {
		host, _ := os.Hostname()
		if f.ID == "" {
			f.ID = host
		}
		if f.Address == "" {
			f.Address = host
		}
	}
}

// checkFleet validates fleet:, naming the field.
func (c *Config) checkFleet() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	f := c.Fleet
	if !f.Enabled() {
		if f.Prefix != "" || f.LeaseTTL != 0 || f.User != "" || f.Pass != "" || f.ID != "" || f.TLS != (FleetTLS{}) || f.APIURL != "" {
			add("fleet.etcd: must list at least one etcd endpoint when fleet: is set")
		}
		return errs
	}
	for i, ep := range f.Etcd {
		if err := checkEtcdEndpoint(ep); err != nil {
			add("fleet.etcd[%d]: %v", i, err)
		}
	}
	if !strings.HasPrefix(f.Prefix, "/") || strings.HasSuffix(f.Prefix, "/") || strings.ContainsAny(f.Prefix, " \t\n") {
		add("fleet.prefix: must start with a slash and not end with one, such as /camrelay, not %q", f.Prefix)
	}
	ttl := time.Duration(f.LeaseTTL)
	switch {
	case ttl < MinFleetLeaseTTL || ttl > MaxFleetLeaseTTL:
		add("fleet.lease_ttl: must be from %v to %v, not %v", MinFleetLeaseTTL, MaxFleetLeaseTTL, ttl)
	case ttl%time.Second != 0:
		add("fleet.lease_ttl: must be whole seconds (etcd leases are), not %v", ttl)
	}
	if (f.TLS.Cert == "") != (f.TLS.Key == "") {
		add("fleet.tls: cert and key go together")
	}
	if (f.User == "") != (f.Pass == "") {
		add("fleet.user: user and pass go together")
	}
	switch {
	case f.ID == "":
		add("fleet.id: is empty and the host name is unknown; set it")
	case strings.ContainsAny(f.ID, "/ \t\n") || len(f.ID) > 253:
		add("fleet.id: must be a name without slashes or spaces, not %q", f.ID)
	}
	if f.APIURL != "" {
		if u, err := url.Parse(f.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("fleet.api_url: must be an http(s) URL such as http://camrelay-0.camrelay:9990")
		}
	}
	if c.Shard.Count > 1 {
		add("shard.count: static shards and fleet: do not mix; the fleet picks each camera's owner among its live members")
	}
	return errs
}

func checkEtcdEndpoint(ep string) error {
	hostport := ep
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs") {
			return fmt.Errorf("must be host:port or an http(s) URL such as http://127.0.0.1:2379, not %q", ep)
		}
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			return nil
		}
		if u.Path != "" && u.Path != "/" {
			return fmt.Errorf("must not have a path (%q)", u.Path)
		}
		hostport = u.Host
	}
	if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
		return fmt.Errorf("must name a port, such as http://127.0.0.1:2379, not %q", ep)
	}
	return nil
}

// FleetOwners is the fleet's part of a configuration snapshot: who relays
// each camera. Set by WithFleet; nil outside fleet mode.
type FleetOwners struct {
	Self string
	// Owner is each camera's claim holder ("" when unclaimed).
	Owner map[string]string
	// Local are the cameras this member relays now: claimed under its
	// current lease, not fenced.
	Local map[string]bool
}

// WithFleet returns a copy of c whose cameras are the fleet's list and
// whose Local answers from the fleet's claims.
func (c *Config) WithFleet(cams []Camera, owners *FleetOwners) *Config {
	n := *c
	n.Cameras = cams
	n.fleet = owners
	return &n
}

// Owners is the fleet's view in this snapshot (nil outside fleet mode).
func (c *Config) Owners() *FleetOwners { return c.fleet }
