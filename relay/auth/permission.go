package auth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"
)

// Actions MediaMTX asks about, and the only ones camrelay grants. MediaMTX
// also knows "pprof"; camrelay never grants it, so a token or a callback
// request naming it is refused.
const (
	ActionPublish  = "publish"
	ActionRead     = "read"
	ActionPlayback = "playback"
	ActionAPI      = "api"
	ActionMetrics  = "metrics"
)

// knownAction reports whether camrelay grants a. pathAction reports whether a
// is checked against a path: MediaMTX ignores the path of the others.
func knownAction(a string) bool {
	switch a {
	case ActionPublish, ActionRead, ActionPlayback, ActionAPI, ActionMetrics:
		return true
	}
	return false
}

func pathAction(a string) bool {
	return a == ActionPublish || a == ActionRead || a == ActionPlayback
}

// Permission allows one action on a path, as a MediaMTX permission does.
// Path is an exact path name, a regular expression after "~" (matched
// unanchored, as MediaMTX matches it: "~^cam" for a prefix), or empty for any
// path. api and metrics have no path.
type Permission struct {
	Action string `json:"action"`
	Path   string `json:"path"`
}

func (p Permission) String() string {
	if p.Path == "" {
		return p.Action + " (any path)"
	}
	return p.Action + " " + p.Path
}

// maxPathLen bounds a permission path (names and expressions alike); MediaMTX
// path names are far shorter in practice.
const maxPathLen = 512

// Validate checks the action, and that the path is usable: no control
// characters, a regular expression that compiles, no path for api and
// metrics.
func (p Permission) Validate() error {
	if !knownAction(p.Action) {
		return fmt.Errorf("unknown action %q (want publish, read, playback, api or metrics)", p.Action)
	}
	if !pathAction(p.Action) {
		if p.Path != "" {
			return fmt.Errorf("%s: takes no path", p.Action)
		}
		return nil
	}
	if len(p.Path) > maxPathLen {
		return fmt.Errorf("%s: path longer than %d bytes", p.Action, maxPathLen)
	}
	if strings.IndexFunc(p.Path, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s: path has control characters", p.Action)
	}
	if re, ok := strings.CutPrefix(p.Path, "~"); ok {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("%s: path %q: %v", p.Action, p.Path, err)
		}
	}
	return nil
}

// Allows reports whether p allows action on path, with MediaMTX v1.15.3's
// rules (internal/auth/manager.go matchesPermission): same action; for
// publish, read and playback an empty path matches all, "~re" matches when
// the expression matches anywhere in the path, otherwise the path must be
// equal; api and metrics ignore the path.
func (p Permission) Allows(action, path string) bool {
	if p.Action != action || !knownAction(action) {
		return false
	}
	if !pathAction(action) {
		return true
	}
	switch {
	case p.Path == "":
		return true
	case strings.HasPrefix(p.Path, "~"):
		re := cachedRegexp(p.Path[1:])
		return re != nil && re.MatchString(path)
	default:
		return p.Path == path
	}
}

// covers reports whether everything q allows, p allows too. Whether one
// regular expression includes another is not decidable in general, so a
// requested "~re" is covered only by the same expression or by "any path".
func (p Permission) covers(q Permission) bool {
	if p.Action != q.Action {
		return false
	}
	if !pathAction(p.Action) || p.Path == "" {
		return true
	}
	if q.Path == "" {
		return false
	}
	if strings.HasPrefix(q.Path, "~") {
		return p.Path == q.Path
	}
	return p.Allows(q.Action, q.Path)
}

// Permissions is what a user or a token may do.
type Permissions []Permission

// Allows reports whether any permission allows action on path.
func (ps Permissions) Allows(action, path string) bool {
	for _, p := range ps {
		if p.Allows(action, path) {
			return true
		}
	}
	return false
}

// Validate checks every permission.
func (ps Permissions) Validate() error {
	var errs []error
	for i, p := range ps {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("permissions[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Covers checks that every permission of req is within ps: a caller may ask
// for fewer rights than it has, never more. The error names the first
// permission that is not.
func (ps Permissions) Covers(req Permissions) error {
	for _, q := range req {
		ok := false
		for _, p := range ps {
			if p.covers(q) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("not granted: %s", q)
		}
	}
	return nil
}

// The regular expressions of permissions are compiled once: the MediaMTX
// callback checks them on every request. The cache is bounded because the
// expressions come from tokens too (signed by us, but many); when full it
// starts over.
const regexCacheMax = 1024

var regexCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp // nil value: does not compile
}

func cachedRegexp(expr string) *regexp.Regexp {
	regexCache.Lock()
	defer regexCache.Unlock()
	if re, ok := regexCache.m[expr]; ok {
		return re
	}
	if regexCache.m == nil || len(regexCache.m) >= regexCacheMax {
		regexCache.m = make(map[string]*regexp.Regexp)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		re = nil
	}
	regexCache.m[expr] = re
	return re
}
