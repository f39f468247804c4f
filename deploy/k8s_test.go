package deploy

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// goRuntimeVariables are read by the Go runtime, not by config_load.go.
var goRuntimeVariables = map[string]bool{"GOMEMLIMIT": true, "GOMEMLIMIT_MIB": true}

func helmValues(t *testing.T) map[string]any {
	t.Helper()
	return yamlDocument(t, "deploy/helm/protrader5-ws/values.yaml")
}

// TestChartValuesAreTheConfigMap: the chart's config values are the
// ConfigMap's data, so TestConfigMapDefaults holds for them too (kitcheck
// renders the chart and compares every object with the kustomize build).
func TestChartValuesAreTheConfigMap(t *testing.T) {
	configMap, _ := dig(k8sManifest(t, "configmap.yaml"), "data").(map[string]any)
	values, _ := dig(helmValues(t), "config").(map[string]any)
	for _, name := range sortedKeys(configMap) {
		got, ok := values[name]
		if _, isString := got.(string); !ok || !isString || got != configMap[name] {
			t.Errorf("helm values.yaml config.%s = %#v; configmap.yaml has %q", name, got, configMap[name])
		}
	}
	for _, name := range sortedKeys(values) {
		if _, ok := configMap[name]; !ok {
			t.Errorf("helm values.yaml config.%s is not in configmap.yaml", name)
		}
	}
}

// quantityBytes reads the binary-suffixed Kubernetes quantities the
// manifests use (512Mi, 1Gi, 1138Ki).
func quantityBytes(t *testing.T, quantity string) float64 {
	t.Helper()
	match := regexp.MustCompile(`^(\d+)(Ki|Mi|Gi)?$`).FindStringSubmatch(quantity)
	if match == nil {
		t.Fatalf("quantity %q: want digits and Ki, Mi or Gi", quantity)
	}
	number, _ := strconv.ParseFloat(match[1], 64)
	return number * map[string]float64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[match[2]]
}

// TestGoMemoryLimit: GOMEMLIMIT is derived from limits.memory through the
// downward API and comes out near 90 % of it, in a unit Go understands.
func TestGoMemoryLimit(t *testing.T) {
	container := deploymentContainer(t)
	env := map[string]any{}
	order := map[string]int{}
	for index, entry := range dig(container, "env").([]any) {
		name := fmt.Sprint(dig(entry, "name"))
		env[name], order[name] = entry, index
	}
	field := dig(env["GOMEMLIMIT_MIB"], "valueFrom", "resourceFieldRef")
	if dig(field, "resource") != "limits.memory" || dig(field, "containerName") != dig(container, "name") {
		t.Fatalf("GOMEMLIMIT_MIB must come from this container's limits.memory, got %v", field)
	}
	if got := dig(env["GOMEMLIMIT"], "value"); got != "$(GOMEMLIMIT_MIB)MiB" {
		t.Fatalf("GOMEMLIMIT = %v; want $(GOMEMLIMIT_MIB)MiB (without a unit Go reads bytes)", got)
	}
	// Kubernetes expands $(NAME) only for variables defined before it.
	if order["GOMEMLIMIT_MIB"] > order["GOMEMLIMIT"] {
		t.Error("GOMEMLIMIT_MIB must come before GOMEMLIMIT in env")
	}
	limit := quantityBytes(t, fmt.Sprint(dig(container, "resources", "limits", "memory")))
	divisor := quantityBytes(t, fmt.Sprint(dig(field, "divisor")))
	// The downward API rounds up: ceil(limit / divisor).
	goMemLimit := math.Ceil(limit/divisor) * (1 << 20)
	if ratio := goMemLimit / limit; ratio < 0.85 || ratio > 0.95 {
		t.Errorf("GOMEMLIMIT is %.1f %% of limits.memory; want about 90 %%", 100*ratio)
	}
	// The comment's worked example must be what Kubernetes computes.
	deployment := readRepoFile(t, "deploy/k8s/deployment.yaml")
	if want := fmt.Sprintf("GOMEMLIMIT=%.0fMiB", goMemLimit/(1<<20)); !strings.Contains(deployment, want) {
		t.Errorf("deployment.yaml's GOMEMLIMIT comment should name %s", want)
	}
}

