package deploy

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Static checks: the deploy files agree with the gateway's configuration,
// its endpoints and its build. Nothing here needs a container engine.

func TestYAMLFilesParse(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"*.yml", "*.yaml", "k8s/*.yaml", "k8s/*/*.yaml", "helm/*/*.yaml", "helm/*/files/*.yaml"} {
		matches, _ := filepath.Glob(pattern)
		paths = append(paths, matches...)
	}
	if len(paths) < 9 {
		t.Fatalf("found %d YAML files: %v", len(paths), paths)
	}
	for _, path := range paths {
		documents := yamlDocuments(t, filepath.Join("deploy", path))
		if len(documents) == 0 {
			t.Errorf("%s: no YAML document", path)
		}
		if !strings.HasPrefix(path, "k8s/") {
			continue
		}
		for _, document := range documents {
			for _, field := range []string{"apiVersion", "kind"} {
				if value, _ := document[field].(string); value == "" {
					t.Errorf("%s: a document has no %s", path, field)
				}
			}
			if document["kind"] != "Kustomization" && dig(document, "metadata", "name") == nil {
				t.Errorf("%s: %v has no metadata.name", path, document["kind"])
			}
		}
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	var listed []string
	for _, resource := range dig(k8sManifest(t, "kustomization.yaml"), "resources").([]any) {
		listed = append(listed, fmt.Sprint(resource))
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	var want []string
	for _, file := range files {
		if name := filepath.Base(file); name != "kustomization.yaml" {
			want = append(want, name)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("kustomization.yaml resources = %v; want every manifest of k8s/: %v", listed, want)
	}
	// kubectl's built-in kustomize checks references and the image
	// transformer; CI machines without kubectl skip this part.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed: kustomize build not checked")
		return
	}
	output, err := exec.Command(kubectl, "kustomize", "k8s").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/k8s: %v\n%s", err, output)
	}
	if got := bytes.Count(output, []byte("\n---\n")) + 1; got != len(want) {
		t.Errorf("kubectl kustomize produced %d objects; want %d", got, len(want))
	}
}

func TestEveryVariableSetIsReadByTheGateway(t *testing.T) {
	variables := gatewayVariables(t)
	check := func(where string, names []string) {
		t.Helper()
		if len(names) == 0 {
			t.Errorf("%s sets no variable; the parse must have failed", where)
		}
		for _, name := range names {
			if !variables[name] {
				t.Errorf("%s sets %s, which cmd/protrader5-ws/config_load.go never reads", where, name)
			}
		}
	}
	for name, service := range composeGateways(t) {
		check("docker-compose.yml service "+name, sortedKeys(composeEnvironment(t, service)))
	}
	configMap, _ := dig(k8sManifest(t, "configmap.yaml"), "data").(map[string]any)
	check("configmap.yaml", sortedKeys(configMap))
	var deploymentEnv []string
	for _, entry := range dig(deploymentContainer(t), "env").([]any) {
		// The Go runtime's own variables (TestGoMemoryLimit checks them).
		if name := fmt.Sprint(dig(entry, "name")); !goRuntimeVariables[name] {
			deploymentEnv = append(deploymentEnv, name)
		}
	}
	check("deployment.yaml", deploymentEnv)
	chartConfig, _ := dig(helmValues(t), "config").(map[string]any)
	check("helm values.yaml config", sortedKeys(chartConfig))
	check("Dockerfile", sortedKeys(dockerfileEnv(t)))
	names, _ := envExample(t)
	check(".env.example", names)
}

