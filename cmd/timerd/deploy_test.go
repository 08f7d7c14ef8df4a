package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"

	"github.com/timerd/timerd/client"
	"github.com/timerd/timerd/internal/nodetest"
)

const deployDir = "../../docs/deploy"

// exportedMetrics scrapes a real node's /metrics and answers every sample
// name it exports (a histogram's _bucket, _sum and _count included).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProcess(t, t.TempDir(), freePort(t), "--http", httpAddr)
	// One fire, so every series that waits for one exists too.
	nc, err := nats.Connect(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := client.New(nc).Schedule(t.Context(), client.Timer{Subject: "deploy.x", In: 0}); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	nodetest.Eventually(t, 30*time.Second, func() error {
		code, body := httpGet("http://" + httpAddr + "/metrics")
		if code != 200 {
			return fmt.Errorf("/metrics: %d", code)
		}
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			names[line[:strings.IndexAny(line, "{ ")]] = true
		}
		if !names["timerd_fires_total"] || !strings.Contains(body, "timerd_fires_total 1") {
			return fmt.Errorf("no fire counted yet")
		}
		return nil
	})
	return names
}

// promqlMetrics answers the metric names a PromQL expression reads: the
// identifiers left once strings, label matchers, ranges, grouping lists,
// Grafana variables, function calls and keywords are taken out.
func promqlMetrics(expr string) []string {
	for _, re := range []string{
		`"(?:[^"\\]|\\.)*"`, `'(?:[^'\\]|\\.)*'`, // strings
		`\{[^}]*\}`,          // label matchers
		`\[[^\]]*\]`,         // ranges and subqueries
		`\$\{?[A-Za-z_]+\}?`, // Grafana variables
		`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`, // label lists
		`\boffset\s+\S+`,
	} {
		expr = regexp.MustCompile(re).ReplaceAllString(expr, " ")
	}
	keywords := map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "offset": true, "inf": true, "nan": true}
	var out []string
	for _, m := range regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`).FindAllStringSubmatchIndex(expr, -1) {
		word := expr[m[0]:m[1]]
		if m[2] >= 0 || keywords[strings.ToLower(word)] { // a call, or a keyword
			continue
		}
		if m[0] > 0 && (expr[m[0]-1] >= '0' && expr[m[0]-1] <= '9' || expr[m[0]-1] == '.') {
			continue // the exponent or unit of a number (1e6)
		}
		out = append(out, word)
	}
	return out
}

func TestPromqlMetrics(t *testing.T) {
	for expr, want := range map[string]string{
		`histogram_quantile(0.99, sum by (instance, le) (rate(timerd_fire_lag_seconds_bucket{job=~"$job"}[5m]))) > 1`: "timerd_fire_lag_seconds_bucket",
		`max(timerd_store_records) > 1.5 * max(timerd_store_records offset 6h) and sum(timerd_timers) < 1e5`:          "timerd_store_records timerd_store_records timerd_timers",
		`sum(timerd_shards_owned) == 0 or absent(timerd_ready == 1)`:                                                  "timerd_shards_owned timerd_ready",
		`max by (health) (timerd_nodes{health="lost", job=~"${job}"})`:                                                "timerd_nodes",
		`rate(process_cpu_seconds_total[$__rate_interval]) / on(instance) group_left up`:                              "process_cpu_seconds_total up",
	} {
		if got := strings.Join(promqlMetrics(expr), " "); got != want {
			t.Errorf("%s\n got %q\nwant %q", expr, got, want)
		}
	}
}

// dashboardExprs answers every query of the Grafana dashboard: the panels'
// targets, and the metric of each label_values() variable.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json is not valid JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if m := regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)`).FindStringSubmatch(v.Definition); m != nil {
			exprs = append(exprs, m[1])
		}
	}
	return exprs
}

// alertRules answers the alerting rules by name, each checked for what
// Prometheus and a person reading the alert need.
func alertRules(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a misspelt key is an error, as promtool says
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	rules := map[string]string{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %+v: want alert, expr, summary and description", r)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("rule %s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("rule %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("rule %s: unbalanced parentheses in %q", r.Alert, r.Expr)
			}
			rules[r.Alert] = r.Expr
		}
	}
	return rules
}

