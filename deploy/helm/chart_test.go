// Package helm_test lints and renders the callback-dispatcher chart with a
// pinned helm, decodes every rendered manifest strictly into the Kubernetes
// API types, and checks what a production install relies on: hardened pods,
// probes on the programs' real ports, a grace period above the shutdown
// timeout, the autoscalers, the migration hook and where secrets go.
package helm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	// helmModule is built once into the repository's bin/ directory.
	helmModule = "helm.sh/helm/v3/cmd/helm@v3.21.4"
	// kubeVersion is the cluster version templates are rendered for; a helm
	// built with go install would otherwise assume v1.20.
	kubeVersion = "1.30.0"
	chartDir    = "callback-dispatcher"
	release     = "rel"
	namespace   = "dispatcher"
	// nonrootUID is distroless' nonroot user.
	nonrootUID = 65532
)

// valuesCase is one of the chart's ci/ values files, with more values set on
// the command line, and what it should render.
type valuesCase struct {
	name        string
	file        string
	set         []string
	producer    bool
	migrations  bool
	hookSecret  bool // the migration Job reads the chart's own hook Secret
	workerHPA   bool
	keda        bool
	pdb         bool
	networkPol  bool
	monitoring  bool // ServiceMonitors and the PrometheusRule
	ingress     bool
	imsProfiles bool
}

var valuesCases = []valuesCase{
	{name: "default", file: "default-values.yaml", producer: true, migrations: true,
		hookSecret: true, workerHPA: true, pdb: true},
	{name: "minimal", file: "minimal-values.yaml"},
	{name: "everything on", file: "full-values.yaml", producer: true, migrations: true,
		keda: true, pdb: true, networkPol: true, monitoring: true, ingress: true,
		imsProfiles: true},
	{name: "KEDA on a plain Redis with the password inline", file: "default-values.yaml",
		set: []string{"worker.keda.enabled=true",
			"worker.keda.redis.address=redis-master.redis.svc:6379",
			"worker.keda.redis.password=test-keda-redis-password"},
		producer: true, migrations: true, hookSecret: true, keda: true, pdb: true},
}

// args are the helm arguments that give a case's values.
func (vc valuesCase) args() []string {
	args := []string{"-f", filepath.Join(chartDir, "ci", vc.file)}
	for _, s := range vc.set {
		args = append(args, "--set", s)
	}
	return args
}

// secretEnv are the variables that must only ever come from a Secret.
var secretEnv = []string{"REDIS_URL", "DATABASE_URL", "IMS_CLIENT_SECRET",
	"IMS_CLIENT_SECRET_2", "IMS_TOKEN_KEY", "API_TOKENS"}

func TestChartLints(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			t.Parallel()
			runHelm(t, helm, append([]string{"lint", "--strict", "--kube-version", kubeVersion,
				chartDir}, vc.args()...)...)
		})
	}
}

func TestChartRenders(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, helm, vc.args()...)
			values := readValues(t, filepath.Join(chartDir, "ci", vc.file))
			checkInventory(t, m, vc)
			checkReferences(t, m)
			checkPodsHardened(t, m)
			checkProbes(t, m, vc)
			checkGracePeriod(t, m)
			checkSecretsStaySecret(t, m, values)
			checkScaling(t, m, vc)
			checkMigrationHook(t, m, vc)
			checkNetworkPolicies(t, m, vc)
			checkMonitoring(t, m, vc)
			checkIMSProfiles(t, m, vc)
		})
	}
}

// TestChartRefusesBadValues checks that mistakes fail the render with a
// message naming the value, rather than installing something broken.
func TestChartRefusesBadValues(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	base := filepath.Join(chartDir, "ci", "default-values.yaml")
	cases := []struct {
		name string
		set  string
		want string
	}{
		{"a shutdown timeout not above the task timeout", "worker.shutdownTimeoutSeconds=40",
			"worker.shutdownTimeoutSeconds"},
		{"no Redis", "redis.url=", "redis.url"},
		{"a misspelt value", "wroker.replicaCount=3", "wroker"},
		{"a duration without a unit", "worker.httpTimeout=10", "httpTimeout"},
		{"a short API token", "api.tokens={short}", "tokens"},
		{"more attempts than the contract allows", "config.maxAttempts=6", "maxAttempts"},
		{"KEDA without a Redis address", "worker.keda.enabled=true", "worker.keda.redis.address"},
		{"a client id without a secret", "ims.clientSecret=", "ims.clientSecret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmOutput(t.Context(), helm, "template", release, chartDir,
				"-n", namespace, "--kube-version", kubeVersion, "-f", base, "--set", c.set)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded; want it refused", c.set)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("helm template --set %s failed without naming %q:\n%s", c.set, c.want,
					out)
			}
		})
	}
}

