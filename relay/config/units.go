package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Bitrate is bits per second, written as 2000000, 2000k or 2M.
type Bitrate int

func parseBitrate(v string) (Bitrate, error) {
	v = strings.TrimSpace(v)
	mult := 1
	switch {
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		mult, v = 1000*1000, v[:len(v)-1]
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mult, v = 1000, v[:len(v)-1]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a bitrate (write e.g. 2M, 1500k or 2000000)", v)
	}
	return Bitrate(f * float64(mult)), nil
}

// UnmarshalYAML reads 2M, 1500k or a number.
func (b *Bitrate) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseBitrate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// UnmarshalJSON reads "2M", "1500k" or a number.
func (b *Bitrate) UnmarshalJSON(d []byte) error {
	v, err := parseBitrate(strings.Trim(string(d), `"`))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Duration is a time.Duration written as "5s", "1m30s".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 5s or 1m30s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalText reads a Go duration string (JSON bodies of the API).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 5s or 1m30s)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Size is a byte count written as 262144, 256KiB or 1MiB.
type Size int

// UnmarshalYAML reads a size with an optional KiB/MiB suffix.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	mult := 1
	for suf, m := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20, "KB": 1000, "MB": 1000 * 1000} {
		if strings.HasSuffix(v, suf) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, suf)), m
			break
		}
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return fmt.Errorf("line %d: %q is not a size (write e.g. 256KiB or 1MiB)", n.Line, n.Value)
	}
	*s = Size(i * mult)
	return nil
}
