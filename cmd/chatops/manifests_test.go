package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/engine"
	"gopkg.in/yaml.v3"
)

// manifestsDir holds the Kubernetes manifests that docs/deploying.md
// describes.
const manifestsDir = "../../packaging/kubernetes"

// object is the part of a Kubernetes object the manifests test reads.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		// Deployment
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// Service (its selector is a plain map, unlike the others')
		Ports []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// PodDisruptionBudget
		MinAvailable   yaml.Node `yaml:"minAvailable"`
		MaxUnavailable yaml.Node `yaml:"maxUnavailable"`
	} `yaml:"spec"`
	// serviceSelector is a Service's spec.selector.
	serviceSelector map[string]string
	file            string
}

type podSpec struct {
	TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
	Containers                    []container `yaml:"containers"`
	Volumes                       []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string    `yaml:"name"`
		Value     *string   `yaml:"value"`
		ValueFrom yaml.Node `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Sleep struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// readManifests decodes every YAML document of the manifests, leaving out
// the Helm values, which are no Kubernetes object.
func readManifests(t *testing.T) []*object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestsDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", manifestsDir, err)
	}
	var objs []*object
	for _, f := range files {
		if filepath.Base(f) == "nats-values.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			o := &object{file: filepath.Base(f)}
			if err := n.Decode(o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "Service" {
				var svc struct {
					Spec struct {
						Selector map[string]string `yaml:"selector"`
					} `yaml:"spec"`
				}
				if err := n.Decode(&svc); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				o.serviceSelector = svc.Spec.Selector
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
				continue
			}
			if o.Kind != "Namespace" && o.Metadata.Namespace != "chatops" {
				t.Errorf("%s: %s %s is in namespace %q, want chatops", f, o.Kind, o.Metadata.Name, o.Metadata.Namespace)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// selects reports whether a selector picks pods with these labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// secretEnv are variable names whose values are secrets.
var secretEnv = regexp.MustCompile(`(?i)secret|token|password|_KEY$`)

func TestManifests(t *testing.T) {
	objs := readManifests(t)
	byKind := map[string][]*object{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for kind, want := range map[string]int{"Namespace": 1, "ConfigMap": 1, "Secret": 2, "Deployment": 2, "Service": 1, "PodDisruptionBudget": 2} {
		if got := len(byKind[kind]); got != want {
			t.Errorf("%d %s objects, want %d", got, kind, want)
		}
	}
	secrets := map[string]*object{}
	for _, s := range byKind["Secret"] {
		secrets[s.Metadata.Name] = s
		for k, v := range s.StringData {
			if !strings.Contains(v, "REPLACE_ME") {
				t.Errorf("%s: Secret %s key %s is %q: an example holds only REPLACE_ME placeholders", s.file, s.Metadata.Name, k, v)
			}
		}
		if len(s.Data) > 0 {
			t.Errorf("%s: Secret %s has data: give placeholders in stringData", s.file, s.Metadata.Name)
		}
	}
	configMaps := map[string]*object{}
	for _, c := range byKind["ConfigMap"] {
		configMaps[c.Metadata.Name] = c
	}

	deployments := map[string]*object{}
	for _, d := range byKind["Deployment"] {
		role := d.Spec.Template.Metadata.Labels["app.kubernetes.io/component"]
		deployments[role] = d
		t.Run(role, func(t *testing.T) { checkDeployment(t, d, role, secrets, configMaps) })
	}
	for _, role := range []string{"gateway", "worker"} {
		if deployments[role] == nil {
			t.Errorf("no Deployment of component %s", role)
		}
	}

	// One disruption budget per Deployment, selecting its pods alone.
	for role, d := range deployments {
		var budgets []string
		for _, p := range byKind["PodDisruptionBudget"] {
			if !selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
				continue
			}
			budgets = append(budgets, p.Metadata.Name)
			if p.Spec.MinAvailable.Kind == 0 && p.Spec.MaxUnavailable.Kind == 0 {
				t.Errorf("%s: PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", p.file, p.Metadata.Name)
			}
			for other, od := range deployments {
				if other != role && selects(p.Spec.Selector.MatchLabels, od.Spec.Template.Metadata.Labels) {
					t.Errorf("%s: PodDisruptionBudget %s selects both %s and %s pods", p.file, p.Metadata.Name, role, other)
				}
			}
		}
		if len(budgets) != 1 {
			t.Errorf("the %s Deployment has %d PodDisruptionBudgets (%v), want 1", role, len(budgets), budgets)
		}
	}

	// The Service sends Slack's requests to gateways only, on their port.
	for _, s := range byKind["Service"] {
		if gw := deployments["gateway"]; gw != nil && !selects(s.serviceSelector, gw.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: Service %s does not select the gateways", s.file, s.Metadata.Name)
		}
		if w := deployments["worker"]; w != nil && selects(s.serviceSelector, w.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: Service %s selects workers, which take no Slack requests", s.file, s.Metadata.Name)
		}
		if gw := deployments["gateway"]; gw != nil && len(gw.Spec.Template.Spec.Containers) > 0 {
			c := gw.Spec.Template.Spec.Containers[0]
			for _, p := range s.Spec.Ports {
				if !portNamed(c, p.TargetPort) {
					t.Errorf("%s: Service %s targets port %q, which the gateway container does not expose", s.file, s.Metadata.Name, p.TargetPort)
				}
			}
		}
	}
}

// portNamed reports whether a container exposes a port by this name or number.
func portNamed(c container, port string) bool {
	for _, p := range c.Ports {
		if port == p.Name || port == strconv.Itoa(p.ContainerPort) {
			return true
		}
	}
	return false
}

func checkDeployment(t *testing.T, d *object, role string, secrets, configMaps map[string]*object) {
	where := d.file + ": Deployment " + d.Metadata.Name
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: its selector %v does not match its pods' labels %v", where, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("%s: want 2 replicas at least", where)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(pod.Containers))
	}
	c := pod.Containers[0]

	argv := append(slices.Clone(c.Command), c.Args...)
	line := strings.Join(argv, " ")
	if len(argv) < 2 || filepath.Base(argv[0]) != "chatops" || argv[1] != "serve" {
		t.Errorf("%s runs %q, want chatops serve", where, line)
	}
	if got := flagValue(argv, "--role"); got != role {
		t.Errorf("%s runs %q: --role is %q, want %q", where, line, got, role)
	}
	addr := flagValue(argv, "--addr")
	_, port, err := splitAddr(addr)
	if err != nil {
		t.Errorf("%s runs %q: --addr %q: %v (probes need the HTTP of both roles)", where, line, addr, err)
	}

	// The image is pinned.
	if !pinned(c.Image) {
		t.Errorf("%s: image %q: pin a version or a digest, never latest", where, c.Image)
	}

	// Probes: liveness on /healthz, readiness on /readyz, on the port serve
	// listens on.
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no %s.httpGet", where, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: %s on %q, want %q", where, p.name, p.probe.HTTPGet.Path, p.path)
		}
		if !portNamed(c, p.probe.HTTPGet.Port) {
			t.Errorf("%s: %s on port %q, which the container does not expose", where, p.name, p.probe.HTTPGet.Port)
		}
	}
	exposed := false
	for _, p := range c.Ports {
		exposed = exposed || strconv.Itoa(p.ContainerPort) == port
	}
	if !exposed {
		t.Errorf("%s: serve listens on port %s (--addr %q), which the container does not expose", where, port, addr)
	}

	for _, k := range []string{"cpu", "memory"} {
		if c.Resources.Requests[k] == "" {
			t.Errorf("%s: no resources.requests.%s", where, k)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Errorf("%s: no resources.limits.memory", where)
	}

	// Secrets come from Secrets; the environment names what it needs.
	env := map[string]string{}
	for _, e := range c.Env {
		if e.Value != nil {
			env[e.Name] = *e.Value
			if secretEnv.MatchString(e.Name) {
				t.Errorf("%s: %s is a literal: take it from a Secret", where, e.Name)
			}
		}
	}
	fromSecrets := map[string]bool{}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef == nil {
			continue
		}
		s := secrets[ef.SecretRef.Name]
		if s == nil {
			t.Errorf("%s: envFrom names Secret %q, which no manifest defines", where, ef.SecretRef.Name)
			continue
		}
		for k := range s.StringData {
			fromSecrets[k] = true
		}
	}
	needs := []string{"SLACK_BOT_TOKEN"}
	if role == "gateway" {
		needs = append(needs, "SLACK_SIGNING_SECRET")
	}
	for _, k := range needs {
		if !fromSecrets[k] {
			t.Errorf("%s: %s does not come from a Secret", where, k)
		}
	}
	if env["CHATOPS_NATS_URL"] == "" {
		t.Errorf("%s: no CHATOPS_NATS_URL: each pod would run a NATS of its own", where)
	}

	// The config is the ConfigMap's chatops.yaml, and a valid one.
	cfgPath := env["CHATOPS_CONFIG"]
	found := false
	for _, m := range c.VolumeMounts {
		dir, key := filepath.Dir(cfgPath), filepath.Base(cfgPath)
		if m.MountPath != dir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := configMaps[v.ConfigMap.Name]
			if cm == nil || cm.Data[key] == "" {
				t.Errorf("%s: CHATOPS_CONFIG %s is key %s of ConfigMap %s, which has no such key", where, cfgPath, key, v.ConfigMap.Name)
				continue
			}
			found = true
			if _, err := engine.ParseConfig(cm.file+": "+key, []byte(cm.Data[key])); err != nil {
				t.Errorf("%s: ConfigMap %s: %v", where, cm.Metadata.Name, err)
			}
		}
	}
	if !found {
		t.Errorf("%s: CHATOPS_CONFIG %q is not a file of a mounted ConfigMap", where, cfgPath)
	}

	// SIGTERM: the pod is given longer than serve gives its jobs.
	shutdown := 30 * time.Second
	if v := flagValue(argv, "--shutdown-timeout"); v != "" {
		env["CHATOPS_SHUTDOWN_TIMEOUT"] = v
	}
	if v := env["CHATOPS_SHUTDOWN_TIMEOUT"]; v != "" {
		if shutdown, err = time.ParseDuration(v); err != nil {
			t.Errorf("%s: CHATOPS_SHUTDOWN_TIMEOUT %q: %v", where, v, err)
		}
	}
	need := shutdown + time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second
	grace := 30 // Kubernetes's default
	if g := pod.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if time.Duration(grace)*time.Second <= need {
		t.Errorf("%s: terminationGracePeriodSeconds %d, want more than %v (preStop and --shutdown-timeout)", where, grace, need)
	}
}

// pinned reports whether an image names a digest, or a tag other than latest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	return ok && tag != "" && tag != "latest"
}

// flagValue is the value of a long flag in argv, given as "--f v" or "--f=v".
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// splitAddr splits HOST:PORT, where the port is a number.
func splitAddr(addr string) (host, port string, err error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", errors.New("want HOST:PORT")
	}
	host, port = addr[:i], addr[i+1:]
	if _, err := strconv.Atoi(port); err != nil {
		return "", "", errors.New("the port is not a number")
	}
	return host, port, nil
}

// TestManifestsNATSValues checks the Helm values give a replicated
// JetStream: three clustered servers with a file store on a PVC each.
func TestManifestsNATSValues(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestsDir, "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `yaml:"enabled"`
				Replicas int  `yaml:"replicas"`
			} `yaml:"cluster"`
			JetStream struct {
				Enabled   bool `yaml:"enabled"`
				FileStore struct {
					Enabled bool `yaml:"enabled"`
					PVC     struct {
						Enabled bool   `yaml:"enabled"`
						Size    string `yaml:"size"`
					} `yaml:"pvc"`
				} `yaml:"fileStore"`
			} `yaml:"jetstream"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("config.cluster: enabled %v, replicas %d; want true, 3", c.Cluster.Enabled, c.Cluster.Replicas)
	}
	if !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled || !c.JetStream.FileStore.PVC.Enabled || c.JetStream.FileStore.PVC.Size == "" {
		t.Errorf("config.jetstream: want enabled, with fileStore.pvc enabled and a size; got %+v", c.JetStream)
	}
	// The seeds the Deployments name are the pods of this release.
	for _, o := range readManifests(t) {
		if o.Kind != "Deployment" {
			continue
		}
		for _, e := range o.Spec.Template.Spec.Containers[0].Env {
			if e.Name != "CHATOPS_NATS_URL" || e.Value == nil {
				continue
			}
			seeds := strings.Split(*e.Value, ",")
			if len(seeds) != c.Cluster.Replicas {
				t.Errorf("%s: CHATOPS_NATS_URL names %d servers, the cluster has %d", o.file, len(seeds), c.Cluster.Replicas)
			}
			for i, s := range seeds {
				if want := "nats://nats-" + strconv.Itoa(i) + ".nats-headless."; !strings.HasPrefix(s, want) {
					t.Errorf("%s: seed %q, want %s…", o.file, s, want)
				}
			}
		}
	}
}