// TestValuesDocumented checks that the chart README lists every value.
func TestValuesDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	for _, path := range valuePaths("", values) {
		if !bytes.Contains(readme, []byte("`"+path+"`")) {
			t.Errorf("README.md does not list the value `%s`", path)
		}
	}
}

// TestAlertsFile checks the shape of files/alerts.yaml, which the
// PrometheusRule renders as is.
func TestAlertsFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		t.Fatalf("files/alerts.yaml: %v", err)
	}
	if len(file.Groups) == 0 {
		t.Fatal("files/alerts.yaml has no groups")
	}
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || r.Expr == "":
				t.Errorf("group %s: a rule lacks alert or expr", g.Name)
			case seen[r.Alert]:
				t.Errorf("alert %s is defined twice", r.Alert)
			case !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]):
				t.Errorf("alert %s has severity %q", r.Alert, r.Labels["severity"])
			case r.Annotations["summary"] == "" || r.Annotations["description"] == "":
				t.Errorf("alert %s lacks a summary or a description", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for: %v", r.Alert, err)
				}
			}
			seen[r.Alert] = true
		}
	}
}

// TestHelmBuildSkipsOnlyWhenOffline checks the one reason the chart's tests
// may skip: go install could not reach the module proxy.
func TestHelmBuildSkipsOnlyWhenOffline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		output  string
		offline bool
	}{
		{"the proxy refuses connections", `go: helm.sh/helm/v3/cmd/helm@v3.21.4: ` +
			`Get "http://127.0.0.1:1/helm.sh/helm/v3/cmd/helm/@v/v3.21.4.info": ` +
			`dial tcp 127.0.0.1:1: connect: connection refused`, true},
		{"the proxy's name does not resolve", "go: downloading helm.sh/helm/v3 v3.21.4\n" +
			`go: helm.sh/helm/v3@v3.21.4: Get "https://proxy.golang.org/helm.sh/helm/v3/@v/` +
			`v3.21.4.zip": dial tcp: lookup proxy.golang.org: no such host`, true},
		{"a compile error", "# helm.sh/helm/v3/pkg/action\n" +
			"pkg/action/install.go:10:2: undefined: foo", false},
		{"a checksum mismatch", "verifying helm.sh/helm/v3@v3.21.4: checksum mismatch", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := proxyUnreachable([]byte(c.output)); got != c.offline {
				t.Errorf("proxyUnreachable = %v, want %v for:\n%s", got, c.offline, c.output)
			}
		})
	}
}

// helm

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// errProxyUnreachable marks a helm build that failed only because modules
// could not be downloaded.
var errProxyUnreachable = errors.New("the Go module proxy is unreachable")

// helmBinary builds helm into bin/ once per test binary (go install does
// nothing when it is up to date) and skips the test only when the module
// proxy cannot be reached.
func helmBinary(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() { helmPath, helmErr = installHelm() })
	if errors.Is(helmErr, errProxyUnreachable) {
		t.Skipf("helm cannot be built: %v", helmErr)
	}
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

func installHelm() (string, error) {
	bin, err := filepath.Abs(filepath.Join("..", "..", "bin"))
	if err != nil {
		return "", err
	}
	// The first build downloads helm's modules; later ones only check them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", helmModule)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if proxyUnreachable(out) {
			return "", fmt.Errorf("%w: %s", errProxyUnreachable, lastLine(out))
		}
		return "", fmt.Errorf("go install %s: %w\n%s", helmModule, err, out)
	}
	return filepath.Join(bin, "helm"), nil
}

var networkFault = regexp.MustCompile(`dial tcp|no such host|connection refused|` +
	`i/o timeout|TLS handshake timeout|network is unreachable|proxyconnect|` +
	`connection reset by peer|Client.Timeout exceeded`)

func proxyUnreachable(out []byte) bool { return networkFault.Match(out) }

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

