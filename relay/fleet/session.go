package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/relay/shard"
)

// claim is one P/claims/NAME.
type claim struct {
	owner string
	lease clientv3.LeaseID
}

// session is the member's state under one lease; only its loop touches it.
type session struct {
	m     *Member
	cli   *clientv3.Client
	lease clientv3.LeaseID
	reg   memberInfo

	rev       int64
	cams      map[string]config.Camera
	members   map[string]memberInfo
	claims    map[string]claim
	local     map[string]bool
	applied   bool
	dirty     bool
	reachable bool

	// Moves, as seen through the watch.
	lastOwner map[string]string
	freedAt   map[string]time.Time
	moves     []Move
}

// load reads everything under the prefix.
func (s *session) load(ctx context.Context, timeout time.Duration) error {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := s.cli.Get(c, s.m.prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return describe(err)
	}
	s.rev = r.Header.Revision
	s.cams, s.members, s.claims = map[string]config.Camera{}, map[string]memberInfo{}, map[string]claim{}
	if s.local == nil {
		s.local = map[string]bool{}
		s.lastOwner, s.freedAt = map[string]string{}, map[string]time.Time{}
	}
	for _, kv := range r.Kvs {
		s.put(kv, false)
	}
	s.dirty = true
	return nil
}

// put applies one key-value (a put event, or a key of load).
func (s *session) put(kv *mvccpb.KeyValue, live bool) {
	kind, name, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), s.m.prefix+"/"), "/")
	if !ok {
		return
	}
	switch kind {
	case "cameras":
		var c config.Camera
		if err := json.Unmarshal(kv.Value, &c); err != nil || c.Name != name {
			s.m.log.Warn("fleet: ignoring a camera entry that does not decode", "key", string(kv.Key))
			return
		}
		s.cams[name] = c
	case "members":
		var i memberInfo
		if json.Unmarshal(kv.Value, &i) != nil {
			i = memberInfo{ID: name}
		}
		i.ID, i.lease = name, clientv3.LeaseID(kv.Lease)
		s.members[name] = i
	case "claims":
		owner := string(kv.Value)
		s.claims[name] = claim{owner: owner, lease: clientv3.LeaseID(kv.Lease)}
		if prev := s.lastOwner[name]; live && prev != "" && prev != owner {
			mv := Move{Camera: name, From: prev, To: owner, At: time.Now()}
			if t, ok := s.freedAt[name]; ok {
				mv.Gap = time.Since(t).Seconds()
			}
			s.moves = append(s.moves, mv)
			s.m.moves.Add(1)
		}
		s.lastOwner[name] = owner
		delete(s.freedAt, name)
	default:
		return
	}
	s.dirty = true
}

func (s *session) del(key string) {
	kind, name, ok := strings.Cut(strings.TrimPrefix(key, s.m.prefix+"/"), "/")
	if !ok {
		return
	}
	switch kind {
	case "cameras":
		delete(s.cams, name)
	case "members":
		delete(s.members, name)
	case "claims":
		delete(s.claims, name)
		s.freedAt[name] = time.Now()
	default:
		return
	}
	s.dirty = true
}

type kaResult struct {
	err  error
	lost bool
}

// loop runs the session until the lease is lost or ctx ends.
func (s *session) loop(ctx context.Context) {
	m := s.m
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	ka := make(chan kaResult, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.keepalive(sctx, s.cli, s.lease, ka)
	}()
	watch := s.cli.Watch(clientv3.WithRequireLeader(sctx), m.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(s.rev+1))
	fence := time.NewTimer(time.Until(s.deadlineTime()))
	defer fence.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	s.reachable = true
	s.reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			s.leave()
			return
		case wr, ok := <-watch:
			if !ok || wr.Err() != nil {
				// A compacted or broken watch: read everything again and
				// watch from there. Cameras keep running meanwhile.
				if ok {
					m.log.Warn("fleet: watch interrupted; reloading", "err", wr.Err().Error())
				}
				if ctx.Err() != nil {
					continue
				}
				if err := s.load(ctx, m.opTimeout()); err != nil {
					m.etcdError(err)
					time.Sleep(m.opTimeout())
				}
				watch = s.cli.Watch(clientv3.WithRequireLeader(sctx), m.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(s.rev+1))
				continue
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					s.del(string(ev.Kv.Key))
				} else {
					s.put(ev.Kv, true)
				}
			}
			s.rev = wr.Header.Revision
			s.reconcile(ctx)
		case r := <-ka:
			switch {
			case r.lost:
				s.fence(errors.New("etcd says the lease is gone"))
				return
			case r.err != nil:
				if s.reachable {
					m.log.Warn("fleet: etcd unreachable; relaying what this member holds until the lease deadline, starting nothing new",
						"err", r.err.Error(), "deadline_in", time.Until(s.deadlineTime()).Round(time.Millisecond).String())
				}
				s.reachable = false
				m.setState(StateUnreachable, r.err)
			default:
				if !s.reachable {
					m.log.Info("fleet: etcd reachable again")
				}
				s.reachable = true
				m.etcdUp.Store(true)
				m.setState(StateMember, nil)
				fence.Reset(time.Until(s.deadlineTime()))
				s.reconcile(ctx)
			}
		case <-fence.C:
			if !m.leaseValid() {
				s.fence(fmt.Errorf("no keepalive acknowledged within the lease TTL (%v)", m.ttl))
				return
			}
			fence.Reset(time.Until(s.deadlineTime()))
		case <-tick.C:
			if !m.leaseValid() {
				s.fence(fmt.Errorf("no keepalive acknowledged within the lease TTL (%v)", m.ttl))
				return
			}
			if i := m.info(s.reg.Since); i.APIURL != s.reg.APIURL && s.reachable {
				s.register(ctx, i)
			}
			s.reconcile(ctx)
		}
	}
}

