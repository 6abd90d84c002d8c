package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/camrelay/camrelay/relay/config"
)

// State is where a member stands.
type State string

// States of a member.
const (
	// StateStarting: no session with etcd yet (connecting, or waiting
	// for its ID to be free); relays nothing.
	StateStarting State = "starting"
	// StateMember: holds a live lease; relays the cameras it claimed.
	StateMember State = "member"
	// StateUnreachable: keepalives fail but the lease deadline has not
	// passed: keeps relaying what it claimed, starts nothing new.
	StateUnreachable State = "etcd-unreachable"
	// StateFenced: the lease deadline passed (or etcd said the lease is
	// gone): relays nothing until a fresh session.
	StateFenced State = "fenced"
	// StateStopped: closed.
	StateStopped State = "stopped"
)

// States lists every state, for metrics.
var States = []State{StateStarting, StateMember, StateUnreachable, StateFenced, StateStopped}

// Errors of the camera edits.
var (
	ErrExists      = errors.New("a camera with that name already exists")
	ErrNotFound    = errors.New("no camera with that name")
	ErrUnavailable = errors.New("fleet: etcd is not reachable")
)

// Options configure a Member. Zero values are documented per field.
type Options struct {
	Config config.Fleet
	// APIURL gives this member's API URL when Config.APIURL is empty; it
	// is read at registration and checked again every second.
	APIURL func() string
	// Seed is the file's cameras: written to etcd once, when the prefix
	// was never seeded.
	Seed []config.Camera
	// Log; nil means slog.Default().
	Log *slog.Logger
	// Apply receives the camera list and who relays what after every
	// change, from one goroutine, never concurrently. It must return only
	// once the cameras no longer Local are stopped (their publish sessions
	// closed): a claim is released after that.
	Apply func(cams []config.Camera, owners *config.FleetOwners)
	// Margin is taken off the lease TTL for the local deadline. Zero
	// means TTL/10, at least 200 ms.
	Margin time.Duration
}

// Member is this instance in the fleet: Start, then Close.
type Member struct {
	opts   Options
	id     string
	prefix string
	ttl    time.Duration
	margin time.Duration
	log    *slog.Logger

	base     time.Time    // monotonic origin of deadline
	deadline atomic.Int64 // lease deadline, ns since base; 0: none
	local    atomic.Pointer[map[string]bool]
	cli      atomic.Pointer[clientv3.Client]

	ownershipChanges atomic.Uint64
	moves            atomic.Uint64
	etcdErrors       atomic.Uint64
	etcdUp           atomic.Bool

	mu       sync.Mutex
	view     View
	cams     []config.Camera
	rev      int64
	revMoved chan struct{} // closed and replaced when rev moves
	stateAt  time.Time

	cancel context.CancelFunc
	done   chan struct{}
	crash  bool // tests: Close as a process death would (no stop, no revoke)
}

// New prepares a member; nothing connects before Start.
func New(o Options) *Member {
	m := &Member{opts: o, id: o.Config.ID, prefix: o.Config.Prefix, ttl: time.Duration(o.Config.LeaseTTL),
		log: o.Log, base: time.Now(), revMoved: make(chan struct{})}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("fleet", m.id)
	if m.ttl <= 0 {
		m.ttl = config.DefaultFleetLeaseTTL
	}
	if m.prefix == "" {
		m.prefix = config.DefaultFleetPrefix
	}
	m.margin = o.Margin
	if m.margin == 0 {
		m.margin = max(m.ttl/10, 200*time.Millisecond)
	}
	empty := map[string]bool{}
	m.local.Store(&empty)
	m.view = View{ID: m.id, State: StateStarting, Prefix: m.prefix, LeaseTTL: m.ttl.Seconds(), Etcd: o.Config.Etcd}
	m.stateAt = time.Now()
	return m
}

// ID is this member's name.
func (m *Member) ID() string { return m.id }

// Start runs the member until Close.
func (m *Member) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go m.run(ctx)
}

// Close leaves the fleet: stops the cameras this member relays, then
// revokes its lease so that others take them at once (not after the
// TTL), and closes the etcd client.
func (m *Member) Close() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	if c := m.cli.Load(); c != nil {
		c.Close()
	}
}

// MayPublish reports whether this member may open a publish session for
// the camera now: it holds the claim and its lease deadline has not
// passed. The sink asks at every connection: the fence does not depend on
// any goroutine noticing the deadline in time.
func (m *Member) MayPublish(name string) bool {
	return m.leaseValid() && (*m.local.Load())[name]
}

func (m *Member) now() time.Duration { return time.Since(m.base) }

