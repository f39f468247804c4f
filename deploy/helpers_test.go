package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The repository root, seen from this package's directory (go test runs
// tests in the package directory).
const repoRoot = ".."

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

var variableName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// gatewayVariables returns the environment variables the gateway reads: the
// first string argument of every p.<method>(...) call in config_load.go,
// where p is the configParser (p.value("PORT"), p.milliseconds("PING_…"), …).
func gatewayVariables(t *testing.T) map[string]bool {
	t.Helper()
	path := filepath.Join(repoRoot, "cmd", "protrader5-ws", "config_load.go")
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	variables := map[string]bool{}
	ast.Inspect(file, func(node ast.Node) bool {
		call, ok := node.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		selector, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if receiver, ok := selector.X.(*ast.Ident); !ok || receiver.Name != "p" {
			return true
		}
		literal, ok := call.Args[0].(*ast.BasicLit)
		if !ok || literal.Kind != token.STRING {
			return true
		}
		if name, err := strconv.Unquote(literal.Value); err == nil && variableName.MatchString(name) {
			variables[name] = true
		}
		return true
	})
	// A parse that finds nothing would make every check below vacuous.
	for _, name := range []string{"PORT", "NODE_ENV", "REDIS_URL", "JWT_SECRET", "DRAIN_TIMEOUT"} {
		if !variables[name] {
			t.Fatalf("config_load.go: found no read of %s (found %d variables); has the parser changed?", name, len(variables))
		}
	}
	return variables
}

// envExample returns the assignments of /.env.example in file order.
func envExample(t *testing.T) (names []string, values map[string]string) {
	t.Helper()
	values = map[string]string{}
	scanner := bufio.NewScanner(strings.NewReader(readRepoFile(t, ".env.example")))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example: %q is not NAME=value", line)
		}
		names = append(names, name)
		values[name] = value
	}
	return names, values
}

// yamlDocuments decodes every document of a YAML file, failing the test on
// a syntax error.
func yamlDocuments(t *testing.T, path string) []map[string]any {
	t.Helper()
	decoder := yaml.NewDecoder(bytes.NewReader([]byte(readRepoFile(t, path))))
	var documents []map[string]any
	for {
		var document map[string]any
		err := decoder.Decode(&document)
		if errors.Is(err, io.EOF) {
			return documents
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if document != nil {
			documents = append(documents, document)
		}
	}
}

// yamlDocument is yamlDocuments for a file of exactly one document.
func yamlDocument(t *testing.T, path string) map[string]any {
	t.Helper()
	documents := yamlDocuments(t, path)
	if len(documents) != 1 {
		t.Fatalf("%s: %d YAML documents; want 1", path, len(documents))
	}
	return documents[0]
}

const k8sDirectory = "deploy/k8s"

func k8sManifest(t *testing.T, name string) map[string]any {
	t.Helper()
	return yamlDocument(t, filepath.Join(k8sDirectory, name))
}

func composeFile(t *testing.T) map[string]any {
	t.Helper()
	return yamlDocument(t, "deploy/docker-compose.yml")
}

// composeGateways returns the compose services built from the Dockerfile.
func composeGateways(t *testing.T) map[string]map[string]any {
	t.Helper()
	services, _ := composeFile(t)["services"].(map[string]any)
	gateways := map[string]map[string]any{}
	for name, service := range services {
		service, _ := service.(map[string]any)
		if dockerfile, _ := dig(service, "build", "dockerfile").(string); dockerfile == "deploy/Dockerfile" {
			gateways[name] = service
		}
	}
	if len(gateways) != 3 {
		t.Fatalf("docker-compose.yml: %d services build deploy/Dockerfile; want 3", len(gateways))
	}
	return gateways
}

// composeEnvironment returns a service's environment: block (map or list).
func composeEnvironment(t *testing.T, service map[string]any) map[string]string {
	t.Helper()
	environment := map[string]string{}
	switch block := service["environment"].(type) {
	case map[string]any:
		for name, value := range block {
			environment[name] = fmt.Sprint(value)
		}
	case []any:
		for _, entry := range block {
			name, value, _ := strings.Cut(fmt.Sprint(entry), "=")
			environment[name] = value
		}
	default:
		t.Fatalf("docker-compose.yml: environment is %T", block)
	}
	return environment
}

// dockerfileEnv returns the variables set by ENV instructions.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	environment := map[string]string{}
	for _, line := range dockerfileLines(t) {
		if rest, ok := strings.CutPrefix(line, "ENV "); ok {
			for _, assignment := range shellWords(rest) {
				name, value, ok := strings.Cut(assignment, "=")
				if !ok {
					t.Fatalf("Dockerfile: use ENV NAME=value, not %q", line)
				}
				environment[name] = value
			}
		}
	}
	return environment
}

