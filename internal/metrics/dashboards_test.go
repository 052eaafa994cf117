package metrics

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/callback-dispatcher/dispatcher/internal/ims"
	"github.com/callback-dispatcher/dispatcher/internal/testenv"
)

// The canonical dashboards and rules, and the Helm chart's copies of them.
const (
	dashboardsDir = "grafana"
	rulesFile     = "deploy/prometheus/alerts.yaml"
	rulesTestFile = "deploy/prometheus/alerts_test.yaml"
	runbooksFile  = "docs/runbooks.md"
	chartFiles    = "deploy/helm/callback-dispatcher/files"
	runbookURL    = "https://github.com/callback-dispatcher/dispatcher/blob/main/docs/runbooks.md#"
)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// variable is a dashboard's template variable.
type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource json.RawMessage `json:"datasource"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Expr       string          `json:"expr"`
		RefID      string          `json:"refId"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	// Panels are those of a collapsed row.
	Panels []panel `json:"panels"`
}

// all returns the dashboard's panels, those of collapsed rows included.
func (d dashboard) all() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// readDashboards reads every grafana/*.json, by file name.
func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	root := testenv.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func TestChartCopiesMatchTheCanonicalFiles(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot(t)
	pairs := [][2]string{{rulesFile, filepath.Join(chartFiles, "alerts.yaml")}}
	for name := range readDashboards(t) {
		pairs = append(pairs, [2]string{filepath.Join(dashboardsDir, name),
			filepath.Join(chartFiles, "dashboards", name)})
	}
	for _, p := range pairs {
		want, err := os.ReadFile(filepath.Join(root, p[0]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, p[1]))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not a copy of %s (%v): cp %s %s", p[1], p[0], err, p[0], p[1])
		}
	}
	copies, _ := filepath.Glob(filepath.Join(root, chartFiles, "dashboards", "*.json"))
	if len(copies) != len(pairs)-1 {
		t.Errorf("the chart has %d dashboards, %s has %d", len(copies), dashboardsDir,
			len(pairs)-1)
	}
}

func TestDashboardsAreImportable(t *testing.T) {
	t.Parallel()
	const datasource = `{"type":"prometheus","uid":"${datasource}"}`
	uids := map[string]bool{}
	for name, d := range readDashboards(t) {
		t.Run(name, func(t *testing.T) {
			if d.UID == "" || uids[d.UID] || d.Title == "" {
				t.Errorf("uid %q (unique: %t), title %q", d.UID, !uids[d.UID], d.Title)
			}
			uids[d.UID] = true
			if d.SchemaVersion < 36 {
				t.Errorf("schemaVersion %d predates the datasource references used",
					d.SchemaVersion)
			}
			if !slices.ContainsFunc(d.Templating.List, func(v variable) bool {
				return v.Name == "datasource" && v.Type == "datasource" &&
					string(v.Query) == `"prometheus"`
			}) {
				t.Error("no datasource variable of type prometheus")
			}
			for _, v := range d.Templating.List {
				if v.Type == "query" && compact(v.Datasource) != datasource {
					t.Errorf("variable %s uses datasource %s", v.Name, v.Datasource)
				}
			}
			ids := map[int]bool{}
			for _, p := range d.all() {
				if ids[p.ID] {
					t.Errorf("panel id %d is used twice", p.ID)
				}
				ids[p.ID] = true
				if p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
					t.Errorf("panel %q lies outside the grid: %+v", p.Title, p.GridPos)
				}
				if p.Type == "row" {
					continue
				}
				if compact(p.Datasource) != datasource || len(p.Targets) == 0 {
					t.Errorf("panel %q: datasource %s, %d targets", p.Title, p.Datasource,
						len(p.Targets))
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" ||
						compact(tg.Datasource) != datasource {
						t.Errorf("panel %q target %s: expr %q, datasource %s", p.Title,
							tg.RefID, tg.Expr, tg.Datasource)
					}
				}
			}
		})
	}
}

// compact returns raw without insignificant spaces.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// rules is the part of a Prometheus rules file the tests read.
type rules struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func TestEachAlertHasARunbookAndATest(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot(t)
	var file rules
	readYAML(t, filepath.Join(root, rulesFile), &file)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string            `json:"alertname"`
				ExpAlerts []json.RawMessage `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, filepath.Join(root, rulesTestFile), &tests)
	firing := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			firing[a.Alertname] = firing[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	runbooks, err := os.ReadFile(filepath.Join(root, runbooksFile))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			if want := runbookURL + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !bytes.Contains(runbooks, []byte("\n## "+r.Alert+"\n")) {
				t.Errorf("%s has no section in %s", r.Alert, runbooksFile)
			}
			if !firing[r.Alert] {
				t.Errorf("%s has no test in %s that expects it to fire", r.Alert, rulesTestFile)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s has no rules", rulesFile)
	}
}

// TestQueriesUseExportedMetrics fails when a dashboard panel or an alert
// names a metric no collector of ours (nor Prometheus' own up) exports.
func TestQueriesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	known := exportedNames(t)
	var exprs []string
	for name, d := range readDashboards(t) {
		for _, p := range d.all() {
			for _, tg := range p.Targets {
				exprs = append(exprs, name+": "+tg.Expr)
			}
		}
	}
	var file rules
	readYAML(t, filepath.Join(testenv.RepoRoot(t), rulesFile), &file)
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Alert+": "+r.Expr)
		}
	}
	for _, e := range exprs {
		where, expr, _ := strings.Cut(e, ": ")
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", where, expr)
		}
		for _, n := range names {
			if !known[n] {
				t.Errorf("%s: %s is not exported (in %q)", where, n, expr)
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (le, outcome) (rate(a_bucket{x=~"y|z"}[$__rate_interval]))`, []string{"a_bucket"}},
		{`histogram_quantile(0.95, sum(rate(b[5m]))) / c`, []string{"b", "c"}},
		{`(sum by (namespace) (up{job="w"}) == 0) or absent(up{job="w"})`, []string{"up", "up"}},
		{`max by (queue) (d{queue=~"$queue"}) > 300`, []string{"d"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	bracketed = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	grouping  = regexp.MustCompile(
		`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	keywords   = []string{"and", "or", "unless", "bool", "offset", "by", "without"}
)

// metricNames returns the metric names a PromQL expression selects, in
// order: identifiers that are neither functions, keywords, labels nor
// inside strings, selectors or ranges.
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = bracketed.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	var names []string
	for _, m := range identifier.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || slices.Contains(keywords, m[0]) {
			continue
		}
		names = append(names, m[0])
	}
	return names
}

// exportedNames returns the names of every series our processes export:
// the worker's, the producer's, the IMS token cache's and the shared
// gauges, histograms with their _bucket, _sum and _count, and up.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := &recorder{}
	if _, err := NewWorker(reg, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProducer(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := ims.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	conn, _ := testenv.Redis(t)
	shared, err := StartShared(reg, SharedConfig{Redis: conn.Client, Queue: "names",
		Store: migratedStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	shared.Stop()

	known := map[string]bool{"up": true}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range reg.collectors {
		ch := make(chan *prometheus.Desc)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		_, histogram := c.(*prometheus.HistogramVec)
		if _, ok := c.(prometheus.Histogram); ok {
			histogram = true
		}
		for d := range ch {
			name := fqName.FindStringSubmatch(d.String())[1]
			known[name] = true
			if histogram {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					known[name+suffix] = true
				}
			}
		}
	}
	return known
}

// recorder is a prometheus.Registerer that keeps what is registered.
type recorder struct{ collectors []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
