package main

import (
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// settingNames returns the name of every variable LoadConfig reads, learnt
// by running it over an empty environment: the list cannot fall behind the
// parser. Every variable is read whatever the others say, which
// TestEnvExampleListsEverySetting relies on too.
var settingNames = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	recording := func(name string) (string, bool) {
		seen[name] = true
		return "", false
	}
	_, _ = LoadConfig(recording, "")
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
})

// foreignPrefixes are first words of settings that other software uses for
// its own variables: NODE_OPTIONS, NODE_PATH and the like belong to Node.js,
// and often come along in an environment carried over from the Node.js
// server.
var foreignPrefixes = []string{"NODE_"}

// kubernetesServiceLink matches the variables Kubernetes gives a pod for
// each Service (REDIS_SERVICE_HOST, REDIS_PORT_6379_TCP_ADDR, ...): a
// Service named like a setting's first word must not draw warnings.
var kubernetesServiceLink = regexp.MustCompile(`_SERVICE_(HOST|PORT)(_.*)?$|_PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?$`)

// lookalike is a variable that is not a setting but looks like one.
type lookalike struct {
	name    string
	closest string // the setting it most likely means
}

// lookalikeVariables finds, among the variables of environment (NAME=value
// entries, as os.Environ) and names, those the gateway does not read but
// that look like its settings: a setting in another case, a setting
// misspelt (within two edits; one for names of up to seven characters, so
// that HOST is not taken for PORT), or a name that starts like a setting
// (REDIS_HOST). Each comes with the closest setting, sorted by name.
func lookalikeVariables(environment []string, names []string) []lookalike {
	settings := settingNames()
	candidates := map[string]string{} // name -> value
	for _, entry := range environment {
		name, value, _ := strings.Cut(entry, "=")
		candidates[name] = value
	}
	for _, name := range names {
		if _, seen := candidates[name]; !seen {
			candidates[name] = ""
		}
	}
	var found []lookalike
	for name, value := range candidates {
		if slices.Contains(settings, name) || isKubernetesServiceLink(name, value) {
			continue
		}
		if closest, ok := closestSetting(strings.ToUpper(name), settings); ok {
			found = append(found, lookalike{name: name, closest: closest})
		}
	}
	slices.SortFunc(found, func(a, b lookalike) int { return strings.Compare(a.name, b.name) })
	return found
}

func isKubernetesServiceLink(name, value string) bool {
	return kubernetesServiceLink.MatchString(name) || strings.HasPrefix(value, "tcp://") || strings.HasPrefix(value, "udp://")
}

// closestSetting returns the setting name (upper case) most likely means,
// and whether it looks like one at all.
func closestSetting(name string, settings []string) (string, bool) {
	best, bestDistance := "", -1
	family := ""
	for _, setting := range settings {
		distance := editDistance(name, setting)
		if bestDistance < 0 || distance < bestDistance {
			best, bestDistance = setting, distance
		}
		if prefix := firstWord(setting); prefix != "" && strings.HasPrefix(name, prefix) && !slices.Contains(foreignPrefixes, prefix) {
			family = prefix
		}
	}
	if bestDistance <= allowedEdits(best) {
		return best, true
	}
	if family == "" {
		return "", false
	}
	// Within the family, the nearest member: REDIS_HOST means REDIS_URL.
	best, bestDistance = "", -1
	for _, setting := range settings {
		if !strings.HasPrefix(setting, family) {
			continue
		}
		if distance := editDistance(name, setting); bestDistance < 0 || distance < bestDistance {
			best, bestDistance = setting, distance
		}
	}
	return best, true
}

// firstWord returns a setting's name up to and including its first '_'
// ("REDIS_" of REDIS_URL), or "" for a name of one word (PORT, SHARDS).
func firstWord(setting string) string {
	if index := strings.IndexByte(setting, '_'); index > 0 {
		return setting[:index+1]
	}
	return ""
}

func allowedEdits(setting string) int {
	if len(setting) <= 7 {
		return 1
	}
	return 2
}

// editDistance is the Levenshtein distance between a and b (ASCII names).
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			substitution := previous[j-1]
			if a[i-1] != b[j-1] {
				substitution++
			}
			current[j] = min(substitution, previous[j]+1, current[j-1]+1)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}

// dotenvNames returns the names a .env file assigns, or none when it cannot
// be read (LoadConfig has reported that already).
func dotenvNames(path string) []string {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	variables, err := parseDotenv(data)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(variables))
	for name := range variables {
		names = append(names, name)
	}
	return names
}

// warnAboutLookalikes logs a warning for each variable of the environment
// and the .env file that looks like a setting but is none: a misspelt
// setting is otherwise silently left at its default.
func (c *cli) warnAboutLookalikes(logger *slog.Logger) {
	var environment []string
	if c.environ != nil {
		environment = c.environ()
	}
	for _, found := range lookalikeVariables(environment, dotenvNames(c.dotenvPath)) {
		logger.Warn(found.name+" is not a setting of the gateway; did you mean "+found.closest+"?",
			slog.String("variable", found.name), slog.String("did_you_mean", found.closest))
	}
}