func deploymentContainer(t *testing.T) map[string]any {
	t.Helper()
	container, _ := dig(k8sManifest(t, "deployment.yaml"), "spec", "template", "spec", "containers", 0).(map[string]any)
	if container == nil {
		t.Fatal("deployment.yaml: no container")
	}
	return container
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

func mappingValue(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for index := 0; index+1 < len(node.Content); index += 2 {
		if node.Content[index].Value == key {
			return node.Content[index+1]
		}
	}
	return nil
}

func lineWithPrefix(lines []string, prefix string) string {
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// dig walks maps and lists: dig(v, "spec", "ports", 0, "port").
func dig(value any, path ...any) any {
	for _, step := range path {
		switch key := step.(type) {
		case string:
			m, ok := value.(map[string]any)
			if !ok {
				return nil
			}
			value = m[key]
		case int:
			list, ok := value.([]any)
			if !ok || key >= len(list) {
				return nil
			}
			value = list[key]
		}
	}
	return value
}

// shellWords splits a shell command line on blanks, honouring double quotes
// (enough for the build lines of the Dockerfile and the Makefile).
func shellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// dockerfileLines returns the Dockerfile's instructions with continuation
// lines joined and comments dropped.
func dockerfileLines(t *testing.T) []string {
	t.Helper()
	var lines []string
	var current strings.Builder
	for raw := range strings.SplitSeq(readRepoFile(t, "deploy/Dockerfile"), "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || (line == "" && current.Len() == 0) {
			continue
		}
		if continued, ok := strings.CutSuffix(line, `\`); ok {
			current.WriteString(continued + " ")
			continue
		}
		current.WriteString(line)
		lines = append(lines, strings.TrimSpace(current.String()))
		current.Reset()
	}
	return lines
}

// dockerBuildCommand returns the words of the Dockerfile's go build RUN line,
// without RUN's options.
func dockerBuildCommand(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, line := range dockerfileLines(t) {
		if rest, ok := strings.CutPrefix(line, "RUN "); ok && strings.Contains(rest, "go build") {
			if found != nil {
				t.Fatal("Dockerfile: more than one go build line")
			}
			// RUN's own options (BuildKit's --mount=type=cache,...) are
			// not part of the command.
			words := shellWords(rest)
			for len(words) > 0 && strings.HasPrefix(words[0], "--") {
				words = words[1:]
			}
			found = words
		}
	}
	if found == nil {
		t.Fatal("Dockerfile: no RUN line runs go build")
	}
	return found
}

var (
	gatewayOnce   sync.Once
	gatewayPath   string
	gatewayOutput []byte
	gatewayErr    error
)

// Build-argument values the tests give ${VERSION} and ${COMMIT}.
const (
	testVersion = "v0.0.0-deploytest"
	testCommit  = "0123456789abcdef"
)

// buildGateway runs the Dockerfile's go build command as written (only the
// output path is moved to a temporary directory) once per test binary.
func buildGateway(t *testing.T) string {
	t.Helper()
	words := dockerBuildCommand(t)
	gatewayOnce.Do(func() {
		directory, err := os.MkdirTemp("", "protrader5-deploy-")
		if err != nil {
			gatewayErr = err
			return
		}
		gatewayPath = filepath.Join(directory, "protrader5-ws")
		environment := os.Environ()
		for len(words) > 0 && strings.Contains(words[0], "=") {
			environment = append(environment, words[0])
			words = words[1:]
		}
		arguments := make([]string, len(words)-1)
		for index, word := range words[1:] {
			word = strings.NewReplacer("${VERSION}", testVersion, "${COMMIT}", testCommit).Replace(word)
			if index > 0 && words[index] == "-o" {
				word = gatewayPath
			}
			arguments[index] = word
		}
		command := exec.Command(words[0], arguments...)
		command.Dir = repoRoot
		command.Env = environment
		gatewayOutput, gatewayErr = command.CombinedOutput()
	})
	if gatewayErr != nil {
		t.Fatalf("the Dockerfile's go build: %v\n%s", gatewayErr, gatewayOutput)
	}
	return gatewayPath
}

// TestMain removes the binary buildGateway made.
func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayPath != "" {
		os.RemoveAll(filepath.Dir(gatewayPath))
	}
	os.Exit(code)
}
