package kitcheck

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

const (
	dashboardPath = "../grafana/protrader5-ws.json"
	rulesPath     = "../k8s/monitoring/prometheusrule.yaml"
	repoRoot      = "../.."
)

// externalMetrics come from elsewhere than the gateway: kube-state-metrics
// for the readiness alert.
var externalMetrics = []string{
	"kube_deployment_spec_replicas",
	"kube_deployment_status_replicas_available",
}

// grafanaVariables stand in for Grafana's interval variables, which are
// not PromQL; label values like "$pod" are plain strings to the parser.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues matches Grafana's label_values(<selector>, <label>) query.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// expression is one PromQL expression and where it comes from.
type expression struct{ where, text string }

func dashboardExpressions(t *testing.T) []expression {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []expression
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			for _, target := range p.Targets {
				out = append(out, expression{fmt.Sprintf("dashboard panel %q %s", p.Title, target.RefID), grafanaVariables.Replace(target.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(dashboard.Panels)
	for _, variable := range dashboard.Templating.List {
		if variable.Type != "query" {
			continue
		}
		match := labelValues.FindStringSubmatch(variable.Definition)
		if match == nil {
			t.Errorf("dashboard variable %s: %q is not label_values(selector, label)", variable.Name, variable.Definition)
			continue
		}
		out = append(out, expression{"dashboard variable " + variable.Name, match[1]})
	}
	return out
}

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func ruleExpressions(t *testing.T) []expression {
	t.Helper()
	data, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert  string `json:"alert"`
					Record string `json:"record"`
					Expr   string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	var out []expression
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			out = append(out, expression{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	return out
}

// metricNames parses an expression and returns the metric name of every
// selector in it; a selector without a name is an error, since nothing could
// then be checked.
func metricNames(text string) ([]string, error) {
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(text)
	if err != nil {
		return nil, err
	}
	var names []string
	var problem error
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		selector, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := selector.Name
		for _, matcher := range selector.LabelMatchers {
			if matcher.Name == labels.MetricName && matcher.Type == labels.MatchEqual {
				name = matcher.Value
			}
		}
		if name == "" {
			problem = fmt.Errorf("selector %s names no metric", selector)
		}
		names = append(names, name)
		return nil
	})
	return names, problem
}

// TestExpressionsParse: every expression is valid PromQL and names metrics.
func TestExpressionsParse(t *testing.T) {
	all := append(dashboardExpressions(t), ruleExpressions(t)...)
	if len(all) < 20 {
		t.Fatalf("found %d expressions; the files were not read as expected", len(all))
	}
	for _, e := range all {
		names, err := metricNames(e.text)
		if err != nil {
			t.Errorf("%s: %v\n\t%s", e.where, err, e.text)
		} else if len(names) == 0 {
			t.Errorf("%s names no metric: %s", e.where, e.text)
		}
	}
}

// TestExpressionsUseExportedMetrics compares the metrics the dashboard and
// the alerts use with those a gateway exports on its first scrape: with
// Redis and USER_STREAMS=streams, so that the Redis and stream series are
// there too (docs/operations.md#metrics says which exist when).
func TestExpressionsUseExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a gateway and redis-server")
	}
	exported := firstScrape(t)
	allowed := map[string]string{}
	for _, name := range externalMetrics {
		allowed[name] = "external"
	}
	used := map[string]bool{}
	for _, e := range append(dashboardExpressions(t), ruleExpressions(t)...) {
		names, err := metricNames(e.text)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		for _, name := range names {
			base := name
			// A histogram's family is exported as name_bucket, _sum and
			// _count series; a summary's as name, _sum and _count.
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if trimmed, ok := strings.CutSuffix(name, suffix); ok && (exported[trimmed] || allowed[trimmed] != "") {
					base = trimmed
				}
			}
			used[base] = true
			if !exported[base] && allowed[base] == "" {
				t.Errorf("%s uses %s, which the gateway does not export", e.where, name)
			}
		}
	}
	t.Logf("%d metrics used, %d exported on the first scrape", len(used), len(exported))
}

// firstScrape builds the gateway as `make build` does (without the stamps),
// starts it against a throw-away redis-server and returns the metric family
// names of its first /metrics answer once it is ready.
func firstScrape(t *testing.T) map[string]bool {
	t.Helper()
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (make test-deps installs it)")
	}
	directory := t.TempDir()
	binary := filepath.Join(directory, "protrader5-ws")
	build := exec.Command("go", "build", "-o", binary, "./cmd/protrader5-ws")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, output)
	}
	redisPort := freePort(t)
	start(t, directory, nil, redisServer, "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	port, metricsPort := freePort(t), freePort(t)
	gatewayLog := start(t, directory, []string{
		"NODE_ENV=test", "LOG_DIR=", "USER_STREAMS=streams",
		"PORT=" + strconv.Itoa(port), "METRICS_PORT=" + strconv.Itoa(metricsPort),
		"REDIS_URL=redis://127.0.0.1:" + strconv.Itoa(redisPort),
	}, binary, "serve")
	client := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		response, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/ready")
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway is not ready after 20 s (%v)\n%s", err, gatewayLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
	response, err := client.Get("http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	textParser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := textParser.TextToMetricFamilies(response.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	names := map[string]bool{}
	for name := range families {
		names[name] = true
	}
	for _, want := range []string{"protrader5_sockets", "protrader5_redis_subscribed", "protrader5_redis_stream_lag_seconds"} {
		if !names[want] {
			t.Fatalf("the first scrape lacks %s; the gateway did not start as intended: %v", want, slices.Sorted(mapKeys(names)))
		}
	}
	return names
}

// start runs a process until the test ends and returns its output buffer.
func start(t *testing.T, directory string, environment []string, path string, arguments ...string) *strings.Builder {
	t.Helper()
	output := &strings.Builder{}
	command := exec.Command(path, arguments...)
	command.Dir = directory
	command.Env = append([]string{"PATH=" + os.Getenv("PATH")}, environment...)
	command.Stdout, command.Stderr = output, output
	if err := command.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	done := make(chan struct{})
	go func() {
		_ = command.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = command.Process.Kill()
		<-done
	})
	return output
}

func freePort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}
