package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The environment variables that override shard.index and shard.count. On
// Kubernetes they come from the StatefulSet pod's ordinal (the
// apps.kubernetes.io/pod-index label) and the replica count.
const (
	EnvShard  = "CAMRELAY_SHARD"
	EnvShards = "CAMRELAY_SHARDS"
)

// shardFromEnv applies CAMRELAY_SHARD and CAMRELAY_SHARDS over the file.
// Whether the result is in range is Validate's to say, naming the field.
func (c *Config) shardFromEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, e := range []struct {
		name string
		to   *int
	}{{EnvShard, &c.Shard.Index}, {EnvShards, &c.Shard.Count}} {
		v, ok := lookup(e.name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case strings.TrimSpace(v) == "":
			// A pod-index label that is missing gives an empty value:
			// relaying as shard 0 would silently leave cameras unrelayed.
			errs = append(errs, fmt.Errorf("%s: is set but empty; want a whole number", e.name))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: must be a whole number, not %q", e.name, v))
		default:
			*e.to = n
		}
	}
	return errors.Join(errs...)
}

// ShardSpec is INDEX/COUNT as the --shard flag gives it.
type ShardSpec struct{ Index, Count int }

// ParseShardSpec parses INDEX/COUNT, e.g. 1/3: shard 1 of 0, 1 and 2.
func ParseShardSpec(s string) (ShardSpec, error) {
	i, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return ShardSpec{}, fmt.Errorf("want INDEX/COUNT such as 1/3, not %q", s)
	}
	if count < 1 || count > MaxShards || index < 0 || index >= count {
		return ShardSpec{}, fmt.Errorf("%q: want COUNT from 1 to %d and INDEX from 0 to COUNT-1", s, MaxShards)
	}
	return ShardSpec{Index: index, Count: count}, nil
}

func (s ShardSpec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Lookup is lookup with CAMRELAY_SHARD and CAMRELAY_SHARDS answered by s:
// how --shard takes precedence over the environment and the file in every
// load of the configuration (start, reload, API edits).
func (s ShardSpec) Lookup(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(k string) (string, bool) {
		switch k {
		case EnvShard:
			return strconv.Itoa(s.Index), true
		case EnvShards:
			return strconv.Itoa(s.Count), true
		}
		return lookup(k)
	}
}
