// Package netns runs a test inside a loopback-only network namespace: the
// one place for tests whose peers join multicast groups on every
// interface (MediaMTX's WebRTC server and Chromium join mDNS, and neither
// can be told not to). In the namespace there is nothing but lo, so no
// traffic leaves the machine.
package netns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// env marks the test binary re-executed inside the namespace.
const env = "CAMRELAY_TEST_IN_NETNS"

// InLoopback runs the calling test again in a new network namespace that
// has only a loopback interface (unshare --net, then ip link set lo up),
// giving it timeout, and reports false: the caller returns. Inside, it
// checks that lo is the only interface and reports true. It skips the test
// when the namespace cannot be made (not root, no unshare), saying why.
func InLoopback(t *testing.T, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(env) == "1" {
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range ifs {
			if i.Name != "lo" {
				t.Fatalf("interface %s in the namespace: not loopback-only", i.Name)
			}
		}
		return true
	}
	const why = "needs a loopback-only network namespace (its WebRTC peers join mDNS multicast on every interface)"
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skipf("%s, and unshare (util-linux) is not installed", why)
	}
	if out, err := exec.Command("unshare", "--net", "sh", "-c", "ip link set lo up").CombinedOutput(); err != nil {
		t.Skipf("%s; unshare --net failed (root or CAP_SYS_ADMIN needed): %v: %s", why, err, strings.TrimSpace(string(out)))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
		exe, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("run in a loopback-only network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("in the namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("skipped in the namespace")
	}
	return false
}