// TestConfigMapDefaults: the ConfigMap holds every variable of .env.example
// but the secret, each with the .env.example default unless its line says
// `# differs: <why>`.
func TestConfigMapDefaults(t *testing.T) {
	names, defaults := envExample(t)
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/k8s/configmap.yaml")), &root); err != nil {
		t.Fatal(err)
	}
	data := mappingValue(root.Content[0], "data")
	if data == nil || data.Kind != yaml.MappingNode {
		t.Fatal("configmap.yaml: no data mapping")
	}
	seen := map[string]bool{}
	for index := 0; index+1 < len(data.Content); index += 2 {
		key, value := data.Content[index], data.Content[index+1]
		name := key.Value
		seen[name] = true
		want, known := defaults[name]
		if !known {
			t.Errorf("configmap.yaml sets %s, which .env.example does not list", name)
			continue
		}
		comment := value.LineComment + key.LineComment
		reason, differs := strings.CutPrefix(strings.TrimSpace(comment), "# differs:")
		switch {
		case differs && strings.TrimSpace(reason) == "":
			t.Errorf("configmap.yaml %s: `# differs:` needs a reason", name)
		case differs && value.Value == want:
			t.Errorf("configmap.yaml %s = %q is the default; drop the stale `# differs:` comment", name, value.Value)
		case !differs && value.Value != want:
			t.Errorf("configmap.yaml %s = %q; .env.example has %q (add `# differs: <why>` if on purpose)", name, value.Value, want)
		}
		if value.Tag != "!!str" {
			t.Errorf("configmap.yaml %s = %s is a %s; ConfigMap values must be quoted strings", name, value.Value, value.Tag)
		}
	}
	for _, name := range names {
		if name == "JWT_SECRET" {
			if seen[name] {
				t.Error("configmap.yaml holds JWT_SECRET; it belongs in secret.yaml")
			}
			continue
		}
		if !seen[name] {
			t.Errorf("configmap.yaml lacks %s (.env.example lists it)", name)
		}
	}
}

