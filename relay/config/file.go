package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/camrelay/camrelay/relay/internal/atomicfile"
	"github.com/camrelay/camrelay/transport"
)

// ErrNoCamera and ErrDuplicate are returned by a CameraEditor's edits.
var (
	ErrNoCamera  = errors.New("no camera with that name")
	ErrDuplicate = errors.New("a camera with that name already exists")
)

// EditCameras changes the cameras of the configuration file at path and
// writes it back atomically (temporary file, fsync, rename). The edit works
// on the YAML tree, so the comments, layout and ${VAR} placeholders of every
// other entry stay as the operator wrote them. The result must load and
// validate (with lookup for ${VAR}, against caps) before anything is written; the loaded
// result is returned.
func EditCameras(path string, lookup func(string) (string, bool), caps Caps, edit func(e *CameraEditor) error) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, yamlError(err)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("the configuration is not a YAML mapping")
	}
	e := &CameraEditor{list: camerasNode(root)}
	if err := edit(e); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	enc.Close()
	cfg, err := Parse(buf.Bytes(), lookup, caps)
	if err != nil {
		return nil, err
	}
	mode := atomicfile.ModeOf(path, 0o600)
	if holdsCredential(buf.Bytes()) {
		mode &= 0o600 // a password in clear is for the owner's eyes only
	}
	if err := atomicfile.Write(path, buf.Bytes(), mode); err != nil {
		return nil, fmt.Errorf("saving %s: %w", path, err)
	}
	return cfg, nil
}

// holdsCredential reports whether a configuration, as written (${VAR}
// placeholders not expanded), holds a credential in clear: a password, a
// user name standing alone or a secret query value in a camera's source or
// output, as API edits write them.
func holdsCredential(raw []byte) bool {
	var c struct {
		Output  string   `yaml:"output"`
		Outputs []string `yaml:"outputs"`
		Cameras []struct {
			Source  string   `yaml:"source"`
			Output  string   `yaml:"output"`
			Outputs []string `yaml:"outputs"`
		} `yaml:"cameras"`
	}
	if yaml.Unmarshal(raw, &c) != nil {
		return true // cannot tell: assume the worst
	}
	urls := append([]string{c.Output}, c.Outputs...)
	for _, cam := range c.Cameras {
		urls = append(urls, cam.Source, cam.Output)
		urls = append(urls, cam.Outputs...)
	}
	for _, u := range urls {
		for _, secret := range transport.Secrets(u) {
			if !strings.Contains(secret, "${") && !strings.Contains(secret, "$%7B") && !strings.Contains(secret, "%24%7B") {
				return true
			}
		}
	}
	return false
}

// camerasNode finds (or appends) the cameras: sequence of the root mapping.
func camerasNode(root *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "cameras" {
			v := root.Content[i+1]
			if v.Kind != yaml.SequenceNode { // "cameras:" with nothing, or null
				*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			}
			return v
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "cameras"}
	v := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	root.Content = append(root.Content, k, v)
	return v
}

// CameraEditor edits the cameras: list of a configuration's YAML tree.
type CameraEditor struct {
	list *yaml.Node
}

func (e *CameraEditor) find(name string) int {
	for i, item := range e.list.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "name" && item.Content[j+1].Value == name {
				return i
			}
		}
	}
	return -1
}

func cameraNode(c Camera) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, err
	}
	n.Style = 0
	return &n, nil
}

// Add appends a camera.
func (e *CameraEditor) Add(c Camera) error {
	if e.find(c.Name) >= 0 {
		return ErrDuplicate
	}
	n, err := cameraNode(c)
	if err != nil {
		return err
	}
	e.list.Content = append(e.list.Content, n)
	return nil
}

// Replace swaps the entry named name for c, keeping its comments.
func (e *CameraEditor) Replace(name string, c Camera) error {
	i := e.find(name)
	if i < 0 {
		return ErrNoCamera
	}
	n, err := cameraNode(c)
	if err != nil {
		return err
	}
	old := e.list.Content[i]
	n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
	e.list.Content[i] = n
	return nil
}

// Remove deletes the entry named name.
func (e *CameraEditor) Remove(name string) error {
	i := e.find(name)
	if i < 0 {
		return ErrNoCamera
	}
	e.list.Content = append(e.list.Content[:i], e.list.Content[i+1:]...)
	return nil
}

// WriteFileAtomic replaces path with data atomically; the file keeps its
// mode (a new one gets 0600).
func WriteFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, atomicfile.ModeOf(path, 0o600))
}