// The dashboard and the alert rules name only metrics a real node's
// /metrics exports, and the rules cover what an operator must hear of.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process")
	}
	exported := exportedMetrics(t)
	rules := alertRules(t)
	for _, name := range []string{"TimerdNodeNotReady", "TimerdNodeNotHealthy", "TimerdFireLagHigh", "TimerdFireErrors",
		"TimerdTimersSetAside", "TimerdNodesLost", "TimerdStoreRecordsGrowing", "TimerdNoShardsOwned", "TimerdNobodyFires"} {
		if rules[name] == "" {
			t.Errorf("alerts.yml has no rule %s", name)
		}
	}
	check := func(where string, exprs []string) {
		read := 0
		for _, expr := range exprs {
			names := promqlMetrics(expr)
			if len(names) == 0 {
				t.Errorf("%s: %q reads no metric", where, expr)
			}
			for _, name := range names {
				read++
				if !exported[name] {
					t.Errorf("%s: %q reads %s, which /metrics does not export", where, expr, name)
				}
			}
		}
		if read < 10 {
			t.Errorf("%s: only %d metric reads found; the parser missed the queries", where, read)
		}
	}
	check("grafana-dashboard.json", dashboardExprs(t))
	exprs := make([]string, 0, len(rules))
	for _, e := range rules {
		exprs = append(exprs, e)
	}
	check("alerts.yml", exprs)
}

// serveFlagNames are the flags of `timerd serve`.
func serveFlagNames(t *testing.T) map[string]bool {
	fs, _ := serveFlags(io.Discard)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// checkArgs fails for a --flag or TIMERD_* variable that serve does not have.
func checkArgs(t *testing.T, where string, args, env []string) {
	t.Helper()
	flags := serveFlagNames(t)
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: %s is not a flag of timerd serve", where, a)
			}
		}
	}
	for _, e := range env {
		name, ok := strings.CutPrefix(e, "TIMERD_")
		if !ok || !flags[strings.ReplaceAll(strings.ToLower(name), "_", "-")] {
			t.Errorf("%s: %s names no flag of timerd serve", where, e)
		}
	}
}

// The deployment files start timerd with flags and variables it has, and
// the Kubernetes manifests probe what docs/operations.md says.
func TestDeployFilesUseRealFlags(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "timerd.service"))
	if err != nil {
		t.Fatal(err)
	}
	var args, env []string
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			args = append(args, strings.Fields(v)...)
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			name, _, _ := strings.Cut(v, "=")
			env = append(env, name)
		}
	}
	if len(env) < 3 || !slices.Contains(args, "serve") {
		t.Fatalf("timerd.service: ExecStart %q, Environment %q", args, env)
	}
	checkArgs(t, "timerd.service", args, env)
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "LoadCredential=", "StateDirectory=timerd"} {
		if !strings.Contains(string(raw), "\n"+want) {
			t.Errorf("timerd.service has no %s", want)
		}
	}

	for file, kind := range map[string]string{"statefulset-embedded.yaml": "StatefulSet", "deployment-external-nats.yaml": "Deployment"} {
		f, err := os.Open(filepath.Join(deployDir, "k8s", file))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		found := false
		for {
			var doc k8sObject
			if err := dec.Decode(&doc); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if doc.Kind != kind {
				continue
			}
			found = true
			spec := doc.Spec.Template.Spec
			if len(spec.Containers) != 1 {
				t.Fatalf("%s: %d containers", file, len(spec.Containers))
			}
			c := spec.Containers[0]
			var env []string
			for _, e := range c.Env {
				env = append(env, e.Name)
			}
			checkArgs(t, file, c.Args, env)
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
				c.ReadinessProbe.HTTPGet.Port != "http" || !slices.ContainsFunc(c.Ports, func(p k8sPort) bool { return p.Name == "http" && p.ContainerPort == 8080 }) ||
				!slices.Contains(c.Args, "--http=0.0.0.0:8080") {
				t.Errorf("%s: probes %+v %+v, ports %+v, args %q: want /readyz and /healthz on the http port 8080", file, c.ReadinessProbe, c.LivenessProbe, c.Ports, c.Args)
			}
			if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
				t.Errorf("%s: no resource requests", file)
			}
			switch kind {
			case "StatefulSet":
				if len(doc.Spec.VolumeClaimTemplates) != 1 || !slices.Contains(c.Args, "--data=/data") {
					t.Errorf("%s: want a volume claim for --data", file)
				}
			case "Deployment":
				if doc.Spec.Replicas != 3 || !slices.Contains(c.Args, "--replicas=3") || !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--nats=") }) {
					t.Errorf("%s: want 3 replicas of timerd with --nats and --replicas=3", file)
				}
			}
		}
		f.Close()
		if !found {
			t.Errorf("%s has no %s", file, kind)
		}
	}
}

type k8sPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// k8sObject is the part of a manifest the test reads.
type k8sObject struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Replicas             int   `yaml:"replicas"`
		VolumeClaimTemplates []any `yaml:"volumeClaimTemplates"`
		Template             struct {
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
					Env  []struct {
						Name string `yaml:"name"`
					} `yaml:"env"`
					Ports          []k8sPort `yaml:"ports"`
					ReadinessProbe k8sProbe  `yaml:"readinessProbe"`
					LivenessProbe  k8sProbe  `yaml:"livenessProbe"`
					Resources      struct {
						Requests map[string]string `yaml:"requests"`
					} `yaml:"resources"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}
