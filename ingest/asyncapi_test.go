package ingest

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestAsyncAPIDescribesTheChannels holds docs/asyncapi.yaml's Redis inputs
// to the channels the router takes: every Channel is described under its
// name, the user channels also in their Redis Streams form, and nothing
// else but the emitter channel.
func TestAsyncAPIDescribesTheChannels(t *testing.T) {
	source, err := os.ReadFile("../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var document struct {
		Channels map[string]struct {
			Address string
			Servers []struct {
				Reference string `yaml:"$ref"`
			}
			Messages map[string]struct {
				Reference string `yaml:"$ref"`
				Name      string
			}
		}
	}
	if err := yaml.Unmarshal(source, &document); err != nil {
		t.Fatal(err)
	}
	var described []string
	for id, channel := range document.Channels {
		if len(channel.Servers) != 1 || channel.Servers[0].Reference != "#/servers/redis" || strings.HasPrefix(channel.Address, "socket.io#") {
			continue
		}
		described = append(described, channel.Address)
		streamForm := false
		for _, message := range channel.Messages {
			streamForm = streamForm || message.Reference == "#/components/messages/streamEntry"
		}
		if user := channel.Address != ChannelTicks.String(); streamForm != user {
			t.Errorf("channel %s (%s): a Redis Streams entry message %v; want %v", id, channel.Address, streamForm, user)
		}
	}
	var want []string
	for _, channel := range Channels {
		want = append(want, channel.String())
	}
	sort.Strings(described)
	sort.Strings(want)
	if !slices.Equal(described, want) {
		t.Fatalf("asyncapi describes Redis channels %v; the router takes %v", described, want)
	}
}
