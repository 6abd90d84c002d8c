package config

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// MaxOutputs bounds outputs: each output is one more reader of the
// camera's ring, one more connection and one more copy of its bitrate
// upstream.
const MaxOutputs = 4

// A camera publishes to one output (output:) or to several at once
// (outputs:), at the top level (templates with {path} or {name}) or per
// camera; output and outputs are mutually exclusive at the same level, and
// a camera's own setting replaces the template(s) as a whole. After
// Resolved, Camera.Outputs lists every output of the camera (expanded) and
// Camera.Output is the first of them: what single-output code (the
// MediaMTX that mediamtx.api provisions, mediamtx-config, status' sink)
// calls the camera's output.

// OutputList is the camera's outputs as written: outputs, or output alone.
func (c Camera) OutputList() []string {
	if len(c.Outputs) > 0 {
		return c.Outputs
	}
	if c.Output != "" {
		return []string{c.Output}
	}
	return nil
}

// Equal reports whether two cameras have the same settings (Camera holds
// a slice, so == does not compile).
func (c Camera) Equal(o Camera) bool {
	if !slices.Equal(c.Outputs, o.Outputs) {
		return false
	}
	c.Outputs, o.Outputs = nil, nil
	return reflect.DeepEqual(c, o)
}

// templateOutputs are the top-level output templates.
func (c *Config) templateOutputs() []string {
	if len(c.Outputs) > 0 {
		return c.Outputs
	}
	if c.Output != "" {
		return []string{c.Output}
	}
	return nil
}

// resolveOutputs fills cam.Outputs (expanded, a new slice) and cam.Output
// (the first).
func (c *Config) resolveOutputs(cam *Camera) {
	list := cam.OutputList()
	if len(list) == 0 {
		list = c.templateOutputs()
	}
	if len(list) == 0 {
		cam.Output, cam.Outputs = "", nil
		return
	}
	r := strings.NewReplacer("{path}", cam.Path, "{name}", cam.Name)
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = r.Replace(o)
	}
	cam.Outputs, cam.Output = out, out[0]
}

// checkTemplateOutputs validates the top-level output or outputs.
func (c *Config) checkTemplateOutputs() []error {
	if c.Output != "" && len(c.Outputs) > 0 {
		return []error{fmt.Errorf("output and outputs: set one of them, not both (outputs lists every output)")}
	}
	if c.Output != "" {
		if err := checkOutput(c.Output, true); err != nil {
			return []error{fmt.Errorf("output: %w", err)}
		}
		return nil
	}
	return checkOutputList("outputs", c.Outputs, true)
}

// checkCameraOutputs validates a camera's output or outputs (mode is its
// mode, implied when it sets none). Each error starts with the field.
func (c *Config) checkCameraOutputs(cam Camera, mode string) []error {
	field := "output"
	if len(cam.Outputs) > 0 {
		field = "outputs"
	}
	has := cam.Output != "" || len(cam.Outputs) > 0
	switch {
	case cam.Outputs != nil && len(cam.Outputs) == 0:
		return []error{fmt.Errorf("outputs: is empty; list at least one output, or leave it out")}
	case cam.Output != "" && len(cam.Outputs) > 0:
		return []error{fmt.Errorf("output and outputs: set one of them, not both (outputs lists every output)")}
	case mode == ModeDirect:
		if has {
			return []error{fmt.Errorf("%s: a direct camera is pulled by MediaMTX itself; it has no output", field)}
		}
	case cam.OnDemand:
		// MediaMTX pulls it from camrelay's RTSP server: no output URL.
		if has {
			return []error{fmt.Errorf("%s: an on-demand camera is served to MediaMTX from camrelay's RTSP server (serve:); it has no output", field)}
		}
	case cam.Output != "":
		if err := checkOutput(cam.Output, false); err != nil {
			return []error{fmt.Errorf("output: %w", err)}
		}
	case len(cam.Outputs) > 0:
		return checkOutputList("outputs", cam.Outputs, false)
	case len(c.templateOutputs()) == 0:
		return []error{fmt.Errorf("output: not set, and there is no top-level output template")}
	}
	return nil
}

// checkOutputList validates each URL of a list, naming it field[i].
func checkOutputList(field string, list []string, template bool) []error {
	var errs []error
	if len(list) > MaxOutputs {
		errs = append(errs, fmt.Errorf("%s: %d outputs, at most %d", field, len(list), MaxOutputs))
	}
	seen := map[string]int{}
	for i, o := range list {
		if err := checkOutput(o, template); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			continue
		}
		key := o
		if u, err := url.Parse(o); err == nil {
			u.User = nil // the same server and path with other credentials is still the same path
			key = u.String()
		}
		if j, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s[%d]: publishes to the same server and path as %s[%d]", field, i, field, j))
		}
		seen[key] = i
	}
	return errs
}
