package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

func TestStartCluster(t *testing.T) {
	cluster := StartCluster(t)
	if len(cluster.Nodes) != clusterMasters || cluster.URL() != cluster.Nodes[0].URL() {
		t.Fatalf("Nodes = %d, URL() = %q; want %d nodes and the first one's URL", len(cluster.Nodes), cluster.URL(), clusterMasters)
	}
	for _, node := range cluster.Nodes {
		info, err := node.Query("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_known_nodes:3") || !strings.Contains(info, "cluster_size:3") {
			t.Fatalf("CLUSTER INFO on port %d = %q, %v; want three masters", node.Port(), info, err)
		}
	}

	// From the one address it is given, the client finds every master.
	client := Client(t, cluster.URL())
	ctx := context.Background()
	if nodes := client.Nodes(); len(nodes) != clusterMasters {
		t.Fatalf("client knows %d nodes; want %d", len(nodes), clusterMasters)
	}
	const keys = 30
	for n := range keys {
		key := "cluster-key-" + strconv.Itoa(n)
		if err := client.Do(ctx, client.B().Set().Key(key).Value(strconv.Itoa(n)).Build()).Error(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
	}
	total := 0
	for _, node := range cluster.Nodes {
		// DBSIZE answers an integer, which Query does not read: count with
		// the node's own view of its key space instead.
		info, err := node.Query("INFO", "keyspace")
		if err != nil {
			t.Fatal(err)
		}
		count := keyspaceKeys(info)
		if count == 0 {
			t.Errorf("node on port %d holds no key; keys were not spread", node.Port())
		}
		total += count
	}
	if total != keys {
		t.Fatalf("the nodes hold %d keys; want %d", total, keys)
	}
}

// keyspaceKeys reads "db0:keys=12,expires=0,..." from INFO keyspace.
func keyspaceKeys(info string) int {
	for line := range strings.SplitSeq(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "db0:keys="); ok {
			digits, _, _ := strings.Cut(rest, ",")
			count, _ := strconv.Atoi(digits)
			return count
		}
	}
	return 0
}