func (s *session) deadlineTime() time.Time {
	return s.m.base.Add(time.Duration(s.m.deadline.Load()))
}

// register rewrites this member's entry (its API URL became known).
func (s *session) register(ctx context.Context, i memberInfo) {
	b, _ := json.Marshal(i)
	c, cancel := s.m.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Put(c, s.m.key("members", s.m.id), string(b), clientv3.WithLease(s.lease)); err == nil {
		s.reg = i
	}
}

// fence stops every camera this member relays; it claims again only under
// a fresh lease.
func (s *session) fence(why error) {
	m := s.m
	m.deadline.Store(0)
	n := len(s.local)
	clear(s.local)
	s.publish(true)
	m.setState(StateFenced, why)
	m.log.Error("fleet: fenced: stopped every camera this member relayed; rejoining with a fresh lease", "cameras", n, "why", why.Error())
}

// leave stops the cameras and revokes the lease, so that the other
// members take them without waiting for the TTL.
func (s *session) leave() {
	m := s.m
	if m.crash {
		return // a test's simulated death: nothing stops, the lease expires
	}
	clear(s.local)
	s.publish(true)
	m.deadline.Store(0)
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.cli.Revoke(c, s.lease)
}

// owner is the member that should relay name, among the live members.
func (s *session) owners() func(name string) string {
	ids := slices.Collect(maps.Keys(s.members))
	return func(name string) string { return shard.MemberOwner(name, ids) }
}

// reconcile releases the cameras this member should no longer relay
// (stopping them first), claims those it should relay that nobody holds,
// and hands the result to Apply.
func (s *session) reconcile(ctx context.Context) {
	m := s.m
	if !m.leaseValid() {
		return // the fence timer is due
	}
	if s.reachable {
		owner := s.owners()
		var release, want []string
		for name, c := range s.claims {
			if c.owner == m.id && c.lease == s.lease {
				if _, ok := s.cams[name]; !ok || owner(name) != m.id {
					release = append(release, name)
				}
			}
		}
		for name := range s.cams {
			if _, held := s.claims[name]; !held && owner(name) == m.id {
				want = append(want, name)
			}
		}
		slices.Sort(release)
		slices.Sort(want)
		if len(release) > 0 {
			for _, n := range release {
				delete(s.local, n)
			}
			s.publish(true) // stopped before the claims go
			s.release(ctx, release)
		}
		if len(want) > 0 {
			s.claim(ctx, want)
		}
	}
	// Claims of this lease that are not running yet (a claim that
	// succeeded but whose answer was lost, seen through the watch).
	for name, c := range s.claims {
		if c.owner == m.id && c.lease == s.lease && !s.local[name] {
			if _, ok := s.cams[name]; ok && s.reachable {
				s.local[name] = true
				s.dirty = true
			}
		}
	}
	for name := range s.local {
		if c, ok := s.claims[name]; !ok || c.owner != m.id || c.lease != s.lease {
			delete(s.local, name) // lost outside our doing: stop
			s.dirty = true
		}
	}
	s.publish(false)
}

func (s *session) release(ctx context.Context, names []string) {
	m := s.m
	for _, n := range names {
		k := m.key("claims", n)
		c, cancel := m.opCtx(ctx)
		_, err := s.cli.Txn(c).If(clientv3.Compare(clientv3.LeaseValue(k), "=", s.lease)).Then(clientv3.OpDelete(k)).Commit()
		cancel()
		if err != nil {
			m.etcdError(err)
			return // the next tick tries again; the camera is stopped
		}
		delete(s.claims, n)
		s.freedAt[n] = time.Now()
		m.ownershipChanges.Add(1)
		m.log.Info("fleet: released a camera to its new owner", "camera", n)
	}
}