func helmOutput(ctx context.Context, helm string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func runHelm(t *testing.T, helm string, args ...string) string {
	t.Helper()
	out, err := helmOutput(t.Context(), helm, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Rendered manifests

// manifest holds the rendered objects by type.
type manifest struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	serviceAccounts []*corev1.ServiceAccount
	jobs            []*batchv1.Job
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	ingresses       []*networkingv1.Ingress
	networkPolicies []*networkingv1.NetworkPolicy
	// custom holds the objects of CRDs, keyed by kind.
	custom map[string][]*unstructured.Unstructured
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// render runs helm template and decodes each document strictly into the type
// its apiVersion and kind name; an unknown type fails the test.
func render(t *testing.T, helm string, args ...string) *manifest {
	t.Helper()
	out := runHelm(t, helm, append([]string{"template", release, chartDir, "-n", namespace,
		"--kube-version", kubeVersion}, args...)...)
	m := &manifest{custom: map[string][]*unstructured.Unstructured{}}
	for _, doc := range docSeparator.Split(out, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		if err := m.decode([]byte(doc)); err != nil {
			t.Errorf("%v in:\n%s", err, doc)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func (m *manifest) decode(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("read apiVersion and kind: %w", err)
	}
	switch head.APIVersion + "/" + head.Kind {
	case "apps/v1/Deployment":
		return decodeInto(doc, &m.deployments)
	case "v1/Service":
		return decodeInto(doc, &m.services)
	case "v1/ConfigMap":
		return decodeInto(doc, &m.configMaps)
	case "v1/Secret":
		return decodeInto(doc, &m.secrets)
	case "v1/ServiceAccount":
		return decodeInto(doc, &m.serviceAccounts)
	case "batch/v1/Job":
		return decodeInto(doc, &m.jobs)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return decodeInto(doc, &m.hpas)
	case "policy/v1/PodDisruptionBudget":
		return decodeInto(doc, &m.pdbs)
	case "networking.k8s.io/v1/Ingress":
		return decodeInto(doc, &m.ingresses)
	case "networking.k8s.io/v1/NetworkPolicy":
		return decodeInto(doc, &m.networkPolicies)
	case "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule",
		"keda.sh/v1alpha1/ScaledObject", "keda.sh/v1alpha1/TriggerAuthentication":
		obj := map[string]any{}
		if err := yaml.UnmarshalStrict(doc, &obj); err != nil {
			return fmt.Errorf("decode %s: %w", head.Kind, err)
		}
		m.custom[head.Kind] = append(m.custom[head.Kind], &unstructured.Unstructured{Object: obj})
		return nil
	}
	return fmt.Errorf("unexpected object %s %s", head.APIVersion, head.Kind)
}

// decodeInto decodes doc strictly (no unknown or duplicate fields) into a
// new T and appends it to list.
func decodeInto[T any](doc []byte, list *[]*T) error {
	v := new(T)
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	*list = append(*list, v)
	return nil
}

func fullName(component string) string {
	return release + "-callback-dispatcher-" + component
}

func (m *manifest) deployment(component string) *appsv1.Deployment {
	for _, d := range m.deployments {
		if d.Name == fullName(component) {
			return d
		}
	}
	return nil
}

func (m *manifest) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (m *manifest) secret(name string) *corev1.Secret {
	for _, s := range m.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// pod is a rendered pod template and the object that owns it.
type pod struct {
	owner string
	meta  map[string]string // the template's labels
	spec  *corev1.PodSpec
	hook  bool
}

func (m *manifest) pods() []pod {
	var pods []pod
	for _, d := range m.deployments {
		pods = append(pods, pod{"Deployment " + d.Name, d.Spec.Template.Labels,
			&d.Spec.Template.Spec, false})
	}
	for _, j := range m.jobs {
		pods = append(pods, pod{"Job " + j.Name, j.Spec.Template.Labels, &j.Spec.Template.Spec,
			j.Annotations["helm.sh/hook"] != ""})
	}
	return pods
}

// setting returns a variable of a component's ConfigMap.
func (m *manifest) setting(t *testing.T, component, name string) string {
	t.Helper()
	cm := m.configMap(fullName(component))
	if cm == nil {
		t.Fatalf("no ConfigMap %s", fullName(component))
	}
	v, ok := cm.Data[name]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Name, name)
	}
	return v
}

// Checks

func checkInventory(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	want := func(what string, got int, on bool, n int) {
		t.Helper()
		if !on {
			n = 0
		}
		if got != n {
			t.Errorf("%d %s rendered, want %d", got, what, n)
		}
	}
	if m.deployment("worker") == nil {
		t.Fatal("no worker Deployment")
	}
	want("producer Deployments", len(m.deployments)-1, vc.producer, 1)
	want("migration Jobs", len(m.jobs), vc.migrations, 1)
	want("Ingresses", len(m.ingresses), vc.ingress, 1)
	want("ScaledObjects", len(m.custom["ScaledObject"]), vc.keda, 1)
	want("PrometheusRules", len(m.custom["PrometheusRule"]), vc.monitoring, 1)
	want("NetworkPolicies for the worker", countNamed(m.networkPolicies, fullName("worker")),
		vc.networkPol, 1)
	want("ServiceMonitors", len(m.custom["ServiceMonitor"]), vc.monitoring,
		len(m.deployments))
	want("worker PodDisruptionBudgets", countNamed(m.pdbs, fullName("worker")), vc.pdb, 1)
	for _, d := range m.deployments {
		if !reflect.DeepEqual(d.Spec.Selector.MatchLabels,
			subset(d.Spec.Template.Labels, d.Spec.Selector.MatchLabels)) {
			t.Errorf("Deployment %s: selector %v does not match its pods' labels %v", d.Name,
				d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}
	}
	for _, sa := range m.serviceAccounts {
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts its token", sa.Name)
		}
	}
}

func countNamed[T interface{ GetName() string }](list []T, name string) int {
	n := 0
	for _, o := range list {
		if o.GetName() == name {
			n++
		}
	}
	return n
}

// subset returns the entries of labels whose keys are in keys.
func subset(labels, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// matches reports whether labels carry every entry of selector.
func matches(selector, labels map[string]string) bool {
	return len(selector) > 0 && reflect.DeepEqual(selector, subset(labels, selector))
}

// checkReferences checks that what pods, Services and Ingresses point at
// exists: ConfigMaps and the chart's Secret keys, container ports by name,
// Service selectors.
func checkReferences(t *testing.T, m *manifest) {
	t.Helper()
	for _, p := range m.pods() {
		for _, c := range p.spec.Containers {
			for _, from := range c.EnvFrom {
				if ref := from.ConfigMapRef; ref != nil && m.configMap(ref.Name) == nil {
					t.Errorf("%s: envFrom names ConfigMap %s, which is not rendered", p.owner,
						ref.Name)
				}
			}
			for _, e := range c.Env {
				ref := secretRef(e)
				if ref == nil || !strings.HasPrefix(ref.Name, release+"-") {
					continue // an existingSecret the user provides
				}
				s := m.secret(ref.Name)
				if s == nil {
					t.Errorf("%s: %s names Secret %s, which is not rendered", p.owner, e.Name,
						ref.Name)
				} else if _, ok := s.Data[ref.Key]; !ok {
					t.Errorf("%s: %s names key %s, which Secret %s lacks", p.owner, e.Name,
						ref.Key, s.Name)
				}
			}
		}
	}
	for _, svc := range m.services {
		d := deploymentSelected(m, svc.Spec.Selector)
		if d == nil {
			t.Errorf("Service %s selects no Deployment's pods", svc.Name)
			continue
		}
		for _, port := range svc.Spec.Ports {
			if _, ok := containerPort(d.Spec.Template.Spec.Containers[0],
				port.TargetPort.String()); !ok {
				t.Errorf("Service %s: targetPort %s is not a port of %s", svc.Name,
					port.TargetPort.String(), d.Name)
			}
		}
	}
	for _, ing := range m.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, path := range rule.HTTP.Paths {
				if b := path.Backend.Service; b == nil || b.Name != fullName("producer") ||
					b.Port.Name != "http" {
					t.Errorf("Ingress %s: path %s does not lead to the producer's http port",
						ing.Name, path.Path)
				}
			}
		}
	}
}

func secretRef(e corev1.EnvVar) *corev1.SecretKeySelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.SecretKeyRef
}

func deploymentSelected(m *manifest, selector map[string]string) *appsv1.Deployment {
	for _, d := range m.deployments {
		if matches(selector, d.Spec.Template.Labels) {
			return d
		}
	}
	return nil
}

// containerPort resolves a port given by name or number to its number.
func containerPort(c corev1.Container, port string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == port || strconv.Itoa(int(p.ContainerPort)) == port {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func checkPodsHardened(t *testing.T, m *manifest) {
	t.Helper()
	for _, p := range m.pods() {
		s := p.spec
		if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			t.Errorf("%s mounts a service-account token", p.owner)
		}
		if s.HostNetwork || s.HostPID || s.HostIPC {
			t.Errorf("%s shares a host namespace", p.owner)
		}
		psc := s.SecurityContext
		if psc == nil || !isTrue(psc.RunAsNonRoot) || !isUID(psc.RunAsUser, nonrootUID) ||
			psc.SeccompProfile == nil ||
			psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod securityContext %+v is not non-root %d with RuntimeDefault "+
				"seccomp", p.owner, psc, nonrootUID)
		}
		if len(s.InitContainers) > 0 || len(s.Containers) == 0 {
			t.Errorf("%s has %d init containers and %d containers", p.owner,
				len(s.InitContainers), len(s.Containers))
		}
		for _, c := range s.Containers {
			checkContainerHardened(t, p.owner+" container "+c.Name, c)
		}
		for _, v := range s.Volumes {
			if v.HostPath != nil {
				t.Errorf("%s mounts host path %s", p.owner, v.HostPath.Path)
			}
		}
	}
}

func checkContainerHardened(t *testing.T, who string, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s has no securityContext", who)
		return
	case !isTrue(sc.RunAsNonRoot) || !isUID(sc.RunAsUser, nonrootUID):
		t.Errorf("%s may run as root", who)
	case !isTrue(sc.ReadOnlyRootFilesystem):
		t.Errorf("%s has a writable root filesystem", who)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s allows privilege escalation", who)
	case isTrue(sc.Privileged):
		t.Errorf("%s is privileged", who)
	case sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("%s does not drop every capability: %+v", who, sc.Capabilities)
	case sc.SeccompProfile == nil ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("%s has no RuntimeDefault seccomp profile", who)
	}
	for _, list := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := list[name]; !ok || q.IsZero() {
				t.Errorf("%s lacks a %s request or limit", who, name)
			}
		}
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool {
		return v.MountPath == "/tmp"
	}) {
		t.Errorf("%s has no writable /tmp", who)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// show prints an optional number, or "unset".
func show[T int32 | int64](p *T) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(int64(*p), 10)
}

