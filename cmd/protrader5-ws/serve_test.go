package main

import (
	"net"
	"reflect"
	"strconv"
	"testing"

	"github.com/protrader5/ws-gateway/engine"
	"github.com/protrader5/ws-gateway/engine/auth"
	"github.com/protrader5/ws-gateway/ingest"
)

// TestUnsetSettingsTakeThePackageDefaults: with no variable set, what the
// command hands to the engine, auth and ingest is those packages' own
// defaults, so that a default changed there is the gateway's default too.
func TestUnsetSettingsTakeThePackageDefaults(t *testing.T) {
	for _, environment := range []string{EnvironmentDevelopment, EnvironmentProduction} {
		variables := map[string]string{"NODE_ENV": environment, "JWT_SECRET": "a private secret", "ALLOW_EMBEDDED_BUS": "true"}
		config := mustLoad(t, variables)
		settings := engineConfig(config)
		_, port, err := net.SplitHostPort(settings.Address)
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"port", port, strconv.Itoa(engine.DefaultPort)},
			{"Path", settings.Path, engine.DefaultPath},
			{"PingInterval", settings.PingInterval, engine.DefaultPingInterval},
			{"PingTimeout", settings.PingTimeout, engine.DefaultPingTimeout},
			{"ConnectTimeout", settings.ConnectTimeout, engine.DefaultConnectTimeout},
			{"HandshakeTimeout", settings.HandshakeTimeout, engine.DefaultHandshakeTimeout},
			{"MaxPayload", settings.MaxPayload, engine.DefaultMaxPayload},
			{"MaxSymbolsPerSocket", settings.MaxSymbolsPerSocket, engine.DefaultMaxSymbolsPerSocket},
			{"MaxPendingBytes", settings.MaxPendingBytes, engine.DefaultMaxPendingBytes},
			{"WriteTimeout", settings.WriteTimeout, engine.DefaultWriteTimeout},
			{"DrainTimeout", settings.DrainTimeout, engine.DefaultDrainTimeout},
			{"PreAuthFrames", settings.PreAuthFrames, engine.DefaultPreAuthFrames},
			{"PreAuthBytes", settings.PreAuthBytes, engine.DefaultPreAuthBytes},
			{"RecoveryMaxEvents", settings.RecoveryMaxEvents, engine.DefaultRecoveryMaxEvents},
			{"RecoveryMaxBytes", settings.RecoveryMaxBytes, engine.DefaultRecoveryMaxBytes},
			// Zero is the engine's own choice: one shard per CPU.
			{"Shards", settings.Shards, 0},
			{"JWTLeeway", config.JWTLeeway, auth.DefaultLeeway},
			{"PnLInterval", config.PnLInterval, ingest.DefaultPNLInterval},
			{"DemoUser", config.DemoUser, ingest.DefaultDemoUserID},
		}
		for _, check := range checks {
			if !reflect.DeepEqual(check.got, check.want) {
				t.Errorf("NODE_ENV=%s: unset %s = %v; the package default is %v", environment, check.name, check.got, check.want)
			}
		}
	}
}