// claim takes the claims of names that are free, many per transaction.
func (s *session) claim(ctx context.Context, names []string) {
	m := s.m
	for chunk := range slices.Chunk(names, 50) {
		if !m.leaseValid() {
			return
		}
		ok, err := s.claimTxn(ctx, chunk)
		if err != nil {
			m.etcdError(err)
			return
		}
		if ok {
			continue
		}
		// One of them was taken meanwhile: one at a time.
		for _, n := range chunk {
			if _, err := s.claimTxn(ctx, []string{n}); err != nil {
				m.etcdError(err)
				return
			}
		}
	}
}

func (s *session) claimTxn(ctx context.Context, names []string) (bool, error) {
	m := s.m
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, n := range names {
		k := m.key("claims", n)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		ops = append(ops, clientv3.OpPut(k, m.id, clientv3.WithLease(s.lease)))
	}
	c, cancel := m.opCtx(ctx)
	defer cancel()
	tr, err := s.cli.Txn(c).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, err
	}
	if !tr.Succeeded {
		return false, nil
	}
	for _, n := range names {
		s.claims[n] = claim{owner: m.id, lease: s.lease}
		s.local[n] = true
		m.ownershipChanges.Add(1)
	}
	s.dirty = true
	if len(names) > 1 || m.log.Enabled(ctx, -4) {
		m.log.Debug("fleet: claimed", "cameras", len(names))
	}
	return true, nil
}

// publish hands the state to Apply (when it changed, or always with
// force) and to the member's view.
func (s *session) publish(force bool) {
	m := s.m
	if !s.dirty && !force && s.applied {
		return
	}
	s.dirty, s.applied = false, true
	local := maps.Clone(s.local)
	m.local.Store(&local)
	cams := make([]config.Camera, 0, len(s.cams))
	for _, c := range s.cams {
		cams = append(cams, c)
	}
	slices.SortFunc(cams, func(a, b config.Camera) int { return strings.Compare(a.Name, b.Name) })
	owner := make(map[string]string, len(s.claims))
	for n, c := range s.claims {
		owner[n] = c.owner
	}
	if m.opts.Apply != nil {
		m.opts.Apply(cams, &config.FleetOwners{Self: m.id, Owner: owner, Local: local})
	}

	byMember := map[string][]string{}
	var unclaimed []string
	for _, c := range cams {
		if o, ok := owner[c.Name]; ok {
			byMember[o] = append(byMember[o], c.Name)
		} else {
			unclaimed = append(unclaimed, c.Name)
		}
	}
	members := make([]MemberView, 0, len(s.members))
	for _, i := range s.members {
		members = append(members, MemberView{ID: i.ID, Address: i.Address, APIURL: i.APIURL, Since: i.Since,
			Lease: fmt.Sprintf("%x", int64(i.lease)), Self: i.ID == m.id, Cameras: append([]string{}, byMember[i.ID]...)})
	}
	slices.SortFunc(members, func(a, b MemberView) int { return strings.Compare(a.ID, b.ID) })
	hour := time.Now().Add(-time.Hour)
	i := 0
	for i < len(s.moves) && s.moves[i].At.Before(hour) {
		i++
	}
	s.moves = s.moves[i:]
	if len(s.moves) > 10000 {
		s.moves = s.moves[len(s.moves)-10000:]
	}
	m.mu.Lock()
	m.cams = cams
	m.view.Members = members
	m.view.Unclaimed = unclaimed
	m.view.Cameras = len(cams)
	m.view.Moves = slices.Clone(s.moves)
	m.view.Lease = fmt.Sprintf("%x", int64(s.lease))
	if s.rev > m.rev {
		m.rev = s.rev
		close(m.revMoved)
		m.revMoved = make(chan struct{})
	}
	m.mu.Unlock()
}

// keepalive renews the lease every TTL/4 (every 200 ms while failing). The
// deadline moves to the send time of an acknowledged keepalive + TTL -
// margin: etcd counts the TTL from when it received it, which is later.
func (m *Member) keepalive(ctx context.Context, cli *clientv3.Client, lease clientv3.LeaseID, out chan kaResult) {
	send := func(r kaResult) {
		select {
		case out <- r:
		default:
			select {
			case <-out:
			default:
			}
			out <- r
		}
	}
	every := m.ttl / 4
	for {
		t0 := m.now()
		c, cancel := context.WithTimeout(ctx, min(every, time.Second))
		resp, err := cli.KeepAliveOnce(c, lease)
		cancel()
		if ctx.Err() != nil {
			return
		}
		next := every
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			send(kaResult{lost: true})
			return
		case err != nil:
			m.etcdError(err)
			send(kaResult{err: describe(err)})
			next = 200 * time.Millisecond
		default:
			ttl := min(time.Duration(resp.TTL)*time.Second, m.ttl)
			// Never revive a deadline the fence cleared: that lease is done.
			d := int64(t0 + ttl - m.margin)
			for cur := m.deadline.Load(); cur != 0 && d > cur && !m.deadline.CompareAndSwap(cur, d); cur = m.deadline.Load() {
			}
			send(kaResult{})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next - min(next, m.now()-t0)):
		}
	}
}