func isUID(id *int64, want int64) bool { return id != nil && *id == want }

// checkProbes checks that each program's probes use its health paths on the
// port the program listens on, as its ConfigMap tells it.
func checkProbes(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	checkComponentProbes(t, m, "worker", "OPS_LISTEN")
	if vc.producer {
		checkComponentProbes(t, m, "producer", "LISTEN")
	}
}

func checkComponentProbes(t *testing.T, m *manifest, component, listenVar string) {
	t.Helper()
	d := m.deployment(component)
	c := d.Spec.Template.Spec.Containers[0]
	_, portText, err := net.SplitHostPort(m.setting(t, component, listenVar))
	if err != nil {
		t.Fatalf("%s %s: %v", component, listenVar, err)
	}
	want, _ := strconv.Atoi(portText)
	for _, probe := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if probe.probe == nil || probe.probe.HTTPGet == nil {
			t.Errorf("%s has no HTTP %s probe", d.Name, probe.name)
			continue
		}
		get := probe.probe.HTTPGet
		port, ok := containerPort(c, get.Port.String())
		if get.Path != probe.path || !ok || int(port) != want {
			t.Errorf("%s %s probe GETs %s on port %s (%d); want %s on %d (%s)", d.Name,
				probe.name, get.Path, get.Port.String(), port, probe.path, want, listenVar)
		}
		if probe.probe.TimeoutSeconds < 3 {
			t.Errorf("%s %s probe times out after %ds, below /readyz's 2s Redis ping", d.Name,
				probe.name, probe.probe.TimeoutSeconds)
		}
	}
}

