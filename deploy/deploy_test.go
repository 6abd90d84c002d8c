// Package deploy holds the deployment files (Kubernetes manifests, the
// compose file, the systemd unit, the image's default configuration). Its
// tests load them with strict loaders: every Kubernetes manifest decoded
// into the k8s.io/api types with unknown fields refused, the compose file
// through compose-spec's own loader, and every camrelay.yml through
// camrelay's configuration parser, so that a typo fails `make test`.
// There is no Kubernetes cluster here: what is proven is that the
// manifests are well-formed and consistent, not that a cluster runs them.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
)

const k8sDir = "kubernetes"

// kustomization is the part of kustomize's Kustomization these manifests
// use; anything else in the file is refused, like a typo.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// manifests holds the decoded objects by kind.
type manifests struct {
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	secrets      []*corev1.Secret
	pdbs         []*policyv1.PodDisruptionBudget
}

// splitDocs splits a YAML stream into documents, dropping empty ones.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decode decodes every document of b strictly into its k8s.io/api type.
func (m *manifests) decode(name string, b []byte) error {
	for i, doc := range splitDocs(b) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("%s: document %d: %v", name, i, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			m.statefulSets, obj = append(m.statefulSets, o), o
		case "v1 Service":
			o := &corev1.Service{}
			m.services, obj = append(m.services, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			m.configMaps, obj = append(m.configMaps, o), o
		case "v1 Secret":
			o := &corev1.Secret{}
			m.secrets, obj = append(m.secrets, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			m.pdbs, obj = append(m.pdbs, o), o
		default:
			return fmt.Errorf("%s: document %d: unexpected %q %q", name, i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("%s: document %d (%s): %v", name, i, tm.Kind, err)
		}
	}
	return nil
}

func readKustomization(t *testing.T) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: apiVersion/kind %q %q", k.APIVersion, k.Kind)
	}
	return k
}

// TestKubernetesManifests decodes every manifest the kustomization names,
// strictly, and checks what the deployment relies on.
func TestKubernetesManifests(t *testing.T) {
	k := readKustomization(t)
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not listed in kustomization.yaml's resources", f)
		}
	}
	var m manifests
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(k8sDir, r))
		if err != nil {
			t.Fatalf("kustomization.yaml names %s: %v", r, err)
		}
		if err := m.decode(r, b); err != nil {
			t.Fatal(err)
		}
	}
	checkManifests(t, &m)
}

// TestKustomizeRenders renders the kustomization with kubectl when it is
// installed and decodes the result strictly again.
func TestKustomizeRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed (Debian: kubernetes-client); TestKubernetesManifests decoded the files the kustomization names")
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", k8sDir)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", k8sDir, err, stderr.String())
	}
	var m manifests
	if err := m.decode("kubectl kustomize output", out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if n := len(m.statefulSets) + len(m.services) + len(m.configMaps) + len(m.secrets) + len(m.pdbs); n != len(readKustomization(t).Resources) {
		t.Errorf("rendered %d objects, want one per resource file", n)
	}
	checkManifests(t, &m)
	for _, s := range m.statefulSets {
		for _, c := range s.Spec.Template.Spec.Containers {
			if c.Name == "camrelay" && c.Image != "camrelay:latest" {
				t.Errorf("rendered camrelay image %q, want the kustomization's camrelay:latest", c.Image)
			}
		}
	}
}