// TestEndpointsAndPorts: every probe and port in the deploy files is one
// the server has.
func TestEndpointsAndPorts(t *testing.T) {
	_, defaults := envExample(t)
	port := defaults["PORT"]
	if port == "" {
		t.Fatal(".env.example has no PORT")
	}
	engineHTTP := readRepoFile(t, "engine/http.go")
	for _, path := range []string{"/health", "/ready"} {
		if !strings.Contains(engineHTTP, `HandleFunc("`+path+`"`) {
			t.Fatalf("engine/http.go no longer serves %s: update the probes", path)
		}
	}

	lines := dockerfileLines(t)
	if !slices.Contains(lines, "EXPOSE "+port) {
		t.Errorf("Dockerfile: want EXPOSE %s", port)
	}
	// The health subcommand fetches /health on PORT (TestHealthcheckCommand
	// runs it against a gateway).
	healthcheck := lineWithPrefix(lines, "HEALTHCHECK ")
	if want := `CMD ["/usr/local/bin/protrader5-ws", "health"]`; !strings.HasSuffix(healthcheck, want) {
		t.Errorf("Dockerfile HEALTHCHECK %q; want it to end %s (exec form: the image has no shell)", healthcheck, want)
	}

	haproxy := readRepoFile(t, "deploy/haproxy.cfg")
	for _, want := range []string{"option httpchk GET /ready", "http-check expect status 200", "bind :" + port, "timeout tunnel 1h", "cookie "} {
		if !strings.Contains(haproxy, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	servers := haproxyServer.FindAllStringSubmatch(haproxy, -1)
	gateways := composeGateways(t)
	if len(servers) != len(gateways) {
		t.Errorf("haproxy.cfg has %d servers; compose has %d gateways", len(servers), len(gateways))
	}
	for _, server := range servers {
		if _, ok := gateways[server[2]]; !ok || server[3] != port {
			t.Errorf("haproxy.cfg server %s %s:%s is not a compose gateway on port %s", server[1], server[2], server[3], port)
		}
	}
	for name, service := range gateways {
		if got := composeEnvironment(t, service)["PORT"]; got != port {
			t.Errorf("docker-compose.yml %s PORT = %q; haproxy.cfg expects %s", name, got, port)
		}
	}
	published := fmt.Sprint(dig(composeFile(t), "services", "haproxy", "ports"))
	if published != "["+port+":"+port+"]" {
		t.Errorf("docker-compose.yml haproxy ports = %s; want the one port %s:%s", published, port, port)
	}

	container := deploymentContainer(t)
	if got := fmt.Sprint(dig(container, "ports", 0, "containerPort")); got != port {
		t.Errorf("deployment.yaml containerPort = %s; want %s", got, port)
	}
	portName := fmt.Sprint(dig(container, "ports", 0, "name"))
	for probe, path := range map[string]string{"readinessProbe": "/ready", "livenessProbe": "/health"} {
		if got := fmt.Sprint(dig(container, probe, "httpGet", "path")); got != path {
			t.Errorf("deployment.yaml %s path = %s; want %s", probe, got, path)
		}
		if got := fmt.Sprint(dig(container, probe, "httpGet", "port")); got != portName && got != port {
			t.Errorf("deployment.yaml %s port = %s; want %s", probe, got, portName)
		}
	}
	service := k8sManifest(t, "service.yaml")
	if got := fmt.Sprint(dig(service, "spec", "ports", 0, "targetPort")); got != portName && got != port {
		t.Errorf("service.yaml targetPort = %s; want %s", got, portName)
	}
	servicePortName := fmt.Sprint(dig(service, "spec", "ports", 0, "name"))
	ingress := k8sManifest(t, "ingress.yaml")
	backend := dig(ingress, "spec", "rules", 0, "http", "paths", 0, "backend", "service")
	if got := fmt.Sprint(dig(backend, "name")); got != fmt.Sprint(dig(service, "metadata", "name")) {
		t.Errorf("ingress.yaml backend service %s is not service.yaml's", got)
	}
	if got := fmt.Sprint(dig(backend, "port", "name")); got != servicePortName {
		t.Errorf("ingress.yaml backend port %s; want service port %s", got, servicePortName)
	}
	if path := fmt.Sprint(dig(ingress, "spec", "rules", 0, "http", "paths", 0, "path")); path != defaults["SOCKETIO_PATH"] {
		t.Errorf("ingress.yaml path %s; want SOCKETIO_PATH %s", path, defaults["SOCKETIO_PATH"])
	}
}

// haproxyServer matches `server NAME HOST:PORT`.
var haproxyServer = regexp.MustCompile(`(?m)^\s*server\s+(\S+)\s+([^\s:]+):(\d+)`)

// TestMetricsPortWiring: every deploy file runs /metrics on the one
// METRICS_PORT of configmap.yaml, Prometheus is pointed at it, and nothing
// that faces clients (HAProxy's port, the Service, the Ingress) carries it.
func TestMetricsPortWiring(t *testing.T) {
	_, defaults := envExample(t)
	port := defaults["PORT"]
	// The gateway alone keeps /metrics on PORT; the deploy files opt in.
	if got := defaults["METRICS_PORT"]; got != "0" {
		t.Errorf(".env.example METRICS_PORT = %q; want 0, the gateway's default", got)
	}
	metricsPort := fmt.Sprint(dig(k8sManifest(t, "configmap.yaml"), "data", "METRICS_PORT"))
	if number, err := strconv.Atoi(metricsPort); err != nil || number < 1 || number > 65535 || metricsPort == port {
		t.Fatalf("configmap.yaml METRICS_PORT = %q; want a port of its own, neither 0 nor PORT %s", metricsPort, port)
	}

	if got := dockerfileEnv(t)["METRICS_PORT"]; got != metricsPort {
		t.Errorf("Dockerfile ENV METRICS_PORT = %q; want %s as in configmap.yaml", got, metricsPort)
	}
	if !slices.Contains(dockerfileLines(t), "EXPOSE "+metricsPort) {
		t.Errorf("Dockerfile: want EXPOSE %s", metricsPort)
	}

	for name, service := range composeGateways(t) {
		if got := composeEnvironment(t, service)["METRICS_PORT"]; got != metricsPort {
			t.Errorf("docker-compose.yml %s METRICS_PORT = %q; want %s", name, got, metricsPort)
		}
		if exposed := fmt.Sprint(service["expose"]); exposed != "["+metricsPort+"]" {
			t.Errorf("docker-compose.yml %s expose = %s; want [%s]", name, exposed, metricsPort)
		}
	}
	services, _ := composeFile(t)["services"].(map[string]any)
	for name, service := range services {
		published, _ := dig(service, "ports").([]any)
		for _, published := range published {
			if strings.Contains(":"+fmt.Sprint(published)+":", ":"+metricsPort+":") {
				t.Errorf("docker-compose.yml %s publishes %v, the metrics port", name, published)
			}
		}
	}
	haproxy := readRepoFile(t, "deploy/haproxy.cfg")
	for _, match := range haproxyPorts.FindAllStringSubmatch(haproxy, -1) {
		if match[1] == metricsPort {
			t.Errorf("haproxy.cfg %q uses the metrics port", strings.TrimSpace(match[0]))
		}
	}

	deployment := k8sManifest(t, "deployment.yaml")
	container := deploymentContainer(t)
	metricsPortName := ""
	containerPorts, _ := dig(container, "ports").([]any)
	for _, entry := range containerPorts {
		if fmt.Sprint(dig(entry, "containerPort")) == metricsPort {
			metricsPortName = fmt.Sprint(dig(entry, "name"))
		}
	}
	if metricsPortName == "" {
		t.Errorf("deployment.yaml declares no containerPort %s (METRICS_PORT)", metricsPort)
	}
	annotations := dig(deployment, "spec", "template", "metadata", "annotations")
	for key, want := range map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": metricsPort, "prometheus.io/path": "/metrics"} {
		if got := fmt.Sprint(dig(annotations, key)); got != want {
			t.Errorf("deployment.yaml pod annotation %s = %s; want %s", key, got, want)
		}
	}
	isMetrics := func(value any) bool {
		text := fmt.Sprint(value)
		return text == metricsPort || (metricsPortName != "" && text == metricsPortName)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if isMetrics(dig(container, probe, "httpGet", "port")) {
			t.Errorf("deployment.yaml %s probes the metrics port; /health and /ready are on PORT", probe)
		}
	}
	servicePorts, _ := dig(k8sManifest(t, "service.yaml"), "spec", "ports").([]any)
	for _, entry := range servicePorts {
		if isMetrics(dig(entry, "port")) || isMetrics(dig(entry, "targetPort")) {
			t.Errorf("service.yaml carries the metrics port (%v); the ingress or a LoadBalancer would publish it", entry)
		}
	}
	servicePortNames := map[string]bool{}
	for _, entry := range servicePorts {
		servicePortNames[fmt.Sprint(dig(entry, "name"))] = true
	}
	rules, _ := dig(k8sManifest(t, "ingress.yaml"), "spec", "rules").([]any)
	for _, rule := range rules {
		paths, _ := dig(rule, "http", "paths").([]any)
		for _, path := range paths {
			backendPort := dig(path, "backend", "service", "port", "name")
			if !servicePortNames[fmt.Sprint(backendPort)] || strings.HasPrefix(fmt.Sprint(dig(path, "path")), "/metrics") {
				t.Errorf("ingress.yaml path %v to port %v: want only the Service's client ports", dig(path, "path"), backendPort)
			}
		}
	}
}

// haproxyPorts matches the port of every `bind` and `server` line.
var haproxyPorts = regexp.MustCompile(`(?m)^\s*(?:bind\s+\S*|server\s+\S+\s+[^\s:]+):(\d+)`)

// TestShutdownFitsTheGracePeriod: the orchestrator must not kill a gateway
// that is still draining (DRAIN_TIMEOUT) after the preStop sleep.
func TestShutdownFitsTheGracePeriod(t *testing.T) {
	configMap := k8sManifest(t, "configmap.yaml")
	drainMilliseconds, err := strconv.Atoi(fmt.Sprint(dig(configMap, "data", "DRAIN_TIMEOUT")))
	if err != nil {
		t.Fatalf("configmap.yaml DRAIN_TIMEOUT: %v", err)
	}
	drain := time.Duration(drainMilliseconds) * time.Millisecond
	pod := dig(k8sManifest(t, "deployment.yaml"), "spec", "template", "spec")
	grace := time.Duration(dig(pod, "terminationGracePeriodSeconds").(int)) * time.Second
	preStop, _ := dig(pod, "containers", 0, "lifecycle", "preStop", "exec", "command").([]any)
	if len(preStop) != 2 || preStop[0] != "sleep" {
		t.Fatalf("deployment.yaml preStop = %v; want [sleep N]", preStop)
	}
	sleep, err := strconv.Atoi(fmt.Sprint(preStop[1]))
	if err != nil || sleep < 1 {
		t.Fatalf("deployment.yaml preStop sleep %v", preStop[1])
	}
	if budget := time.Duration(sleep)*time.Second + drain; grace <= budget {
		t.Errorf("terminationGracePeriodSeconds %v <= preStop %ds + DRAIN_TIMEOUT %v", grace, sleep, drain)
	}
	for name, service := range composeGateways(t) {
		stop, err := time.ParseDuration(fmt.Sprint(service["stop_grace_period"]))
		composeDrain, _ := strconv.Atoi(composeEnvironment(t, service)["DRAIN_TIMEOUT"])
		if composeDrain == 0 {
			composeDrain = drainMilliseconds
		}
		if err != nil || stop <= time.Duration(composeDrain)*time.Millisecond {
			t.Errorf("docker-compose.yml %s stop_grace_period %v must exceed DRAIN_TIMEOUT %d ms", name, service["stop_grace_period"], composeDrain)
		}
	}
}

func TestKubernetesWiring(t *testing.T) {
	deployment := k8sManifest(t, "deployment.yaml")
	pod := dig(deployment, "spec", "template", "spec")
	container := deploymentContainer(t)
	podLabels, _ := dig(deployment, "spec", "template", "metadata", "labels").(map[string]any)
	matches := func(what string, selector any) {
		t.Helper()
		selectorMap, _ := selector.(map[string]any)
		if len(selectorMap) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for key, value := range selectorMap {
			if podLabels[key] != value {
				t.Errorf("%s selects %s=%v; the pods have %v", what, key, value, podLabels[key])
			}
		}
	}
	matches("deployment.yaml", dig(deployment, "spec", "selector", "matchLabels"))
	matches("service.yaml", dig(k8sManifest(t, "service.yaml"), "spec", "selector"))
	matches("pdb.yaml", dig(k8sManifest(t, "pdb.yaml"), "spec", "selector", "matchLabels"))
	matches("deployment.yaml anti-affinity", dig(pod, "affinity", "podAntiAffinity",
		"preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm", "labelSelector", "matchLabels"))

	if got := dig(deployment, "spec", "replicas"); got != 3 {
		t.Errorf("deployment.yaml replicas = %v; want 3", got)
	}
	hpa := k8sManifest(t, "hpa.yaml")
	if got := dig(hpa, "spec", "scaleTargetRef", "name"); got != dig(deployment, "metadata", "name") {
		t.Errorf("hpa.yaml scales %v, not the Deployment", got)
	}
	if minimum, _ := dig(hpa, "spec", "minReplicas").(int); minimum < 3 {
		t.Errorf("hpa.yaml minReplicas = %d; want at least the Deployment's 3", minimum)
	}

	if got := dig(container, "envFrom", 0, "configMapRef", "name"); got != dig(k8sManifest(t, "configmap.yaml"), "metadata", "name") {
		t.Errorf("deployment.yaml envFrom %v is not configmap.yaml's name", got)
	}
	secretRef := dig(container, "env", 0, "valueFrom", "secretKeyRef")
	if dig(container, "env", 0, "name") != "JWT_SECRET" || dig(secretRef, "name") != "jwt-secret" || dig(secretRef, "key") != "secret" {
		t.Errorf("deployment.yaml: JWT_SECRET must come from secretKeyRef jwt-secret/secret, got %v", secretRef)
	}
	secret := k8sManifest(t, "secret.yaml")
	if dig(secret, "metadata", "name") != "jwt-secret" || dig(secret, "stringData", "secret") == nil {
		t.Error("secret.yaml must be Secret jwt-secret with key secret")
	}

	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("deployment.yaml: runAsNonRoot must be true")
	}
	if dig(container, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("deployment.yaml: readOnlyRootFilesystem must be true")
	}
	for _, kind := range []string{"requests", "limits"} {
		if dig(container, "resources", kind, "memory") == nil || dig(container, "resources", kind, "cpu") == nil {
			t.Errorf("deployment.yaml: resources.%s needs cpu and memory", kind)
		}
	}
	// LOG_DIR, relative to the image's WORKDIR, must be the emptyDir.
	workdir := strings.TrimPrefix(lineWithPrefix(dockerfileLines(t), "WORKDIR /app"), "WORKDIR ")
	logDir := fmt.Sprint(dig(k8sManifest(t, "configmap.yaml"), "data", "LOG_DIR"))
	if !filepath.IsAbs(logDir) {
		logDir = filepath.Join(workdir, logDir)
	}
	mount := dig(container, "volumeMounts", 0)
	if dig(mount, "mountPath") != logDir {
		t.Errorf("deployment.yaml mounts %v; LOG_DIR resolves to %s", dig(mount, "mountPath"), logDir)
	}
	if dig(pod, "volumes", 0, "name") != dig(mount, "name") || dig(pod, "volumes", 0, "emptyDir") == nil {
		t.Error("deployment.yaml: the log mount must be an emptyDir volume")
	}
}

