package config

import (
	"strings"
	"testing"
	"time"
)

func TestFleetValidation(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "POD" {
			return "camrelay-1", true
		}
		return "", false
	}
	c, err := Parse([]byte("fleet: {etcd: ['http://127.0.0.1:2379'], id: '${POD}'}\n"), env, Caps{})
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Fleet; f.Prefix != "/camrelay" || time.Duration(f.LeaseTTL) != 5*time.Second || f.ID != "camrelay-1" || !f.Enabled() {
		t.Errorf("defaults: %+v", f)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"fleet: {etcd: ['127.0.0.1']}", "fleet.etcd[0]: must name a port"},
		{"fleet: {etcd: ['ftp://x:1']}", "fleet.etcd[0]: must be host:port or an http(s) URL"},
		{"fleet: {prefix: /x}", "fleet.etcd: must list at least one etcd endpoint"},
		{"fleet: {etcd: ['127.0.0.1:2379'], prefix: x/}", "fleet.prefix: must start with a slash"},
		{"fleet: {etcd: ['127.0.0.1:2379'], lease_ttl: 1s}", "fleet.lease_ttl: must be from 2s to 1m0s, not 1s"},
		{"fleet: {etcd: ['127.0.0.1:2379'], lease_ttl: 2500ms}", "fleet.lease_ttl: must be whole seconds"},
		{"fleet: {etcd: ['127.0.0.1:2379'], tls: {cert: a.pem}}", "fleet.tls: cert and key go together"},
		{"fleet: {etcd: ['127.0.0.1:2379'], user: root}", "fleet.user: user and pass go together"},
		{"fleet: {etcd: ['127.0.0.1:2379'], id: 'a/b'}", "fleet.id: must be a name without slashes"},
		{"fleet: {etcd: ['127.0.0.1:2379'], api_url: 'x'}", "fleet.api_url: must be an http(s) URL"},
		{"fleet: {etcd: ['127.0.0.1:2379']}\nshard: {index: 0, count: 2}", "shard.count: static shards and fleet: do not mix"},
		{"fleet: {etcd: ['127.0.0.1:2379'], ttl: 5s}", "field ttl not found in fleet"},
	} {
		_, err := Parse([]byte(tc.yaml+"\n"), env, Caps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.yaml, err, tc.want)
		}
	}
}