func checkManifests(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.statefulSets) != 1 || len(m.configMaps) != 1 || len(m.secrets) != 1 || len(m.pdbs) != 1 || len(m.services) < 3 {
		t.Fatalf("want 1 StatefulSet, ConfigMap, Secret, PodDisruptionBudget and 3 Services; got %d, %d, %d, %d, %d",
			len(m.statefulSets), len(m.configMaps), len(m.secrets), len(m.pdbs), len(m.services))
	}
	sts, cm, secret, pdb := m.statefulSets[0], m.configMaps[0], m.secrets[0], m.pdbs[0]
	pod := sts.Spec.Template

	// Selectors meet the pods.
	for k, v := range sts.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("StatefulSet selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selector %s=%s does not match the pods", k, v)
		}
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}

	// Services: a headless one named by serviceName; ports exist on a container.
	containerPorts := map[string]corev1.Protocol{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			containerPorts[p.Name] = p.Protocol
		}
	}
	headless := false
	for _, s := range m.services {
		if s.Name == sts.Spec.ServiceName && s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless = true
		}
		for k, v := range s.Spec.Selector {
			if pod.Labels[k] != v {
				t.Errorf("Service %s selector %s=%s does not match the pods", s.Name, k, v)
			}
		}
		for _, p := range s.Spec.Ports {
			proto, ok := containerPorts[p.TargetPort.String()]
			if p.TargetPort.Type != intstr.String || !ok {
				t.Errorf("Service %s port %s: targetPort %q is not a named container port", s.Name, p.Name, p.TargetPort.String())
			} else if proto != p.Protocol {
				t.Errorf("Service %s port %s: protocol %s, container port says %s", s.Name, p.Name, p.Protocol, proto)
			}
		}
	}
	if !headless {
		t.Errorf("no headless Service named %q (the StatefulSet's serviceName)", sts.Spec.ServiceName)
	}

	// Pod security.
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod securityContext: want runAsNonRoot and a non-zero runAsUser")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext: want seccompProfile RuntimeDefault")
	}

	names := map[string]*corev1.Container{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		names[c.Name] = c
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s: want liveness and readiness probes", c.Name)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("container %s: no %s request", c.Name, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("container %s: no %s limit", c.Name, r)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("container %s: no securityContext", c.Name)
		default:
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("container %s: want allowPrivilegeEscalation false", c.Name)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("container %s: want readOnlyRootFilesystem", c.Name)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("container %s: want capabilities drop ALL", c.Name)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				t.Errorf("container %s: runs as root", c.Name)
			}
		}
		for _, vm := range c.VolumeMounts {
			if !hasVolume(sts, vm.Name) {
				t.Errorf("container %s mounts %q, which is neither a volume nor a volume claim template", c.Name, vm.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && ef.SecretRef.Name != secret.Name {
				t.Errorf("container %s: envFrom Secret %q, the Secret is %q", c.Name, ef.SecretRef.Name, secret.Name)
			}
		}
	}
	relay, mtx := names["camrelay"], names["mediamtx"]
	if relay == nil || mtx == nil {
		t.Fatalf("want containers camrelay and mediamtx, have %v", slices.Sorted(maps.Keys(names)))
	}
	if p := relay.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Error("camrelay: want the liveness probe on GET /healthz")
	}
	if p := relay.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Error("camrelay: want the readiness probe on GET /readyz")
	}

	// Sharding: the pod's ordinal and the replica count reach camrelay.
	env := map[string]corev1.EnvVar{}
	for _, e := range relay.Env {
		env[e.Name] = e
	}
	if e := env["CAMRELAY_SHARD"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("camrelay: CAMRELAY_SHARD must come from the label apps.kubernetes.io/pod-index, is %+v", e)
	}
	if sts.Spec.Replicas == nil {
		t.Error("StatefulSet: replicas not set")
	} else if got := env["CAMRELAY_SHARDS"].Value; got != strconv.Itoa(int(*sts.Spec.Replicas)) {
		t.Errorf("camrelay: CAMRELAY_SHARDS=%q, the StatefulSet has %d replicas", got, *sts.Spec.Replicas)
	}

	// The configuration: both files present, and camrelay.yml valid by
	// camrelay's own strict parser with the Secret's keys as environment.
	for _, key := range []string{"camrelay.yml", "mediamtx.yml"} {
		if cm.Data[key] == "" {
			t.Errorf("ConfigMap %s: no %s", cm.Name, key)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		if v.ConfigMap.Name != cm.Name {
			t.Errorf("volume %s: ConfigMap %q, the ConfigMap is %q", v.Name, v.ConfigMap.Name, cm.Name)
		}
		for _, it := range v.ConfigMap.Items {
			if _, ok := cm.Data[it.Key]; !ok {
				t.Errorf("volume %s: ConfigMap has no key %q", v.Name, it.Key)
			}
		}
	}
	secretEnv := map[string]string{}
	for k := range secret.StringData {
		secretEnv[k] = "secret-" + k
	}
	for k := range secret.Data {
		secretEnv[k] = "secret-" + k
	}
	for k := range secretEnv {
		if strings.HasSuffix(k, "_HASH") {
			secretEnv[k] = testHash(t)
		}
	}
	checkCamrelayConfig(t, "ConfigMap camrelay.yml", []byte(cm.Data["camrelay.yml"]), secretEnv)
	if !strings.Contains(cm.Data["mediamtx.yml"], "authMethod: jwt") {
		t.Error("mediamtx.yml: want authMethod: jwt (camrelay's tokens)")
	}
}