// checkGracePeriod checks that the kubelet waits longer than the worker's
// SHUTDOWN_TIMEOUT before it kills a worker, and that this exceeds
// TASK_TIMEOUT.
func checkGracePeriod(t *testing.T, m *manifest) {
	t.Helper()
	shutdown := duration(t, m.setting(t, "worker", "SHUTDOWN_TIMEOUT"))
	task := duration(t, m.setting(t, "worker", "TASK_TIMEOUT"))
	grace := m.deployment("worker").Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		t.Errorf("worker terminationGracePeriodSeconds %s is not above SHUTDOWN_TIMEOUT %s",
			show(grace), shutdown)
	}
	if shutdown <= task {
		t.Errorf("SHUTDOWN_TIMEOUT %s is not above TASK_TIMEOUT %s", shutdown, task)
	}
}

func duration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkSecretsStaySecret checks that secret variables come only from Secrets
// and that no secret value appears in a ConfigMap or a literal env value.
func checkSecretsStaySecret(t *testing.T, m *manifest, values map[string]any) {
	t.Helper()
	secrets := secretValues(m, values)
	if len(secrets) == 0 && len(m.secrets) > 0 {
		t.Error("found no secret values to look for")
	}
	leaks := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret value", where)
			}
		}
	}
	for _, cm := range m.configMaps {
		for k, v := range cm.Data {
			if slices.Contains(secretEnv, k) {
				t.Errorf("ConfigMap %s sets %s", cm.Name, k)
			}
			leaks("ConfigMap "+cm.Name+" key "+k, v)
		}
	}
	for _, p := range m.pods() {
		for _, c := range p.spec.Containers {
			for _, e := range c.Env {
				if slices.Contains(secretEnv, e.Name) && secretRef(e) == nil {
					t.Errorf("%s: %s does not come from a Secret", p.owner, e.Name)
				}
				leaks(p.owner+" env "+e.Name, e.Value)
			}
			leaks(p.owner+" args", strings.Join(append(c.Command, c.Args...), " "))
		}
	}
}

