package api

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Changing or removing an API user's password takes effect at the next
// request, not when a cache entry ages out; a throttled client gets 429
// with Retry-After.
func TestAPILoginCacheFollowsUsers(t *testing.T) {
	ts, cfgPath := newServerAt(t, "")
	if code, _, body := get(t, ts.URL+"/v1/cameras", "admin", "pw", ""); code != 200 {
		t.Fatalf("good login: %d %s", code, body)
	}
	b, _ := os.ReadFile(cfgPath)
	// Another user replaces admin: admin's cached login must stop working.
	os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "{user: admin,", "{user: operator,", 1)), 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ := get(t, ts.URL+"/v1/cameras", "admin", "pw", "")
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a removed API user still gets in (%d) 10 s after the reload", code)
		}
		time.Sleep(50 * time.Millisecond) // polling for the reload, with a deadline
	}
	var hdr http.Header
	code := 0
	for range 30 {
		if code, hdr, _ = get(t, ts.URL+"/v1/cameras", "admin", "bad", ""); code == http.StatusTooManyRequests {
			break
		}
	}
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("30 bad logins from one client: last answer %d, Retry-After %q; want 429 with Retry-After", code, hdr.Get("Retry-After"))
	}
}
