package deploy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protrader5/ws-gateway/ingest/redistest"
)

// TestComposeLogLimitsAndNetwork: every service's json-file logs are
// bounded, and the network lets Docker choose its subnet, so the file never
// collides with another network on the host.
func TestComposeLogLimitsAndNetwork(t *testing.T) {
	compose := composeFile(t)
	services, _ := compose["services"].(map[string]any)
	for name, service := range services {
		options := dig(service, "logging", "options")
		if dig(service, "logging", "driver") != "json-file" || dig(options, "max-size") == nil || dig(options, "max-file") == nil {
			t.Errorf("docker-compose.yml %s: want logging json-file with max-size and max-file, got %v", name, dig(service, "logging"))
		}
		if strings.Contains(fmt.Sprint(dig(service, "networks")), "ipv4_address") {
			t.Errorf("docker-compose.yml %s has a fixed address", name)
		}
	}
	networks, _ := compose["networks"].(map[string]any)
	for name, network := range networks {
		if dig(network, "ipam") != nil {
			t.Errorf("docker-compose.yml network %s fixes its subnet (ipam); let Docker choose", name)
		}
	}
	// TRUSTED_PROXIES must still cover HAProxy, wherever Docker puts it.
	for name, service := range composeGateways(t) {
		trusted := composeEnvironment(t, service)["TRUSTED_PROXIES"]
		for _, pool := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} {
			if !strings.Contains(","+trusted+",", ","+pool+",") {
				t.Errorf("docker-compose.yml %s TRUSTED_PROXIES %q lacks Docker's pool %s", name, trusted, pool)
			}
		}
	}
	if got := dig(services, "haproxy", "environment", "PT5_TLS"); got != "${PT5_TLS:-off}" {
		t.Errorf("docker-compose.yml haproxy PT5_TLS = %v; want ${PT5_TLS:-off}", got)
	}
}

// TestHAProxyCookieFollowsTLS runs haproxy.cfg in front of a stand-in
// gateway, with PT5_TLS off and on, and reads the stickiness cookie it sets.
func TestHAProxyCookieFollowsTLS(t *testing.T) {
	var haproxy string
	if testing.Short() {
		path, err := exec.LookPath("haproxy")
		if err != nil {
			t.Skip("haproxy not installed (-short does not install it)")
		}
		haproxy = path
	} else {
		haproxy = ensureHAProxy(t)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer backend.Close()
	port := redistest.FreePort(t)
	configuration := haproxyServer.ReplaceAllStringFunc(readRepoFile(t, "deploy/haproxy.cfg"), func(line string) string {
		parts := haproxyServer.FindStringSubmatch(line)
		return strings.Replace(line, parts[2]+":"+parts[3], backend.Listener.Addr().String(), 1)
	})
	configuration = regexp.MustCompile(`(?m)^(\s*bind\s+):4000\b`).ReplaceAllString(configuration, "${1}127.0.0.1:"+strconv.Itoa(port))
	directory := t.TempDir()
	path := filepath.Join(directory, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(configuration), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct{ tls, want, unwanted string }{
		{"off", "pt5_node=", "Secure"},
		{"on", "SameSite=None", ""},
	} {
		t.Run("PT5_TLS="+test.tls, func(t *testing.T) {
			balancer := startProcess(t, "haproxy", directory, []string{"PATH=" + os.Getenv("PATH"), "PT5_TLS=" + test.tls}, haproxy, "-db", "-f", path)
			var cookie string
			waitFor(t, "a cookie through haproxy", 10*time.Second, func() error {
				response, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/socket.io/?EIO=4&transport=polling")
				if err != nil {
					return err
				}
				response.Body.Close()
				cookie = response.Header.Get("Set-Cookie")
				if response.StatusCode != http.StatusOK || cookie == "" {
					return fmt.Errorf("%s, Set-Cookie %q", response.Status, cookie)
				}
				return nil
			})
			if !strings.Contains(cookie, test.want) || (test.unwanted != "" && strings.Contains(cookie, test.unwanted)) {
				t.Errorf("PT5_TLS=%s: Set-Cookie %q; want %q and not %q", test.tls, cookie, test.want, test.unwanted)
			}
			if test.tls == "on" && !strings.Contains(cookie, "Secure") {
				t.Errorf("PT5_TLS=on: Set-Cookie %q lacks Secure", cookie)
			}
			balancer.stop(5 * time.Second)
		})
	}
}
