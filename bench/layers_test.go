package bench

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointDown keeps the house of ../shared/DESIGN.md standing:
// cmd > bench > relay > transport > codec, and every import points down (or
// stays on its floor). One deliberate exception: tests on any floor may
// import bench/camsim, the simulated camera they test against; no
// production code does. Both builds are checked (libav files carry a tag).
func TestImportsPointDown(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list packages: %v", err)
	}
	const mod = "github.com/camrelay/camrelay/"
	const fixture = mod + "bench/camsim"
	floor := func(p string) int {
		top, _, _ := strings.Cut(strings.TrimPrefix(p, mod), "/")
		return map[string]int{"codec": 1, "transport": 2, "relay": 3, "bench": 4, "cmd": 5}[top]
	}
	for _, tags := range []string{"", "libav"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", mod+"...")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v\n%s", tags, err, stderr.String())
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			parts := strings.Split(sc.Text(), "|")
			if len(parts) != 3 {
				t.Fatalf("go list line %q", sc.Text())
			}
			pkg := parts[0]
			if floor(pkg) == 0 {
				t.Errorf("%s is on no floor of the design (codec, transport, relay, bench, cmd)", pkg)
			}
			n++
			check := func(deps string, test bool) {
				for _, d := range strings.Fields(deps) {
					if !strings.HasPrefix(d, mod) || floor(d) <= floor(pkg) || (test && d == fixture) {
						continue
					}
					kind := "imports"
					if test {
						kind = "tests import"
					}
					t.Errorf("%s %s %s, a floor above it (tags %q)", strings.TrimPrefix(pkg, mod), kind, strings.TrimPrefix(d, mod), tags)
				}
			}
			check(parts[1], false)
			check(parts[2], true)
		}
		if n < 10 {
			t.Fatalf("go list -tags %q listed %d packages", tags, n)
		}
	}
}