func TestDockerfileImage(t *testing.T) {
	lines := dockerfileLines(t)
	goMod := readRepoFile(t, "go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if goVersion == nil {
		t.Fatal("go.mod: no go directive")
	}
	if builder := lineWithPrefix(lines, "FROM golang:"); !strings.HasPrefix(builder, "FROM golang:"+goVersion[1]+" ") {
		t.Errorf("Dockerfile builder %q; want golang:%s (go.mod)", builder, goVersion[1])
	}
	user := strings.TrimPrefix(lineWithPrefix(lines, "USER "), "USER ")
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("Dockerfile USER %q; want a non-root user", user)
	}
	if got := dockerfileEnv(t)["NODE_ENV"]; got != "production" {
		t.Errorf("Dockerfile NODE_ENV = %q; want production", got)
	}
	if !slices.ContainsFunc(lines, func(line string) bool { return strings.HasPrefix(line, "HEALTHCHECK ") }) {
		t.Error("Dockerfile has no HEALTHCHECK")
	}
	// The image's user owns the default LOG_DIR (logs under WORKDIR).
	if want := "COPY --from=build --chown=" + user + " /out/logs /app/logs"; !slices.Contains(lines, want) {
		t.Errorf("Dockerfile: /app/logs must belong to the runtime user: want %q", want)
	}
	// The runtime has no shell, so no RUN after the last FROM and exec forms
	// only; the binary is its own health check.
	runtime := lines[slices.IndexFunc(lines, func(line string) bool { return strings.HasPrefix(line, "FROM gcr.io/distroless/static") }):]
	if len(runtime) == len(lines) || runtime == nil {
		t.Fatal("Dockerfile: want a distroless/static runtime stage")
	}
	for _, line := range runtime {
		if strings.HasPrefix(line, "RUN ") || strings.HasPrefix(line, "FROM ") && line != runtime[0] {
			t.Errorf("Dockerfile runtime stage: %q needs a shell or a further stage", line)
		}
		for _, instruction := range []string{"ENTRYPOINT ", "CMD ", "HEALTHCHECK "} {
			if strings.HasPrefix(line, instruction) && !strings.HasSuffix(line, "]") {
				t.Errorf("Dockerfile %q: use the exec form [...]; there is no /bin/sh", line)
			}
		}
	}
	// The build caches: module downloads and compiled packages.
	for _, line := range lines {
		if !strings.HasPrefix(line, "RUN ") || !strings.Contains(line, " go build ") {
			continue
		}
		words := shellWords(line)
		for _, mount := range []string{"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build"} {
			if !slices.Contains(words, mount) {
				t.Errorf("Dockerfile: the go build RUN line lacks %s", mount)
			}
		}
	}
	// OCI labels carry the same stamp as `protrader5-ws version`.
	labels := lineWithPrefix(runtime, "LABEL ")
	for _, want := range []string{`org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${COMMIT}"`, "org.opencontainers.image.title="} {
		if !strings.Contains(labels, want) {
			t.Errorf("Dockerfile LABEL lacks %s", want)
		}
	}
}