// secretValues are the values of every rendered Secret and the secret values
// of the values file, each API token on its own.
func secretValues(m *manifest, values map[string]any) []string {
	var out []string
	add := func(s string) {
		for part := range strings.SplitSeq(s, ",") {
			if len(part) >= 8 && !slices.Contains(out, part) {
				out = append(out, part)
			}
		}
	}
	for _, s := range m.secrets {
		for _, v := range s.Data {
			add(string(v))
		}
	}
	for _, path := range [][]string{{"redis", "url"}, {"database", "url"},
		{"ims", "clientSecret"}, {"ims", "clientSecret2"}, {"ims", "tokenKey"},
		{"worker", "keda", "redis", "password"}} {
		if s, ok := lookup(values, path...).(string); ok {
			add(s)
		}
	}
	if tokens, ok := lookup(values, "api", "tokens").([]any); ok {
		for _, tok := range tokens {
			add(fmt.Sprint(tok))
		}
	}
	return out
}

func lookup(v any, path ...string) any {
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

// checkScaling checks the worker's HPA or KEDA ScaledObject, and the
// disruption budgets.
func checkScaling(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	worker := m.deployment("worker")
	var workerHPA *autoscalingv2.HorizontalPodAutoscaler
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
			t.Errorf("HPA %s scales %s %s", h.Name, ref.APIVersion, ref.Kind)
		}
		if m.deployment(strings.TrimPrefix(ref.Name, release+"-callback-dispatcher-")) == nil {
			t.Errorf("HPA %s scales %s, which is not rendered", h.Name, ref.Name)
		}
		if ref.Name == worker.Name {
			workerHPA = h
		}
		checkCPUTarget(t, h)
	}
	switch {
	case vc.workerHPA && workerHPA == nil:
		t.Error("no HPA scales the worker Deployment")
	case !vc.workerHPA && workerHPA != nil:
		t.Errorf("HPA %s scales the worker, want none", workerHPA.Name)
	}
	autoscaled := vc.workerHPA || vc.keda
	if (worker.Spec.Replicas == nil) != autoscaled {
		t.Errorf("worker replicas is %s while autoscaled is %v; an autoscaled Deployment must "+
			"leave replicas to its autoscaler", show(worker.Spec.Replicas), autoscaled)
	}
	if vc.keda {
		checkScaledObject(t, m)
	}
	for _, pdb := range m.pdbs {
		d := deploymentSelected(m, pdb.Spec.Selector.MatchLabels)
		if d == nil || len(pdb.Spec.Selector.MatchExpressions) > 0 {
			t.Errorf("PDB %s selects no Deployment's pods", pdb.Name)
		}
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			t.Errorf("PDB %s sets neither maxUnavailable nor minAvailable", pdb.Name)
		}
	}
	for _, d := range m.deployments {
		if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 && vc.pdb {
			t.Errorf("Deployment %s has no topology spread constraints", d.Name)
		}
		for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
			if c.LabelSelector == nil || !matches(c.LabelSelector.MatchLabels,
				d.Spec.Template.Labels) {
				t.Errorf("Deployment %s: spread over %s does not select its own pods", d.Name,
					c.TopologyKey)
			}
		}
	}
}

func checkCPUTarget(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 ||
		*h.Spec.MinReplicas > h.Spec.MaxReplicas {
		t.Errorf("HPA %s: replicas from %s to %d", h.Name, show(h.Spec.MinReplicas),
			h.Spec.MaxReplicas)
	}
	for _, metric := range h.Spec.Metrics {
		r := metric.Resource
		if metric.Type == autoscalingv2.ResourceMetricSourceType && r != nil &&
			r.Name == corev1.ResourceCPU && r.Target.Type == autoscalingv2.UtilizationMetricType &&
			r.Target.AverageUtilization != nil && *r.Target.AverageUtilization > 0 {
			return
		}
	}
	t.Errorf("HPA %s has no CPU utilization target", h.Name)
}

func checkScaledObject(t *testing.T, m *manifest) {
	t.Helper()
	so := m.custom["ScaledObject"][0]
	if name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name"); name !=
		fullName("worker") {
		t.Errorf("ScaledObject scales %q, want the worker Deployment", name)
	}
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	wantList := "asynq:{" + m.setting(t, "worker", "QUEUE") + "}:pending"
	var redis, cpu bool
	for _, tr := range triggers {
		trigger, _ := tr.(map[string]any)
		kind, _, _ := unstructured.NestedString(trigger, "type")
		switch kind {
		case "redis", "redis-sentinel":
			redis = true
			list, _, _ := unstructured.NestedString(trigger, "metadata", "listName")
			if list != wantList {
				t.Errorf("KEDA %s trigger reads list %q, want asynq's pending list %q", kind,
					list, wantList)
			}
			length, _, _ := unstructured.NestedString(trigger, "metadata", "listLength")
			if n, err := strconv.Atoi(length); err != nil || n < 1 {
				t.Errorf("KEDA %s trigger listLength %q", kind, length)
			}
			auth, found, _ := unstructured.NestedString(trigger, "authenticationRef", "name")
			if found && !slices.ContainsFunc(m.custom["TriggerAuthentication"],
				func(u *unstructured.Unstructured) bool { return u.GetName() == auth }) {
				t.Errorf("KEDA trigger names TriggerAuthentication %s, which is not rendered",
					auth)
			}
		case "cpu":
			cpu = true
		}
	}
	if !redis || !cpu {
		t.Errorf("ScaledObject triggers on redis %v, cpu %v; want both", redis, cpu)
	}
}