func hasVolume(sts *appsv1.StatefulSet, name string) bool {
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	for _, c := range sts.Spec.VolumeClaimTemplates {
		if c.Name == name {
			return true
		}
	}
	return false
}

var hash string

// testHash is an argon2 hash for configurations that need one.
func testHash(t *testing.T) string {
	t.Helper()
	if hash == "" {
		h, err := auth.HashArgon2id("a test password")
		if err != nil {
			t.Fatal(err)
		}
		hash = string(h)
	}
	return hash
}

// checkCamrelayConfig parses a camrelay.yml as `camrelay check` does,
// strictly, with env as the only environment.
func checkCamrelayConfig(t *testing.T, name string, b []byte, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Caps{})
	if err != nil {
		t.Errorf("%s: camrelay refuses it: %v", name, err)
		return nil
	}
	if cfg.StateFile == "" || !strings.HasPrefix(cfg.StateFile, "/var/lib/camrelay/") {
		t.Errorf("%s: state_file %q should be in the /var/lib/camrelay volume", name, cfg.StateFile)
	}
	if cfg.Auth.Keys != "" && !strings.HasPrefix(cfg.Auth.Keys, "/var/lib/camrelay/") {
		t.Errorf("%s: auth.keys %q should be in the /var/lib/camrelay volume", name, cfg.Auth.Keys)
	}
	return cfg
}