func (m *Member) leaseValid() bool {
	d := m.deadline.Load()
	return d > 0 && int64(m.now()) < d
}

// Stats are the counters behind the metrics.
type Stats struct {
	State State
	// OwnershipChanges counts claims this member took and released.
	OwnershipChanges uint64
	// Moves counts cameras this member saw change owner.
	Moves      uint64
	EtcdErrors uint64
	EtcdUp     bool
	Owned      int
	Members    int
	Cameras    int
}

// Stats reads the counters.
func (m *Member) Stats() Stats {
	m.mu.Lock()
	st, members, cams := m.view.State, len(m.view.Members), len(m.cams)
	m.mu.Unlock()
	return Stats{State: st, OwnershipChanges: m.ownershipChanges.Load(), Moves: m.moves.Load(),
		EtcdErrors: m.etcdErrors.Load(), EtcdUp: m.etcdUp.Load(), Owned: len(*m.local.Load()), Members: members, Cameras: cams}
}

// State is the member's state and, when it is not a member, why.
func (m *Member) State() (State, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view.State, m.view.Error
}

func (m *Member) setState(s State, why error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.State != s {
		m.stateAt = time.Now()
		m.log.Info("fleet state", "state", string(s), "was", string(m.view.State))
	}
	m.view.State = s
	m.view.Error = ""
	if why != nil {
		m.view.Error = why.Error()
	}
}

func (m *Member) etcdError(err error) {
	if err != nil {
		m.etcdErrors.Add(1)
		m.etcdUp.Store(false)
	}
}

func (m *Member) key(parts ...string) string { return m.prefix + "/" + strings.Join(parts, "/") }

// client connects to etcd. With auth, clientv3.New authenticates, so a
// wrong password fails here, clearly, and is retried with backoff.
func (m *Member) client() (*clientv3.Client, error) {
	if c := m.cli.Load(); c != nil {
		return c, nil
	}
	f := m.opts.Config
	cfg := clientv3.Config{
		Endpoints:            f.Etcd,
		DialTimeout:          3 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Username:             f.User,
		Password:             f.Pass,
		Logger:               zap.NewNop(),
		// gRPC's default reconnect backoff grows to 2 minutes: after a long
		// etcd outage the fleet would come back that late.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			// The client's own timeout for a connection attempt.
			MinConnectTimeout: 2 * time.Second,
		})},
	}
	if f.TLS.CA != "" || f.TLS.Cert != "" {
		tc, err := tlsConfig(f.TLS)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, describe(err)
	}
	m.cli.Store(c)
	return c, nil
}

