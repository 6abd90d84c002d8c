package bench

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointDown keeps the house standing (README.md, "How it is
// built"): cmd > bench > relay > transport > codec, and every import points
// down (or stays on its floor). Both builds are checked (libav files carry a
// tag).
//
// Two deliberate exceptions, both for tests:
//   - tests on any floor may import bench/camsim, the simulated camera they
//     test against; no production code does.
//   - internal/testenv holds test support that is on no production floor: a
//     real MediaMTX on loopback ports (mtxtest) and a loopback-only WHEP
//     client (whep). It imports nothing of camrelay outside internal/testenv,
//     so tests on every floor may use it without pointing up. Of the
//     production code only the benchmark harness and the soak run (bench/
//     harness, bench/soak and their thin mains cmd/relaybench, cmd/soak) may
//     import it; codec, transport, relay, bench/camsim and the camrelay and
//     camsim binaries must not, directly or through another package.
//
// deploy (the container, compose, Kubernetes and systemd files, and the
// tests that load them strictly) stands on the top floor beside cmd: it
// deploys the binaries.
func TestImportsPointDown(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list packages: %v", err)
	}
	const mod = "github.com/camrelay/camrelay/"
	const fixture = mod + "bench/camsim"
	const testenv = mod + "internal/testenv"
	// Production packages that may use test support: the benchmark harness.
	testenvUsers := map[string]bool{mod + "bench/harness": true, mod + "cmd/relaybench": true,
		mod + "bench/soak": true, mod + "cmd/soak": true}
	isTestenv := func(p string) bool { return p == testenv || strings.HasPrefix(p, testenv+"/") }
	floor := func(p string) int {
		top, _, _ := strings.Cut(strings.TrimPrefix(p, mod), "/")
		return map[string]int{"codec": 1, "transport": 2, "relay": 3, "bench": 4, "cmd": 5, "deploy": 5}[top]
	}
	for _, tags := range []string{"", "libav"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}|{{join .Deps \" \"}}", mod+"...")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v\n%s", tags, err, stderr.String())
		}
		n, support := 0, 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			parts := strings.Split(sc.Text(), "|")
			if len(parts) != 4 {
				t.Fatalf("go list line %q", sc.Text())
			}
			pkg := parts[0]
			name := strings.TrimPrefix(pkg, mod)
			n++
			if isTestenv(pkg) {
				// Test support stands on its own: nothing of camrelay outside
				// internal/testenv, in its code or its tests.
				support++
				for _, d := range strings.Fields(parts[1] + " " + parts[2]) {
					if strings.HasPrefix(d, mod) && !isTestenv(d) {
						t.Errorf("%s (test support) imports %s; internal/testenv must import nothing of camrelay outside itself (tags %q)", name, strings.TrimPrefix(d, mod), tags)
					}
				}
				continue
			}
			if floor(pkg) == 0 {
				t.Errorf("%s is on no floor of the design (codec, transport, relay, bench, cmd and deploy) and is not test support (internal/testenv)", pkg)
			}
			check := func(deps string, test bool) {
				for _, d := range strings.Fields(deps) {
					if !strings.HasPrefix(d, mod) || (test && (d == fixture || isTestenv(d))) {
						continue
					}
					if isTestenv(d) {
						if !testenvUsers[pkg] {
							t.Errorf("%s imports %s, test support that production code must not use (tags %q)", name, strings.TrimPrefix(d, mod), tags)
						}
						continue
					}
					if floor(d) <= floor(pkg) {
						continue
					}
					kind := "imports"
					if test {
						kind = "tests import"
					}
					t.Errorf("%s %s %s, a floor above it (tags %q)", name, kind, strings.TrimPrefix(d, mod), tags)
				}
			}
			check(parts[1], false)
			check(parts[2], true)
			// Not through another package either: the production build of
			// everything but the harness is free of test support.
			if !testenvUsers[pkg] {
				for _, d := range strings.Fields(parts[3]) {
					if isTestenv(d) && !strings.Contains(" "+parts[1]+" ", " "+d+" ") {
						t.Errorf("%s depends on %s (through another package), test support that production code must not use (tags %q)", name, strings.TrimPrefix(d, mod), tags)
					}
				}
			}
		}
		if n < 10 {
			t.Fatalf("go list -tags %q listed %d packages", tags, n)
		}
		if support == 0 {
			t.Fatalf("go list -tags %q listed no internal/testenv package; the layout this test knows has changed", tags)
		}
	}
}
