package kitcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Paths from this package's directory (go test runs tests there).
const (
	chartDirectory = "../helm/protrader5-ws"
	k8sDirectory   = "../k8s"
)

// object is one Kubernetes object as plain JSON values, so that objects from
// Helm and from kustomize compare with reflect.DeepEqual whatever YAML
// library produced them (ints and floats, key order, quoting).
type object map[string]any

func (o object) key() string {
	metadata, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v/%v", o["kind"], metadata["name"])
}

func decodeObject(t *testing.T, where string, document []byte) object {
	t.Helper()
	data, err := yaml.YAMLToJSON(document)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var decoded object
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return decoded
}

// renderChart renders the chart as `helm template` does, with the default
// values overlaid by overrides, and returns its objects by kind/name.
func renderChart(t *testing.T, overrides map[string]any) map[string]object {
	t.Helper()
	chart, err := loader.Load(chartDirectory)
	if err != nil {
		t.Fatal(err)
	}
	if err := chart.Validate(); err != nil {
		t.Fatal(err)
	}
	values, err := chartutil.ToRenderValues(chart, overrides, chartutil.ReleaseOptions{Name: "protrader5", Namespace: "default", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := engine.Render(chart, values)
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]object{}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range rendered {
			if !yield(name) {
				return
			}
		}
	}) {
		if !strings.HasSuffix(name, ".yaml") {
			continue // _helpers.tpl, NOTES.txt
		}
		for index, document := range strings.Split(rendered[name], "\n---") {
			if strings.TrimSpace(stripComments(document)) == "" {
				continue // a template switched off by its values
			}
			decoded := decodeObject(t, fmt.Sprintf("%s #%d", name, index), []byte(document))
			if _, dup := objects[decoded.key()]; dup {
				t.Fatalf("the chart renders %s twice", decoded.key())
			}
			objects[decoded.key()] = decoded
		}
	}
	return objects
}

func stripComments(document string) string {
	var kept []string
	for line := range strings.SplitSeq(document, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// buildKustomization runs kustomize (the library `kubectl apply -k` embeds)
// on a directory.
func buildKustomization(t *testing.T, directory string) map[string]object {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), directory)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", directory, err)
	}
	objects := map[string]object{}
	for _, resource := range resources.Resources() {
		document, err := resource.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		decoded := decodeObject(t, directory, document)
		objects[decoded.key()] = decoded
	}
	if len(objects) == 0 {
		t.Fatalf("kustomize build %s: no objects", directory)
	}
	return objects
}

// readObject reads a file of one object, as `kubectl apply -f` takes it.
func readObject(t *testing.T, path string) object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObject(t, path, data)
}

// compareObjects reports every object that one side has and the other lacks
// or has differently, with the first differing paths.
func compareObjects(t *testing.T, chartSide, want map[string]object, wantName string) {
	t.Helper()
	for _, key := range slices.Sorted(mapKeys(want)) {
		got, ok := chartSide[key]
		if !ok {
			t.Errorf("%s has %s; the chart does not render it", wantName, key)
			continue
		}
		if !reflect.DeepEqual(got, want[key]) {
			t.Errorf("%s differs between the chart and %s:\n%s", key, wantName, strings.Join(differences("", map[string]any(got), map[string]any(want[key])), "\n"))
		}
	}
	for _, key := range slices.Sorted(mapKeys(chartSide)) {
		if _, ok := want[key]; !ok {
			t.Errorf("the chart renders %s; %s has no such object", key, wantName)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for key := range m {
			if !yield(key) {
				return
			}
		}
	}
}

// differences lists the paths where two JSON values differ (chart vs want).
func differences(path string, got, want any) []string {
	gotMap, gotIsMap := got.(map[string]any)
	wantMap, wantIsMap := want.(map[string]any)
	if gotIsMap && wantIsMap {
		var out []string
		keys := map[string]bool{}
		for key := range gotMap {
			keys[key] = true
		}
		for key := range wantMap {
			keys[key] = true
		}
		for _, key := range slices.Sorted(mapKeys(keys)) {
			out = append(out, differences(path+"."+key, gotMap[key], wantMap[key])...)
		}
		return out
	}
	gotList, gotIsList := got.([]any)
	wantList, wantIsList := want.([]any)
	if gotIsList && wantIsList && len(gotList) == len(wantList) {
		var out []string
		for index := range gotList {
			out = append(out, differences(fmt.Sprintf("%s[%d]", path, index), gotList[index], wantList[index])...)
		}
		return out
	}
	if reflect.DeepEqual(got, want) {
		return nil
	}
	return []string{fmt.Sprintf("\t%s: chart %v, want %v", path, jsonText(got), jsonText(want))}
}

func jsonText(value any) string {
	data, _ := json.Marshal(value)
	return string(data)
}

// TestChartDefaultsAreTheKustomizeBase: `helm template` with the default
// values gives exactly the objects of `kubectl kustomize deploy/k8s`.
func TestChartDefaultsAreTheKustomizeBase(t *testing.T) {
	compareObjects(t, renderChart(t, nil), buildKustomization(t, k8sDirectory), "deploy/k8s")
}

// TestChartMonitoringIsTheMonitoringKustomization: monitoring.enabled adds
// the objects of deploy/k8s/monitoring and nothing else.
func TestChartMonitoringIsTheMonitoringKustomization(t *testing.T) {
	base := renderChart(t, nil)
	added := map[string]object{}
	for key, value := range renderChart(t, map[string]any{"monitoring": map[string]any{"enabled": true}}) {
		if previous, ok := base[key]; ok {
			if !reflect.DeepEqual(previous, value) {
				t.Errorf("monitoring.enabled changes %s", key)
			}
			continue
		}
		added[key] = value
	}
	compareObjects(t, added, buildKustomization(t, filepath.Join(k8sDirectory, "monitoring")), "deploy/k8s/monitoring")
}

// TestChartAlternativesAreTheExamples: the values that swap the Ingress for
// an HTTPRoute and the CPU HPA for the connections one render the objects of
// deploy/k8s/examples.
func TestChartAlternativesAreTheExamples(t *testing.T) {
	objects := renderChart(t, map[string]any{
		"ingress":     map[string]any{"enabled": false},
		"httpRoute":   map[string]any{"enabled": true},
		"autoscaling": map[string]any{"connections": map[string]any{"enabled": true}},
	})
	if _, ok := objects["Ingress/websocket-server"]; ok {
		t.Error("ingress.enabled=false still renders the Ingress")
	}
	for _, file := range []string{"httproute.yaml", "hpa-connections.yaml"} {
		want := readObject(t, filepath.Join(k8sDirectory, "examples", file))
		compareObjects(t, map[string]object{want.key(): objects[want.key()]}, map[string]object{want.key(): want}, "deploy/k8s/examples/"+file)
	}
}