// TestDockerfileBuildIsMakeBuild: the image's go build is `make build`'s,
// and it produces a static binary that knows its version and commit.
func TestDockerfileBuildIsMakeBuild(t *testing.T) {
	makefile := readRepoFile(t, "Makefile")
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.*)$`).FindStringSubmatch(makefile)
	recipe := regexp.MustCompile(`(?m)^build:.*\n\t(.*)$`).FindStringSubmatch(makefile)
	if ldflags == nil || recipe == nil {
		t.Fatal("Makefile: no LDFLAGS or build recipe")
	}
	makeLine := strings.NewReplacer("$(GO)", "go", "$(LDFLAGS)", ldflags[1]).Replace(recipe[1])
	normalize := func(words []string) []string {
		out := make([]string, len(words))
		for index, word := range words {
			if index > 0 && words[index-1] == "-o" {
				word = "OUTPUT"
			}
			out[index] = strings.NewReplacer("$(VERSION)", "$VERSION", "${VERSION}", "$VERSION",
				"$(COMMIT)", "$COMMIT", "${COMMIT}", "$COMMIT").Replace(word)
		}
		return out
	}
	docker, makeWords := normalize(dockerBuildCommand(t)), normalize(shellWords(makeLine))
	if !slices.Equal(docker, makeWords) {
		t.Errorf("Dockerfile build\n\t%q\nis not make build's\n\t%q", docker, makeWords)
	}

	binary := buildGateway(t)
	output, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", binary, err, output)
	}
	if want := "protrader5-ws " + testVersion + " (commit " + testCommit + ","; !strings.HasPrefix(string(output), want) {
		t.Errorf("version printed %q; want it to start %q", output, want)
	}
	file, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, program := range file.Progs {
		if program.Type == elf.PT_INTERP || program.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v); the runtime image needs a static one", program.Type)
		}
	}
	if info, err := os.Stat(binary); err == nil && info.Size() > 64<<20 {
		t.Errorf("the binary is %d bytes; -s -w should keep it far smaller", info.Size())
	}
}

// TestHAProxyConfigIsValid runs `haproxy -c` on the committed file when
// haproxy is installed (the topology test installs it).
func TestHAProxyConfigIsValid(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed; TestTopology checks the configuration by running it")
	}
	output, err := exec.Command(haproxy, "-c", "-f", "haproxy.cfg").CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, output)
	}
}
