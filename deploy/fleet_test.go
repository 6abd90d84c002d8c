package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKubernetesFleetManifests loads deploy/kubernetes/fleet as
// TestKubernetesManifests loads the base: every file the kustomization
// names, decoded strictly; camrelay.yml parsed by camrelay; the fleet's
// etcd endpoints are the etcd StatefulSet's members.
func TestKubernetesFleetManifests(t *testing.T) {
	dir := filepath.Join(k8sDir, "fleet")
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("fleet/kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not listed in fleet/kustomization.yaml's resources", f)
		}
	}
	var m manifests
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatalf("fleet/kustomization.yaml names %s: %v", r, err)
		}
		if err := m.decode(r, b); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.statefulSets) != 2 || len(m.configMaps) != 1 || len(m.secrets) != 1 {
		t.Fatalf("want the etcd and camrelay StatefulSets, a ConfigMap and a Secret; got %d, %d, %d", len(m.statefulSets), len(m.configMaps), len(m.secrets))
	}
	var etcdReplicas int32
	var camrelayEnv []string
	for _, s := range m.statefulSets {
		for k, v := range s.Spec.Selector.MatchLabels {
			if s.Spec.Template.Labels[k] != v {
				t.Errorf("StatefulSet %s: selector %s=%s does not match its pods", s.Name, k, v)
			}
		}
		switch s.Name {
		case "etcd":
			etcdReplicas = *s.Spec.Replicas
		case "camrelay":
			for _, e := range s.Spec.Template.Spec.Containers[0].Env {
				camrelayEnv = append(camrelayEnv, e.Name)
			}
		}
	}
	if etcdReplicas != 3 {
		t.Errorf("etcd replicas %d, want 3", etcdReplicas)
	}
	if !slices.Contains(camrelayEnv, "POD_NAME") {
		t.Error("the camrelay pods lack POD_NAME, which fleet.id uses")
	}
	env := map[string]string{"POD_NAME": "camrelay-0"}
	for k, v := range m.secrets[0].StringData {
		env[k] = v
	}
	cfg := checkCamrelayConfig(t, "fleet camrelay.yml", []byte(m.configMaps[0].Data["camrelay.yml"]), env)
	if cfg == nil {
		return
	}
	if !cfg.Fleet.Enabled() || cfg.Fleet.ID != "camrelay-0" || len(cfg.Fleet.Etcd) != int(etcdReplicas) {
		t.Errorf("fleet section: %+v", cfg.Fleet)
	}
	for i, ep := range cfg.Fleet.Etcd {
		if !strings.Contains(ep, "etcd-"+string(rune('0'+i))+".etcd:2379") {
			t.Errorf("fleet.etcd[%d] = %s is not the etcd StatefulSet's member %d", i, ep, i)
		}
	}
}
