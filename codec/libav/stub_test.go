//go:build !libav

package libav

import (
	"errors"
	"strings"
	"testing"

	"github.com/camrelay/camrelay/codec"
)

func TestStubSaysHowToBuild(t *testing.T) {
	if Available {
		t.Fatal("Available without the libav tag")
	}
	if _, err := New(codec.TranscodeConfig{}, nil, nil); !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "-tags libav") {
		t.Errorf("New: %v", err)
	}
	if _, err := NewDecoder("H264"); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("NewDecoder: %v", err)
	}
}