// checkMigrationHook checks that the migration Job runs `producer migrate up`
// before install and upgrade, and that everything it needs exists by then:
// a Secret it reads is a hook of a lower weight or the user's own.
func checkMigrationHook(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	if !vc.migrations {
		return
	}
	job := m.jobs[0]
	if got := hookEvents(job.Annotations); !slices.Equal(got, []string{"pre-install",
		"pre-upgrade"}) {
		t.Errorf("Job %s runs on hooks %v, want pre-install and pre-upgrade", job.Name, got)
	}
	policy := strings.Split(job.Annotations["helm.sh/hook-delete-policy"], ",")
	if !slices.Contains(policy, "before-hook-creation") || !slices.Contains(policy,
		"hook-succeeded") {
		t.Errorf("Job %s hook-delete-policy is %v", job.Name, policy)
	}
	spec := job.Spec.Template.Spec
	c := spec.Containers[0]
	if cmd := append(slices.Clone(c.Command), c.Args...); !slices.Equal(cmd,
		[]string{"/producer", "migrate", "up"}) {
		t.Errorf("Job %s runs %q, want /producer migrate up", job.Name, cmd)
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever && spec.RestartPolicy !=
		corev1.RestartPolicyOnFailure {
		t.Errorf("Job %s restartPolicy %s", job.Name, spec.RestartPolicy)
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("Job %s reads ConfigMaps, which do not exist before install", job.Name)
	}
	if spec.ServiceAccountName != "" && countNamed(m.serviceAccounts,
		spec.ServiceAccountName) > 0 {
		t.Errorf("Job %s uses ServiceAccount %s, which is created after the hook", job.Name,
			spec.ServiceAccountName)
	}
	jobWeight := hookWeight(t, job.Annotations)
	var databaseURL *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == "DATABASE_URL" {
			databaseURL = secretRef(e)
		}
	}
	if databaseURL == nil {
		t.Fatalf("Job %s does not read DATABASE_URL from a Secret", job.Name)
	}
	s := m.secret(databaseURL.Name)
	switch {
	case s == nil && vc.hookSecret:
		t.Errorf("Job %s reads Secret %s, which is not rendered", job.Name, databaseURL.Name)
	case s == nil:
		// The user's existingSecret, there before the install.
	case !vc.hookSecret:
		t.Errorf("Job %s reads the chart's Secret %s; want the existing one", job.Name, s.Name)
	case !slices.Equal(hookEvents(s.Annotations), []string{"pre-install", "pre-upgrade"}):
		t.Errorf("Secret %s read by the hook is not itself a pre-install,pre-upgrade hook",
			s.Name)
	case hookWeight(t, s.Annotations) >= jobWeight:
		t.Errorf("Secret %s is not created before Job %s (hook weights)", s.Name, job.Name)
	case len(s.Data) != 1:
		t.Errorf("hook Secret %s holds %d keys; it needs DATABASE_URL alone", s.Name,
			len(s.Data))
	}
}

func hookEvents(annotations map[string]string) []string {
	events := strings.Split(annotations["helm.sh/hook"], ",")
	slices.Sort(events)
	return events
}

func hookWeight(t *testing.T, annotations map[string]string) int {
	t.Helper()
	w, err := strconv.Atoi(cmpOr(annotations["helm.sh/hook-weight"], "0"))
	if err != nil {
		t.Errorf("hook weight: %v", err)
	}
	return w
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// checkNetworkPolicies checks that each pod is covered and that the worker
// may reach DNS, Redis, PostgreSQL and Adobe on 443.
func checkNetworkPolicies(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	if !vc.networkPol {
		return
	}
	for _, p := range m.pods() {
		if !slices.ContainsFunc(m.networkPolicies, func(np *networkingv1.NetworkPolicy) bool {
			return matches(np.Spec.PodSelector.MatchLabels, p.meta)
		}) {
			t.Errorf("%s: no NetworkPolicy selects its pods", p.owner)
		}
	}
	for _, np := range m.networkPolicies {
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
			t.Errorf("NetworkPolicy %s governs %v", np.Name, np.Spec.PolicyTypes)
		}
		if np.Name != fullName("worker") {
			continue
		}
		for _, want := range []struct {
			proto corev1.Protocol
			port  int
		}{{"UDP", 53}, {"TCP", 6379}, {"TCP", 5432}, {"TCP", 443}} {
			if !egressAllows(np, want.proto, want.port) {
				t.Errorf("worker NetworkPolicy does not allow %s %d out", want.proto, want.port)
			}
		}
		if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "ops" {
			t.Errorf("worker NetworkPolicy lets in more than the ops port: %+v",
				np.Spec.Ingress)
		}
	}
}