// TestDeploymentScheduling: an explicit pull policy and a spread over zones.
func TestDeploymentScheduling(t *testing.T) {
	container := deploymentContainer(t)
	if policy := dig(container, "imagePullPolicy"); policy != "IfNotPresent" && policy != "Always" {
		t.Errorf("deployment.yaml imagePullPolicy = %v; want it explicit", policy)
	}
	spread := dig(k8sManifest(t, "deployment.yaml"), "spec", "template", "spec", "topologySpreadConstraints", 0)
	if dig(spread, "topologyKey") != "topology.kubernetes.io/zone" || dig(spread, "labelSelector", "matchLabels", "app") != "websocket-server" {
		t.Errorf("deployment.yaml: want a topology spread of the pods over topology.kubernetes.io/zone, got %v", spread)
	}
}

// TestSizingMatchesTheREADME: the per-socket memory figure of the sizing
// comments is the README's measured one.
func TestSizingMatchesTheREADME(t *testing.T) {
	readmeFigure := regexp.MustCompile(`about ([\d.]+ KiB) of RSS`).FindStringSubmatch(readRepoFile(t, "README.md"))
	if readmeFigure == nil {
		t.Fatal("README.md: no `about N KiB of RSS` per connection")
	}
	for _, path := range []string{"deploy/k8s/deployment.yaml", "deploy/k8s/examples/hpa-connections.yaml", "deploy/helm/protrader5-ws/values.yaml"} {
		text := readRepoFile(t, path)
		figures := regexp.MustCompile(`([\d.]+ ?[KM]i?B) (?:of RSS )?(?:per|each)`).FindAllStringSubmatch(text, -1)
		figures = append(figures, regexp.MustCompile(`\(about ([\d.]+ ?[KM]i?B) each\)`).FindAllStringSubmatch(text, -1)...)
		if len(figures) == 0 {
			t.Errorf("%s gives no per-socket memory figure", path)
		}
		for _, figure := range figures {
			if figure[1] != readmeFigure[1] {
				t.Errorf("%s: per-socket figure %s; README.md measures %s", path, figure[1], readmeFigure[1])
			}
		}
	}
}

