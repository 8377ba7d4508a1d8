package redis

import (
	"net/url"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/taskgen/taskgen/internal/testenv"
)

// Every key of a queue, and a record's two keys, hash to one Redis Cluster
// slot, whatever the name, so that each script touches a single slot. The
// cluster itself computes the slots.
func TestKeysShareASlot(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testenv.RedisClusterURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(u.Host, ",")})
	defer c.Close()
	slotOf := func(key string) int64 {
		t.Helper()
		n, err := c.ClusterKeySlot(t.Context(), key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
		}
		return n
	}
	ks := keyspace{prefix: "app"}
	for _, name := range []string{"emails", "", "a}b", "{x}", "}", "{", "a{b}c", "ünï cødé"} {
		q := ks.queue(name)
		keys := []string{q.delayed, q.leased, q.seq, q.msgs, q.deliv, q.oldLeased, q.oldTokens, q.dead, q.deadTask + "id", q.ready + "5"}
		want := slotOf(keys[0])
		for _, k := range keys[1:] {
			if got := slotOf(k); got != want {
				t.Errorf("queue %q: key %s is in slot %d, %s in %d", name, k, got, keys[0], want)
			}
		}
		if other := ks.queue(name + "x"); other.msgs == q.msgs {
			t.Errorf("queues %q and %q share keys", name, name+"x")
		}
	}
	for _, id := range []string{"01HZX", "a}b", "{", ""} {
		if a, b := slotOf(ks.record(id)), slotOf(ks.progress(id)); a != b {
			t.Errorf("record %q: its keys are in slots %d and %d", id, a, b)
		}
	}
}