func tlsConfig(t config.FleetTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("fleet.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fleet.tls.ca: %s holds no PEM certificate", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("fleet.tls.cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// describe makes etcd's errors say what to do.
func describe(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("etcd refused fleet.user/fleet.pass (authentication failed): %w", err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("etcd user lacks permission on fleet.prefix: %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("etcd unreachable at fleet.etcd (no answer in time): %w", err)
	}
	return fmt.Errorf("etcd: %w", err)
}

func isAuthError(err error) bool {
	return errors.Is(err, rpctypes.ErrAuthFailed) || errors.Is(err, rpctypes.ErrPermissionDenied) ||
		errors.Is(err, rpctypes.ErrInvalidAuthToken) || errors.Is(err, rpctypes.ErrUserEmpty)
}

// opTimeout bounds each etcd call of the member's loop, so that the loop
// always comes back to its fence timer within a fraction of the TTL.
func (m *Member) opTimeout() time.Duration { return min(time.Second, m.ttl/4) }

func (m *Member) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.opTimeout())
}

// run connects and holds sessions until ctx ends.
func (m *Member) run(ctx context.Context) {
	defer close(m.done)
	wait := 500 * time.Millisecond
	var oldLease clientv3.LeaseID
	for ctx.Err() == nil {
		cli, err := m.client()
		if err == nil {
			var lease clientv3.LeaseID
			lease, err = m.session(ctx, cli, oldLease)
			if lease != 0 {
				oldLease = lease
			}
			if err == nil {
				wait = 500 * time.Millisecond // a session ran: come back fast
			}
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			m.etcdError(err)
			st, _ := m.State()
			if st != StateFenced {
				st = StateStarting
			}
			m.setState(st, err)
			m.log.Error("fleet: no session with etcd; retrying", "err", err.Error(), "retry_in", wait.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if err != nil {
			// Exponential, so that a wrong password or an unreachable etcd
			// is no hot loop; capped, so that etcd's return is noticed.
			wait = min(wait*2, 10*time.Second)
			if !isAuthError(err) {
				wait = min(wait, 2*time.Second)
			}
		}
	}
	m.setState(StateStopped, nil)
}

// memberInfo is what P/members/ID holds.
type memberInfo struct {
	ID      string    `json:"id"`
	Address string    `json:"address,omitempty"`
	APIURL  string    `json:"api_url,omitempty"`
	Since   time.Time `json:"since"`
	lease   clientv3.LeaseID
}

func (m *Member) info(since time.Time) memberInfo {
	i := memberInfo{ID: m.id, Address: m.opts.Config.Address, APIURL: m.opts.Config.APIURL, Since: since}
	if i.APIURL == "" && m.opts.APIURL != nil {
		i.APIURL = m.opts.APIURL()
	}
	return i
}

// errIDInUse: another live process registered this member ID.
var errIDInUse = errors.New("fleet.id is held by another live member (or by this one before a restart, until its lease expires)")

// session holds one lease from grant to loss (fenced) or ctx's end. It
// returns the lease it granted.
func (m *Member) session(ctx context.Context, cli *clientv3.Client, oldLease clientv3.LeaseID) (clientv3.LeaseID, error) {
	// A fresh session only after the old lease is gone: its claims vanish
	// with it, so nothing this member claimed before is held twice.
	if oldLease != 0 {
		c, cancel := m.opCtx(ctx)
		_, err := cli.Revoke(c, oldLease)
		cancel()
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return 0, describe(err)
		}
	}
	t0 := m.now()
	c, cancel := m.opCtx(ctx)
	g, err := cli.Grant(c, int64(m.ttl/time.Second))
	cancel()
	if err != nil {
		return 0, describe(err)
	}
	lease := g.ID
	fail := func(err error) (clientv3.LeaseID, error) {
		c, cancel := m.opCtx(context.Background())
		cli.Revoke(c, lease)
		cancel()
		return 0, err
	}
	m.deadline.Store(int64(t0 + time.Duration(g.TTL)*time.Second - m.margin))

	since := time.Now()
	reg := m.info(since)
	b, _ := json.Marshal(reg)
	mkey := m.key("members", m.id)
	c, cancel = m.opCtx(ctx)
	tr, err := cli.Txn(c).If(clientv3.Compare(clientv3.CreateRevision(mkey), "=", 0)).
		Then(clientv3.OpPut(mkey, string(b), clientv3.WithLease(lease))).Commit()
	cancel()
	if err != nil {
		return fail(describe(err))
	}
	if !tr.Succeeded {
		return fail(fmt.Errorf("%w: %q", errIDInUse, m.id))
	}
	if err := m.seed(ctx, cli); err != nil {
		return fail(err)
	}
	s := &session{m: m, cli: cli, lease: lease, reg: reg}
	if err := s.load(ctx, 5*time.Second); err != nil {
		return fail(err)
	}
	m.etcdUp.Store(true)
	m.setState(StateMember, nil)
	m.log.Info("fleet: joined", "lease", fmt.Sprintf("%x", int64(lease)), "ttl", m.ttl.String(), "members", len(s.members))
	s.loop(ctx)
	return lease, nil
}

// seed writes the file's cameras once per prefix.
func (m *Member) seed(ctx context.Context, cli *clientv3.Client) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	marker := m.key("seeded")
	tr, err := cli.Txn(c).If(clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)).
		Then(clientv3.OpPut(marker, m.id)).Commit()
	if err != nil {
		return describe(err)
	}
	if !tr.Succeeded {
		return nil
	}
	// etcd bounds the operations of one transaction (128 by default).
	for chunk := range slices.Chunk(m.opts.Seed, 50) {
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for _, cam := range chunk {
			b, err := json.Marshal(cam)
			if err != nil {
				return err
			}
			k := m.key("cameras", cam.Name)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
			ops = append(ops, clientv3.OpPut(k, string(b)))
		}
		if _, err := cli.Txn(c).If(cmps...).Then(ops...).Commit(); err != nil {
			return describe(err)
		}
	}
	m.log.Info("fleet: seeded the camera list from the configuration file", "cameras", len(m.opts.Seed))
	return nil
}

// AddCamera stores a new camera; when another member stored one of the
// same name first, it fails with ErrExists. It returns once this member
// sees the camera.
func (m *Member) AddCamera(ctx context.Context, cam config.Camera) error {
	return m.putCamera(ctx, cam, true)
}

// ReplaceCamera stores an existing camera's new settings.
func (m *Member) ReplaceCamera(ctx context.Context, cam config.Camera) error {
	return m.putCamera(ctx, cam, false)
}

func (m *Member) putCamera(ctx context.Context, cam config.Camera, create bool) error {
	cli := m.cli.Load()
	if cli == nil {
		return ErrUnavailable
	}
	b, err := json.Marshal(cam)
	if err != nil {
		return err
	}
	k := m.key("cameras", cam.Name)
	cmp := clientv3.Compare(clientv3.CreateRevision(k), "!=", 0)
	if create {
		cmp = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	}
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	tr, err := cli.Txn(c).If(cmp).Then(clientv3.OpPut(k, string(b))).Commit()
	if err != nil {
		m.etcdError(err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch {
	case !tr.Succeeded && create:
		return ErrExists
	case !tr.Succeeded:
		return ErrNotFound
	}
	m.waitRevision(c, tr.Header.Revision)
	return nil
}

// DeleteCamera removes a camera from the fleet; its owner stops it.
func (m *Member) DeleteCamera(ctx context.Context, name string) error {
	cli := m.cli.Load()
	if cli == nil {
		return ErrUnavailable
	}
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := cli.Delete(c, m.key("cameras", name))
	if err != nil {
		m.etcdError(err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if r.Deleted == 0 {
		return ErrNotFound
	}
	m.waitRevision(c, r.Header.Revision)
	return nil
}

// Cameras is the fleet's camera list as this member last saw it.
func (m *Member) Cameras() []config.Camera {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cams
}

// waitRevision waits until this member's view has caught up with rev.
func (m *Member) waitRevision(ctx context.Context, rev int64) {
	for {
		m.mu.Lock()
		at, ch := m.rev, m.revMoved
		m.mu.Unlock()
		if at >= rev {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// View is GET /v1/fleet.
type View struct {
	// ID is the member that answered.
	ID    string `json:"id"`
	State State  `json:"state"`
	// StateSince is when State began.
	StateSince time.Time `json:"state_since"`
	Error      string    `json:"error,omitempty"`
	Etcd       []string  `json:"etcd"`
	Prefix     string    `json:"prefix"`
	// Lease is this member's lease (hex); LeaseLeft is how long it stays
	// valid by this member's own clock, without another keepalive.
	Lease     string        `json:"lease,omitempty"`
	LeaseTTL  float64       `json:"lease_ttl_s"`
	LeaseLeft float64       `json:"lease_left_s"`
	Members   []MemberView  `json:"members"`
	Cameras   int           `json:"cameras"`
	Unclaimed []string      `json:"unclaimed"`
	Relaying  []string      `json:"relaying"`
	Moves     []Move        `json:"moves"`
	Counters  StatsCounters `json:"counters"`
}

// StatsCounters are View's counters.
type StatsCounters struct {
	OwnershipChanges uint64 `json:"ownership_changes"`
	Moves            uint64 `json:"moves"`
	EtcdErrors       uint64 `json:"etcd_errors"`
}

// MemberView is one live member.
type MemberView struct {
	ID      string    `json:"id"`
	Address string    `json:"address,omitempty"`
	APIURL  string    `json:"api_url,omitempty"`
	Lease   string    `json:"lease"`
	Since   time.Time `json:"since"`
	Self    bool      `json:"self,omitempty"`
	// Cameras are the claims the member holds.
	Cameras []string `json:"cameras"`
}

// Move is a camera that changed owner, as this member saw it.
type Move struct {
	Camera string    `json:"camera"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	// Gap is from the old claim's delete to the new claim, seconds.
	Gap float64 `json:"gap_s"`
}

// View is the fleet as this member sees it.
func (m *Member) View() View {
	m.mu.Lock()
	v := m.view
	v.StateSince = m.stateAt
	v.Members = slices.Clone(v.Members)
	v.Moves = slices.Clone(v.Moves)
	m.mu.Unlock()
	if d := m.deadline.Load(); d > 0 {
		v.LeaseLeft = max(0, (time.Duration(d) - m.now()).Seconds())
	} else {
		v.Lease = ""
	}
	v.Counters = StatsCounters{OwnershipChanges: m.ownershipChanges.Load(), Moves: m.moves.Load(), EtcdErrors: m.etcdErrors.Load()}
	// Past the deadline nothing is relayed by right, even in the moment
	// before the fence has stopped the pipelines: MayPublish refuses them.
	rel := make([]string, 0)
	for n := range *m.local.Load() {
		if m.leaseValid() {
			rel = append(rel, n)
		}
	}
	slices.Sort(rel)
	v.Relaying = rel
	if v.Unclaimed == nil {
		v.Unclaimed = []string{}
	}
	if v.Moves == nil {
		v.Moves = []Move{}
	}
	return v
}
