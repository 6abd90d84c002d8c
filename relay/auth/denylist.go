package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"
)

// maxDenied bounds the deny list. Entries leave it when the tokens they
// name have expired, so only a flood of revocations within one token
// lifetime could reach it.
const maxDenied = 100_000

// denyList holds revoked token ids and per-user cut-offs until the tokens
// they affect have expired. Checks read memory only; every change is written
// through to the file (when there is one) before it is acknowledged.
type denyList struct {
	path     string // "" keeps it in memory only
	readOnly bool   // never writes the file

	mu     sync.RWMutex
	tokens map[string]time.Time // jti -> until
	users  map[string]userCut   // sub -> cut-off
}

// userCut refuses the user's tokens issued before Before; it is kept until
// Until, when every such token has expired.
type userCut struct {
	before, until time.Time
}

const denyFileVersion = 1

type denyFile struct {
	Version int             `json:"version"`
	Tokens  []denyFileToken `json:"tokens"`
	Users   []denyFileUser  `json:"users"`
}

type denyFileToken struct {
	JTI   string    `json:"jti"`
	Until time.Time `json:"until"`
}

type denyFileUser struct {
	User   string    `json:"user"`
	Before time.Time `json:"before"`
	Until  time.Time `json:"until"`
}

func newDenyList(path string, now time.Time) (*denyList, error) {
	d := &denyList{path: path, tokens: map[string]time.Time{}, users: map[string]userCut{}}
	if path == "" {
		return d, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	var f denyFile
	if err := strictUnmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("deny list %s: %w", path, err)
	}
	if f.Version != denyFileVersion {
		return nil, fmt.Errorf("deny list %s: version %d, want %d", path, f.Version, denyFileVersion)
	}
	for _, t := range f.Tokens {
		if t.Until.After(now) {
			d.tokens[t.JTI] = t.Until
		}
	}
	for _, u := range f.Users {
		if u.Until.After(now) {
			d.users[u.User] = userCut{before: u.Before, until: u.Until}
		}
	}
	return d, nil
}

// check refuses a revoked token.
func (d *denyList) check(c Claims) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if _, ok := d.tokens[c.ID]; ok {
		return fmt.Errorf("%w: by id", ErrRevoked)
	}
	if u, ok := d.users[c.Subject]; ok && c.IssuedAt.Before(u.before) {
		return fmt.Errorf("%w: all tokens of the user issued before %s", ErrRevoked, u.before.UTC().Format(time.RFC3339))
	}
	return nil
}

// cutoff is the time before which sub's tokens are refused (zero if none).
func (d *denyList) cutoff(sub string) time.Time {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.users[sub].before
}

func (d *denyList) revokeToken(jti string, until, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.tokens[jti]; ok && !until.After(old) {
		return nil
	}
	d.pruneLocked(now)
	if len(d.tokens)+len(d.users) >= maxDenied {
		return fmt.Errorf("deny list full (%d entries)", maxDenied)
	}
	d.tokens[jti] = until
	return d.saveLocked()
}

func (d *denyList) revokeUser(user string, before, until, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(now)
	if _, ok := d.users[user]; !ok && len(d.tokens)+len(d.users) >= maxDenied {
		return fmt.Errorf("deny list full (%d entries)", maxDenied)
	}
	u := d.users[user]
	if before.After(u.before) {
		u.before = before
	}
	if until.After(u.until) {
		u.until = until
	}
	d.users[user] = u
	return d.saveLocked()
}

// prune drops entries whose tokens have all expired, and rewrites the file
// when any was dropped.
func (d *denyList) prune(now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pruneLocked(now) {
		return d.saveLocked()
	}
	return nil
}

func (d *denyList) pruneLocked(now time.Time) bool {
	changed := false
	for k, until := range d.tokens {
		if !until.After(now) {
			delete(d.tokens, k)
			changed = true
		}
	}
	for k, u := range d.users {
		if !u.until.After(now) {
			delete(d.users, k)
			changed = true
		}
	}
	return changed
}

// saveLocked writes the file, sorted so that it diffs well. The change stays
// in memory even when writing fails: a revocation must hold at least until
// the process ends.
func (d *denyList) saveLocked() error {
	if d.path == "" || d.readOnly {
		return nil
	}
	f := denyFile{Version: denyFileVersion, Tokens: []denyFileToken{}, Users: []denyFileUser{}}
	for jti, until := range d.tokens {
		f.Tokens = append(f.Tokens, denyFileToken{JTI: jti, Until: until.UTC()})
	}
	for user, u := range d.users {
		f.Users = append(f.Users, denyFileUser{User: user, Before: u.before.UTC(), Until: u.until.UTC()})
	}
	sort.Slice(f.Tokens, func(i, j int) bool { return f.Tokens[i].JTI < f.Tokens[j].JTI })
	sort.Slice(f.Users, func(i, j int) bool { return f.Users[i].User < f.Users[j].User })
	data, err := jsonIndent(f)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(d.path, data); err != nil {
		return fmt.Errorf("deny list %s: %w", d.path, err)
	}
	return nil
}
