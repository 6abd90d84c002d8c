package mediamtx

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ptr[T any](v T) *T { return &v }

func TestPathConfigLifecycle(t *testing.T) {
	// Only admin may use the API: anonymous and wrong passwords get 401.
	srv := mtxtest.Start(t, mtxtest.Config{API: true, Users: []mtxtest.User{
		{User: "any", Permissions: []mtxtest.Permission{{Action: "read"}}},
		{User: "admin", Pass: "adminpass", Permissions: []mtxtest.Permission{{Action: "api"}}},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &Client{BaseURL: srv.APIURL(), User: "admin", Pass: "adminpass"}

	name := "site1/gate"
	if err := c.AddPath(ctx, name, PathConf{Source: "rtsp://127.0.0.1:1/x", SourceOnDemand: ptr(true), RTSPTransport: "tcp"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ConfigPath(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got["source"] != "rtsp://127.0.0.1:1/x" || got["sourceOnDemand"] != true || got["rtspTransport"] != "tcp" {
		t.Fatalf("path conf %v", got)
	}
	if err := c.AddPath(ctx, name, PathConf{Source: "rtsp://127.0.0.1:1/y"}); err == nil {
		t.Fatal("adding an existing path succeeded")
	}
	if err := c.PatchPath(ctx, name, PathConf{RTSPTransport: "udp"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ConfigPath(ctx, name); got["rtspTransport"] != "udp" || got["source"] != "rtsp://127.0.0.1:1/x" {
		t.Fatalf("after patch %v", got)
	}
	if err := c.ReplacePath(ctx, name, PathConf{Source: "rtsp://127.0.0.1:1/z", Extra: map[string]any{"maxReaders": 3}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ConfigPath(ctx, name); got["source"] != "rtsp://127.0.0.1:1/z" || got["sourceOnDemand"] != false || got["maxReaders"] != float64(3) {
		t.Fatalf("after replace %v", got)
	}
	list, err := c.ConfigPaths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range list {
		found = found || p["name"] == name
	}
	if !found {
		t.Fatalf("%s not listed in %d paths", name, len(list))
	}
	if err := c.DeletePath(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfigPath(ctx, name); !IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := c.Paths(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RTSPSessions(ctx); err != nil {
		t.Fatal(err)
	}

	anon := &Client{BaseURL: srv.APIURL(), User: "admin", Pass: "wrong"}
	err = anon.AddPath(ctx, "x", PathConf{Source: "publisher"})
	var e *Error
	if err == nil || !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("wrong password: %v", err)
	}
}
