package engine

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The typed event maps (docs/events.d.ts) and the AsyncAPI document
// (docs/asyncapi.yaml) are held to the gateway here: the event lists
// ClientEvents and ServerEvents, the code that handles and builds events,
// and the answer types' JSON fields.

const (
	eventsDeclarations = "../docs/events.d.ts"
	asyncAPIDocument   = "../docs/asyncapi.yaml"
	typedExampleDir    = "../docs/examples"
)

// declaredField is one member of a TypeScript interface.
type declaredField struct {
	optional bool
	typeText string
}

var (
	interfacePattern = regexp.MustCompile(`(?s)export interface (\w+) \{(.*?)\n\}`)
	memberPattern    = regexp.MustCompile(`(?m)^\s+"?([\w:]+)"?(\??): (.*);$`)
	unionPattern     = regexp.MustCompile(`(?s)export type RefusalCode =(.*?);`)
)

// parseDeclarations reads the interfaces of events.d.ts: name -> member -> field.
func parseDeclarations(t *testing.T) map[string]map[string]declaredField {
	t.Helper()
	source, err := os.ReadFile(eventsDeclarations)
	if err != nil {
		t.Fatal(err)
	}
	interfaces := make(map[string]map[string]declaredField)
	for _, match := range interfacePattern.FindAllStringSubmatch(string(source), -1) {
		members := make(map[string]declaredField)
		for _, member := range memberPattern.FindAllStringSubmatch(match[2], -1) {
			members[member[1]] = declaredField{optional: member[2] == "?", typeText: member[3]}
		}
		interfaces[match[1]] = members
	}
	return interfaces
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

func sortedCopy(list []string) []string {
	sorted := slices.Clone(list)
	sort.Strings(sorted)
	return sorted
}

// handledClientEvents returns the event names handleEvent dispatches on, read
// from socket.go's source: a case added there without ClientEvents fails.
func handledClientEvents(t *testing.T) []string {
	t.Helper()
	files := token.NewFileSet()
	file, err := parser.ParseFile(files, "socket.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(file, func(node ast.Node) bool {
		function, ok := node.(*ast.FuncDecl)
		if !ok || function.Name.Name != "handleEvent" {
			return true
		}
		ast.Inspect(function.Body, func(node ast.Node) bool {
			clause, ok := node.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, expression := range clause.List {
				if literal, ok := expression.(*ast.BasicLit); ok && literal.Kind == token.STRING {
					name, _ := strconv.Unquote(literal.Value)
					names = append(names, name)
				}
			}
			return true
		})
		return false
	})
	return names
}

// builtServerEvents returns the event names the engine's code builds frames
// with as literals (newEventFrame, newRecoverableEventFrame,
// wire.AppendEvent); the user streams' names come from Stream.EventName.
func builtServerEvents(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := token.NewFileSet()
	var names []string
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(files, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok {
				return true
			}
			argument := -1
			switch function := call.Fun.(type) {
			case *ast.Ident:
				if function.Name == "newEventFrame" || function.Name == "newRecoverableEventFrame" {
					argument = 0
				}
			case *ast.SelectorExpr:
				if function.Sel.Name == "AppendEvent" {
					argument = 2
				}
			}
			if argument >= 0 && argument < len(call.Args) {
				if literal, ok := call.Args[argument].(*ast.BasicLit); ok && literal.Kind == token.STRING {
					name, _ := strconv.Unquote(literal.Value)
					names = append(names, name)
				}
			}
			return true
		})
	}
	return names
}

// jsonFields returns the JSON names of a struct's fields and whether each
// is always present (no omitempty).
func jsonFields(value any) map[string]bool {
	fields := make(map[string]bool)
	kind := reflect.TypeOf(value)
	for i := range kind.NumField() {
		tag := kind.Field(i).Tag.Get("json")
		name, options, _ := strings.Cut(tag, ",")
		fields[name] = !strings.Contains(options, "omitempty")
	}
	return fields
}