// TestMonitoringWiring: the ServiceMonitor reaches the pods' metrics port
// through the headless Service, and every alert has a runbook section.
func TestMonitoringWiring(t *testing.T) {
	monitoring := func(name string) map[string]any {
		return k8sManifest(t, filepath.Join("monitoring", name))
	}
	metricsPort := fmt.Sprint(dig(k8sManifest(t, "configmap.yaml"), "data", "METRICS_PORT"))
	service := monitoring("service-metrics.yaml")
	if dig(service, "spec", "clusterIP") != "None" {
		t.Error("service-metrics.yaml must be headless: nothing routes to it")
	}
	if got := fmt.Sprint(dig(service, "spec", "ports", 0, "port")); got != metricsPort || dig(service, "spec", "ports", 0, "targetPort") != "metrics" {
		t.Errorf("service-metrics.yaml port %s -> %v; want %s -> the container port named metrics", got, dig(service, "spec", "ports", 0, "targetPort"), metricsPort)
	}
	if dig(service, "spec", "selector", "app") != dig(k8sManifest(t, "deployment.yaml"), "spec", "template", "metadata", "labels", "app") {
		t.Error("service-metrics.yaml does not select the gateway pods")
	}
	monitor := monitoring("servicemonitor.yaml")
	serviceLabels, _ := dig(service, "metadata", "labels").(map[string]any)
	selector, _ := dig(monitor, "spec", "selector", "matchLabels").(map[string]any)
	for key, value := range selector {
		if serviceLabels[key] != value {
			t.Errorf("servicemonitor.yaml selects %s=%v; service-metrics.yaml has %v", key, value, serviceLabels[key])
		}
	}
	if dig(selector, "app.kubernetes.io/component") == nil {
		t.Error("servicemonitor.yaml must not also select service.yaml (it has no metrics port)")
	}
	if dig(monitor, "spec", "endpoints", 0, "port") != dig(service, "spec", "ports", 0, "name") {
		t.Error("servicemonitor.yaml endpoint port is not service-metrics.yaml's port name")
	}

	readme := readRepoFile(t, "deploy/README.md")
	anchors := map[string]bool{}
	for _, heading := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(readme, -1) {
		anchors[githubAnchor(heading[1])] = true
	}
	wantAlerts := []string{"slow_consumer", "protrader5_redis_subscribed", "protrader5_ingest_rejects_total",
		"histogram_quantile(0.99", "protrader5_pending_bytes", "kube_deployment_status_replicas_available"}
	rules := readRepoFile(t, "deploy/k8s/monitoring/prometheusrule.yaml")
	for _, want := range wantAlerts {
		if !strings.Contains(rules, want) {
			t.Errorf("prometheusrule.yaml has no alert on %s", want)
		}
	}
	groups, _ := dig(monitoring("prometheusrule.yaml"), "spec", "groups").([]any)
	alerts := 0
	for _, group := range groups {
		ruleList, _ := dig(group, "rules").([]any)
		for _, rule := range ruleList {
			alerts++
			name := fmt.Sprint(dig(rule, "alert"))
			runbook := fmt.Sprint(dig(rule, "annotations", "runbook_url"))
			section, ok := strings.CutPrefix(runbook, "deploy/README.md#")
			if !ok || !anchors[section] || section != strings.ToLower(name) {
				t.Errorf("alert %s: runbook_url %q; want deploy/README.md#%s, a heading of deploy/README.md", name, runbook, strings.ToLower(name))
			}
			if dig(rule, "labels", "severity") == nil || dig(rule, "for") == nil {
				t.Errorf("alert %s needs a severity and a for:", name)
			}
		}
	}
	if alerts < len(wantAlerts) {
		t.Errorf("prometheusrule.yaml: %d alerts; want at least %d", alerts, len(wantAlerts))
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	heading = strings.ToLower(strings.TrimSpace(heading))
	var out strings.Builder
	for _, r := range heading {
		switch {
		case r == ' ':
			out.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			out.WriteRune(r)
		}
	}
	return out.String()
}

// TestAlternativesTargetTheBase: the examples replace base objects of the
// same name (apply one or the other) and point at the base's objects.
func TestAlternativesTargetTheBase(t *testing.T) {
	example := func(name string) map[string]any { return k8sManifest(t, filepath.Join("examples", name)) }
	hpa := example("hpa-connections.yaml")
	if dig(hpa, "metadata", "name") != dig(k8sManifest(t, "hpa.yaml"), "metadata", "name") ||
		dig(hpa, "spec", "scaleTargetRef", "name") != dig(k8sManifest(t, "deployment.yaml"), "metadata", "name") {
		t.Error("examples/hpa-connections.yaml must replace hpa.yaml and scale the Deployment")
	}
	if dig(hpa, "spec", "metrics", 0, "pods", "metric", "name") != "protrader5_sockets" ||
		!strings.Contains(readRepoFile(t, "engine/metrics.go"), `"protrader5_sockets"`) {
		t.Error("examples/hpa-connections.yaml must scale on protrader5_sockets, a metric the engine exports")
	}
	route := example("httproute.yaml")
	service := k8sManifest(t, "service.yaml")
	backend := dig(route, "spec", "rules", 0, "backendRefs", 0)
	if dig(backend, "name") != dig(service, "metadata", "name") || fmt.Sprint(dig(backend, "port")) != fmt.Sprint(dig(service, "spec", "ports", 0, "port")) {
		t.Errorf("examples/httproute.yaml backend %v is not service.yaml's client port", backend)
	}
	_, defaults := envExample(t)
	if got := dig(route, "spec", "rules", 0, "matches", 0, "path", "value"); got != defaults["SOCKETIO_PATH"] {
		t.Errorf("examples/httproute.yaml path %v; want SOCKETIO_PATH %s", got, defaults["SOCKETIO_PATH"])
	}
	if dig(route, "spec", "rules", 0, "sessionPersistence", "sessionName") != "pt5_node" {
		t.Error("examples/httproute.yaml must keep polling sessions sticky with the pt5_node cookie")
	}
}