// TestImageDefaultConfig checks the configuration the Dockerfile copies to
// /etc/camrelay/camrelay.yml.
func TestImageDefaultConfig(t *testing.T) {
	b, err := os.ReadFile("camrelay.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := checkCamrelayConfig(t, "deploy/camrelay.yml", b, nil)
	if cfg != nil && cfg.API.Listen != "127.0.0.1:9990" {
		t.Errorf("deploy/camrelay.yml: api.listen %q; the image's health check asks 127.0.0.1:9990", cfg.API.Listen)
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(df, []byte("COPY deploy/camrelay.yml /etc/camrelay/camrelay.yml")) {
		t.Error("the Dockerfile does not copy deploy/camrelay.yml to /etc/camrelay/camrelay.yml")
	}
}

// loadCompose loads compose.yaml with compose-spec's loader (schema
// validation included: an unknown key is an error) from a copy of the
// folder whose .env is envFile, as an operator would run it.
func loadCompose(t *testing.T, envFile string, profiles ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"compose.yaml", "camrelay.yml", "mediamtx.yml"} {
		b, err := os.ReadFile(filepath.Join("compose", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(envFile), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithName("camrelay"),
		cli.WithWorkingDirectory(dir),
		cli.WithEnv([]string{}), // not the test's own environment
		cli.WithEnvFiles(filepath.Join(dir, ".env")),
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

func TestComposeFile(t *testing.T) {
	example, err := os.ReadFile("compose/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	// The example as shipped loads (placeholders and all).
	loadCompose(t, string(example), "demo")

	// An .env filled in as the example says: an argon2 hash in single
	// quotes reaches the container unchanged, "$" and all.
	h := testHash(t)
	env := "CAMRELAY_VIEWER_HASH='" + h + "'\nDEMO_CAMERA_PASS='p@ss:w/rd$x'\n"
	p := loadCompose(t, env, "demo")

	raw, err := os.ReadFile("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"REPLACE-ME", "argon2:", "p@ss"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("compose.yaml holds %q: secrets belong in .env", s)
		}
	}

	for _, name := range []string{"mediamtx", "camrelay", "camsim"} {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("no service %s with the demo profile", name)
		}
		if s.NetworkMode != "host" {
			t.Errorf("service %s: network_mode %q, want host", name, s.NetworkMode)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("service %s: restart %q, want unless-stopped", name, s.Restart)
		}
	}
	if img := p.Services["mediamtx"].Image; img != "bluenviron/mediamtx:1.15.3" {
		t.Errorf("mediamtx image %q", img)
	}
	if !slices.Contains(p.Services["camsim"].Profiles, "demo") {
		t.Error("camsim is not in the demo profile")
	}

	cr := p.Services["camrelay"]
	if cr.HealthCheck == nil || len(cr.HealthCheck.Test) < 3 || cr.HealthCheck.Test[0] != "CMD" ||
		cr.HealthCheck.Test[1] != "camrelay" || cr.HealthCheck.Test[2] != "healthcheck" {
		t.Errorf("camrelay: want a health check running `camrelay healthcheck`, have %+v", cr.HealthCheck)
	}
	if v := cr.Environment["CAMRELAY_VIEWER_HASH"]; v == nil || *v != h {
		t.Errorf("camrelay: CAMRELAY_VIEWER_HASH from .env = %v, want the hash unchanged", v)
	}
	if v := cr.Environment["DEMO_CAMERA_PASS"]; v == nil || *v != "p@ss:w/rd$x" {
		t.Errorf("camrelay: DEMO_CAMERA_PASS from .env = %v", v)
	}
	if cr.User == "" || cr.User == "0" || strings.HasPrefix(cr.User, "root") || strings.HasPrefix(cr.User, "0:") {
		t.Errorf("camrelay: user %q, want non-root", cr.User)
	}
	var data bool
	for _, v := range cr.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/camrelay" {
			if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("camrelay: volume %q is not declared", v.Source)
			}
			data = true
		}
	}
	if !data {
		t.Error("camrelay: no named volume at /var/lib/camrelay (keys and state)")
	}

	// Without the profile there are no simulated cameras.
	p = loadCompose(t, env)
	if _, ok := p.Services["camsim"]; ok {
		t.Error("camsim runs without the demo profile")
	}

	// The configurations in the folder, as camrelay reads them with this
	// environment.
	b, err := os.ReadFile("compose/camrelay.yml")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for k, v := range cr.Environment {
		if v != nil {
			vars[k] = *v
		}
	}
	cfg := checkCamrelayConfig(t, "compose/camrelay.yml", b, vars)
	if cfg != nil {
		if host := cfg.API.Listen; !strings.HasPrefix(host, "127.0.0.1:") {
			t.Errorf("compose/camrelay.yml: api.listen %q, want loopback by default", host)
		}
		if len(cfg.Auth.Users) == 0 || !cfg.Auth.PublishTokens {
			t.Error("compose/camrelay.yml: want token users and publish_tokens (MediaMTX runs in jwt mode)")
		}
	}
	mtx, err := os.ReadFile("compose/mediamtx.yml")
	if err != nil {
		t.Fatal(err)
	}
	var mc map[string]any
	if err := yaml.Unmarshal(mtx, &mc); err != nil {
		t.Fatalf("compose/mediamtx.yml: %v", err)
	}
	if cfg != nil && (mc["authMethod"] != "jwt" || mc["authJWTJWKS"] != "http://"+cfg.API.Listen+"/.well-known/jwks.json") {
		t.Errorf("compose/mediamtx.yml: want jwt auth against camrelay's JWKS at %s, have %v %v", cfg.API.Listen, mc["authMethod"], mc["authJWTJWKS"])
	}
	for k, v := range mc {
		if s, ok := v.(string); ok && strings.HasSuffix(k, "Address") && s != "" && !strings.HasPrefix(s, "127.0.0.1:") {
			t.Errorf("compose/mediamtx.yml: %s %q, want 127.0.0.1 by default", k, s)
		}
	}
}