// declaredAhead are members events.d.ts declares for the subscription
// throttle (throttleMs), which a build may not have in its Go struct yet;
// a member present in the struct must still be declared.
var declaredAhead = map[string]bool{"MarketSubscription.throttleMs": true, "SymbolsAnswer.throttleMs": true}

// compareFields holds an interface of events.d.ts to the JSON fields of the
// Go type the server reads or writes for it.
func compareFields(t *testing.T, interfaceName string, declared map[string]declaredField, fields map[string]bool, except ...string) {
	t.Helper()
	for _, name := range except {
		delete(fields, name)
	}
	if declared == nil {
		t.Errorf("events.d.ts declares no interface %s", interfaceName)
		return
	}
	for name, alwaysPresent := range fields {
		field, ok := declared[name]
		switch {
		case !ok:
			t.Errorf("%s: the server's field %q is not declared", interfaceName, name)
		case alwaysPresent && field.optional:
			t.Errorf("%s.%s is declared optional; the server always sends it", interfaceName, name)
		}
	}
	for name := range declared {
		if _, ok := fields[name]; !ok && !declaredAhead[interfaceName+"."+name] {
			t.Errorf("%s.%s is declared; the server has no such field", interfaceName, name)
		}
	}
}

// documentedPayloads reads the server event payload table of
// docs/protocol.md: event -> field names.
func documentedPayloads(t *testing.T) map[string][]string {
	t.Helper()
	source, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([\\w:]+)` \\| `\\{([^}]*)\\}` \\|$").FindAllStringSubmatch(string(source), -1)
	payloads := make(map[string][]string)
	for _, row := range rows {
		for _, field := range strings.Split(row[2], ",") {
			payloads[row[1]] = append(payloads[row[1]], strings.TrimSpace(field))
		}
	}
	return payloads
}

// firstParameterType returns the type of the first parameter in a member
// like `(tick: MarketTick) => void`.
func firstParameterType(member string) string {
	match := regexp.MustCompile(`^\(\w+\??: ([\w<>]+)`).FindStringSubmatch(member)
	if match == nil {
		return ""
	}
	return match[1]
}

func TestTypedEventsMatchTheGateway(t *testing.T) {
	interfaces := parseDeclarations(t)

	// Event names: code, lists and declarations agree.
	if got, want := sortedCopy(handledClientEvents(t)), sortedCopy(ClientEvents); !slices.Equal(got, want) {
		t.Errorf("handleEvent handles %v; ClientEvents lists %v", got, want)
	}
	for _, name := range builtServerEvents(t) {
		if !slices.Contains(ServerEvents(), name) {
			t.Errorf("the engine builds %q frames; ServerEvents lacks it", name)
		}
	}
	if got, want := sortedKeys(interfaces["ClientToServerEvents"]), sortedCopy(ClientEvents); !slices.Equal(got, want) {
		t.Errorf("ClientToServerEvents declares %v; the gateway handles %v", got, want)
	}
	if got, want := sortedKeys(interfaces["ServerToClientEvents"]), sortedCopy(ServerEvents()); !slices.Equal(got, want) {
		t.Errorf("ServerToClientEvents declares %v; the gateway emits %v", got, want)
	}

	// Client events: the payload and the ack the handlers answer with.
	e := newTestEngine(t, Config{})
	c := attachTestConn(t, e, "typed", newMemorySink(false))
	answerInterfaces := map[reflect.Type]string{
		reflect.TypeOf(symbolsAnswer{}): "SymbolsAnswer",
		reflect.TypeOf(okAnswer{}):      "OkAnswer",
	}
	for _, name := range ClientEvents {
		member := interfaces["ClientToServerEvents"][name].typeText
		var result any
		var failure *refusal
		if strings.HasSuffix(name, ":market") {
			if !strings.HasPrefix(member, "(payload: MarketSubscription, ") {
				t.Errorf("%s is declared %s; its payload is a MarketSubscription", name, member)
			}
			result, failure = e.marketEvent(c, strings.HasPrefix(name, "subscribe"), []byte(`{"symbols":["AAA"]}`))
		} else {
			if strings.HasPrefix(member, "(payload") {
				t.Errorf("%s is declared %s; it has no payload", name, member)
			}
			stream := map[string]Stream{"orders": StreamOrders, "positions": StreamPositions, "notifications": StreamNotifications}[name[strings.Index(name, ":")+1:]]
			result, failure = e.streamEvent(c, stream, strings.HasPrefix(name, "subscribe"))
		}
		if failure != nil {
			t.Fatalf("%s refused: %s", name, failure.code)
		}
		answer := answerInterfaces[reflect.TypeOf(result)]
		if want := "ack?: Ack<" + answer + ">) => void"; answer == "" || !strings.HasSuffix(member, want) {
			t.Errorf("%s is declared %s; its ack is %T (%s)", name, member, result, want)
		}
	}

	// Answer and payload fields.
	compareFields(t, "MarketSubscription", interfaces["MarketSubscription"], jsonFields(marketPayload{}))
	compareFields(t, "SymbolsAnswer", interfaces["SymbolsAnswer"], jsonFields(symbolsAnswer{}))
	compareFields(t, "OkAnswer", interfaces["OkAnswer"], jsonFields(okAnswer{}))
	compareFields(t, "RefusalAnswer", interfaces["RefusalAnswer"], jsonFields(refusalAnswer{}))
	compareFields(t, "EventError", interfaces["EventError"], jsonFields(errorObject{}))
	// In an ack's error the event is left out (reply, socket.go).
	compareFields(t, "RefusalError", interfaces["RefusalError"], jsonFields(errorObject{}), "event")
	if declared := interfaces["EventError"]["event"]; declared.optional {
		t.Error("EventError.event is declared optional; the error event always names the event")
	}

	// Refusal codes: the metric's known labels are every code there is.
	union := unionPattern.FindStringSubmatch(mustRead(t, eventsDeclarations))
	var codes []string
	for _, code := range regexp.MustCompile(`"(\w+)"`).FindAllStringSubmatch(union[1], -1) {
		codes = append(codes, code[1])
	}
	if got, want := sortedCopy(codes), sortedCopy(knownLabels["refusals"]); !slices.Equal(got, want) {
		t.Errorf("RefusalCode declares %v; the gateway refuses with %v", got, want)
	}

	// Server events: payloads as docs/protocol.md documents them, and the
	// offset argument exactly on the recoverable user streams.
	documented := documentedPayloads(t)
	for _, name := range ServerEvents() {
		member := interfaces["ServerToClientEvents"][name].typeText
		payloadType := firstParameterType(member)
		if fields, ok := documented[name]; ok {
			if got, want := sortedKeys(interfaces[payloadType]), sortedCopy(fields); !slices.Equal(got, want) {
				t.Errorf("%s: %s declares %v; docs/protocol.md documents %v", name, payloadType, got, want)
			}
		}
		recoverable := name != "market:data" && name != "error"
		if got := strings.Contains(member, "offset?: RecoveryOffset"); got != recoverable {
			t.Errorf("%s is declared %s; an offset argument: %v, want %v", name, member, got, recoverable)
		}
	}
	if len(documented) != 4 {
		t.Errorf("docs/protocol.md documents the payloads of %v; want the four message events", sortedKeys(documented))
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	source, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(source)
}

// asyncAPI is the part of docs/asyncapi.yaml the test reads.
type asyncAPI struct {
	Version    string `yaml:"asyncapi"`
	Channels   map[string]asyncAPIChannel
	Components struct {
		Messages map[string]struct {
			Name    string
			Payload struct {
				Items []struct {
					Reference string `yaml:"$ref"`
				}
			}
		}
		Schemas map[string]struct {
			Required   []string
			Properties map[string]any
		}
	}
}

type asyncAPIChannel struct {
	Address  string
	Messages map[string]struct {
		Reference string `yaml:"$ref"`
		Name      string
	}
}

func readAsyncAPI(t *testing.T) asyncAPI {
	t.Helper()
	var document asyncAPI
	if err := yaml.Unmarshal([]byte(mustRead(t, asyncAPIDocument)), &document); err != nil {
		t.Fatal(err)
	}
	return document
}

func TestAsyncAPIMatchesTheGateway(t *testing.T) {
	document := readAsyncAPI(t)
	interfaces := parseDeclarations(t)
	if document.Version != "3.0.0" {
		t.Fatalf("asyncapi: %q; want 3.0.0", document.Version)
	}
	// The Socket.IO channel's events are the gateway's, both ways.
	events := make(map[string]string) // event name -> message id
	for id, message := range document.Channels["socketio"].Messages {
		component, ok := document.Components.Messages[strings.TrimPrefix(message.Reference, "#/components/messages/")]
		if !ok {
			t.Fatalf("socketio message %s: no component %s", id, message.Reference)
		}
		if component.Name != "ack" {
			events[component.Name] = id
		}
	}
	want := append(slices.Clone(ClientEvents), ServerEvents()...)
	if got := sortedKeys(events); !slices.Equal(got, sortedCopy(want)) {
		t.Errorf("asyncapi socketio events %v; the gateway's are %v", got, sortedCopy(want))
	}
	// Each schema matches the interface of the same name in events.d.ts.
	for name, schema := range document.Components.Schemas {
		declared, ok := interfaces[name]
		if !ok {
			continue // a type alias (RefusalCode, RecoveryOffset)
		}
		if got, want := sortedKeys(schema.Properties), sortedKeys(declared); !slices.Equal(got, want) {
			t.Errorf("asyncapi schema %s has %v; events.d.ts declares %v", name, got, want)
		}
		var required []string
		for field, member := range declared {
			if !member.optional {
				required = append(required, field)
			}
		}
		if got, want := sortedCopy(schema.Required), sortedCopy(required); !slices.Equal(got, want) {
			t.Errorf("asyncapi schema %s requires %v; events.d.ts %v", name, got, want)
		}
	}
	for _, name := range []string{"MarketTick", "OrderUpdate", "PositionUpdate", "Notification", "EventError", "MarketSubscription", "SymbolsAnswer", "OkAnswer", "RefusalAnswer", "RefusalError"} {
		if _, ok := document.Components.Schemas[name]; !ok {
			t.Errorf("asyncapi has no schema %s", name)
		}
	}
	// A server event's first argument is the schema its declaration names.
	for _, name := range ServerEvents() {
		message := document.Components.Messages[events[name]]
		payloadType := firstParameterType(interfaces["ServerToClientEvents"][name].typeText)
		if len(message.Payload.Items) == 0 || message.Payload.Items[0].Reference != "#/components/schemas/"+payloadType {
			t.Errorf("asyncapi %s carries %v; events.d.ts says %s", name, message.Payload.Items, payloadType)
		}
	}
}

// TestTypedClientCompiles type-checks docs/examples (a client using
// events.d.ts, and misuses that must not compile) with the TypeScript
// compiler its lockfile pins, and validates docs/asyncapi.yaml with the
// AsyncAPI parser pinned there too.
func TestTypedClientCompiles(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if inCI() {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	compiler := filepath.Join(typedExampleDir, "node_modules", "typescript", "bin", "tsc")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := os.Stat(compiler); err != nil {
		install := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		install.Dir = typedExampleDir
		if output, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", typedExampleDir, err, output)
		}
	}
	check := exec.CommandContext(ctx, node, compiler, "--noEmit", "-p", typedExampleDir)
	if output, err := check.CombinedOutput(); err != nil {
		t.Fatalf("tsc --noEmit: %v\n%s", err, output)
	}
	// The AsyncAPI document, by the official parser and its rules.
	validate := exec.CommandContext(ctx, node, "validate-asyncapi.mjs", "../asyncapi.yaml")
	validate.Dir = typedExampleDir
	if output, err := validate.CombinedOutput(); err != nil {
		t.Fatalf("asyncapi.yaml does not validate: %v\n%s", err, output)
	}
}
