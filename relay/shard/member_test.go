package shard

import (
	"fmt"
	"math"
	"testing"
)

func TestMemberOwnerMovesOnlyWhatItMust(t *testing.T) {
	ns := names(3000)
	three := []string{"camrelay-0", "camrelay-1", "camrelay-2"}
	four := append(append([]string{}, three...), "camrelay-3")
	count := map[string]int{}
	moved := 0
	for _, n := range ns {
		a, b := MemberOwner(n, three), MemberOwner(n, four)
		count[a]++
		if a != b {
			moved++
			if b != "camrelay-3" {
				t.Fatalf("%s moved from %s to %s, not to the newcomer", n, a, b)
			}
		}
		// Order of the member list does not matter.
		if c := MemberOwner(n, []string{"camrelay-2", "camrelay-0", "camrelay-1"}); c != a {
			t.Fatalf("%s: owner depends on member order: %s vs %s", n, a, c)
		}
	}
	for m, c := range count {
		if math.Abs(float64(c)-1000) > 120 {
			t.Errorf("%s owns %d of 3000 cameras; want about 1000", m, c)
		}
	}
	if frac := float64(moved) / 3000; frac < 0.2 || frac > 0.3 {
		t.Errorf("a fourth member took %.2f of the cameras; want about 0.25", frac)
	}
	if MemberOwner("x", nil) != "" {
		t.Error("no members must give no owner")
	}
	// A member name is not a shard index.
	if fmt.Sprint(MemberWeight("lobby", "1")) == fmt.Sprint(Weight("lobby", 1)) {
		t.Error("member weights collide with shard weights")
	}
}