func egressAllows(np *networkingv1.NetworkPolicy, proto corev1.Protocol, port int) bool {
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			if p.Protocol != nil && *p.Protocol == proto && p.Port != nil &&
				p.Port.IntValue() == port {
				return true
			}
		}
	}
	return false
}

// checkMonitoring checks the ServiceMonitors against the metrics Services,
// the PrometheusRule against files/alerts.yaml, and the dashboards ConfigMap
// against files/dashboards.
func checkMonitoring(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	for _, sm := range m.custom["ServiceMonitor"] {
		selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector",
			"matchLabels")
		jobLabel, _, _ := unstructured.NestedString(sm.Object, "spec", "jobLabel")
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) != 1 {
			t.Fatalf("ServiceMonitor %s has %d endpoints", sm.GetName(), len(endpoints))
		}
		endpoint, _ := endpoints[0].(map[string]any)
		var found bool
		for _, svc := range m.services {
			if !matches(selector, svc.Labels) {
				continue
			}
			found = true
			if !strings.HasPrefix(svc.Labels[jobLabel], "callback-dispatcher-") {
				t.Errorf("Service %s: job label %s is %q", svc.Name, jobLabel,
					svc.Labels[jobLabel])
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
				return p.Name == endpoint["port"]
			}) || endpoint["path"] != "/metrics" {
				t.Errorf("ServiceMonitor %s scrapes %v%v, which Service %s lacks",
					sm.GetName(), endpoint["port"], endpoint["path"], svc.Name)
			}
		}
		if !found {
			t.Errorf("ServiceMonitor %s selects no Service", sm.GetName())
		}
	}
	if vc.monitoring {
		raw, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var file map[string]any
		if err := yaml.Unmarshal(raw, &file); err != nil {
			t.Fatal(err)
		}
		groups, _, _ := unstructured.NestedFieldNoCopy(m.custom["PrometheusRule"][0].Object,
			"spec", "groups")
		if !reflect.DeepEqual(groups, file["groups"]) {
			t.Error("the PrometheusRule's groups differ from files/alerts.yaml")
		}
	}
	dashboards, _ := filepath.Glob(filepath.Join(chartDir, "files", "dashboards", "*.json"))
	var configMaps []*corev1.ConfigMap
	for _, cm := range m.configMaps {
		if cm.Labels["grafana_dashboard"] == "1" {
			configMaps = append(configMaps, cm)
		}
	}
	switch {
	case !vc.monitoring || len(dashboards) == 0:
		if len(configMaps) > 0 {
			t.Errorf("dashboards ConfigMap %s rendered with no dashboards", configMaps[0].Name)
		}
	case len(configMaps) != 1 || len(configMaps[0].Data) != len(dashboards):
		t.Errorf("want one dashboards ConfigMap holding the %d files/dashboards", len(dashboards))
	}
}

// checkIMSProfiles checks that the profiles Secret is mounted read-only where
// IMS_PROFILES_FILE points, in both programs.
func checkIMSProfiles(t *testing.T, m *manifest, vc valuesCase) {
	t.Helper()
	if !vc.imsProfiles {
		return
	}
	for _, component := range []string{"worker", "producer"} {
		file := m.setting(t, component, "IMS_PROFILES_FILE")
		c := m.deployment(component).Spec.Template.Spec.Containers[0]
		if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool {
			return v.ReadOnly && filepath.Dir(file) == filepath.Clean(v.MountPath)
		}) {
			t.Errorf("%s: nothing is mounted read-only at %s", component, filepath.Dir(file))
		}
	}
}

// Values

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	if err := yaml.UnmarshalStrict(raw, &values); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return values
}

// freeForm are values whose contents are Kubernetes objects passed through
// as they are: the README documents them as a whole.
var freeForm = []string{"resources", "strategy", "livenessProbe", "readinessProbe",
	"namespaceSelector", "podSelector"}

// valuePaths lists the dotted paths of the leaves of a values tree.
func valuePaths(prefix string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 || slices.Contains(freeForm, prefix[strings.LastIndex(prefix, ".")+1:]) {
		return []string{prefix}
	}
	var paths []string
	for key, child := range m {
		paths = append(paths, valuePaths(strings.TrimPrefix(prefix+"."+key, "."), child)...)
	}
	slices.Sort(paths)
	return paths
}
