package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// keyspace builds every key and channel name the transport uses, under one
// prefix. A queue's keys share the hash tag {queue}, so that every script
// touches one Redis Cluster slot; docs/PROTOCOL.md lists them.
type keyspace struct {
	prefix string
}

// queueKeys are the keys of one queue.
//
// A settling script names its queue with settleKeys, in this order.
type queueKeys struct {
	name string
	// ready is the prefix of the ready lists: ready+"9" holds the IDs of
	// priority 9 that are deliverable, oldest first.
	ready string
	// delayed holds IDs by ETA (µs); leased holds leases (see luaLib) by
	// deadline (µs).
	delayed, leased string
	// oldLeased and oldTokens are where versions before leased kept
	// leases: IDs by deadline, and their tokens. Fetch puts the lapsed
	// ones back, so that a worker of such a version loses nothing by
	// running next to this one.
	oldLeased, oldTokens string
	// seq is the queue's counter: ready order, lease tokens, dead order.
	seq string
	// msgs hashes the held messages' IDs to their priority and body, and
	// deliv the IDs of messages put back to their deliveries so far.
	msgs, deliv string
	// dead holds dead-lettered IDs, oldest first; deadTask+id is a dead
	// letter's hash.
	dead, deadTask string
	// notify is the channel that wakes the queue's blocked consumers.
	notify string
	// settle is the keys of the settling scripts, publish those of
	// publishScript, and head the leading arguments of both; readyNow[p]
	// is the keys of publishNowScript for priority p, and notifyArg its
	// leading argument. All are made once per queue: calls only read them.
	settle, publish []string
	head            []any
	readyNow        [10][]string
	notifyArg       []any
}

func (k keyspace) queue(name string) *queueKeys {
	base := k.prefix + ":{" + hashTag(name) + "}:"
	q := &queueKeys{
		name:      name,
		ready:     base + "ready:",
		delayed:   base + "delayed",
		leased:    base + "leases",
		oldLeased: base + "leased",
		oldTokens: base + "tokens",
		seq:       base + "seq",
		msgs:      base + "msgs",
		deliv:     base + "deliv",
		dead:      base + "dead",
		deadTask:  base + "d:",
		notify:    base + "notify",
	}
	q.settle = q.settleKeys()
	q.publish = []string{q.delayed, q.msgs}
	q.head = []any{q.notify, q.ready}
	for p := range q.readyNow {
		q.readyNow[p] = []string{q.ready + string(rune('0'+p)), q.msgs}
	}
	q.notifyArg = []any{q.notify}
	return q
}

// record is the key of task id's record, and progress the key of its
// progress; both share the hash tag {id}.
func (k keyspace) record(id string) string { return k.prefix + ":rec:{" + hashTag(id) + "}" }

func (k keyspace) progress(id string) string { return k.prefix + ":rec:{" + hashTag(id) + "}:progress" }

// recordChannel is where a record's turn to a terminal state is published.
func (k keyspace) recordChannel(id string) string { return k.prefix + ":rec:" + id + ":done" }

// kv is the key of a store key.
func (k keyspace) kv(key string) string { return k.prefix + ":kv:" + key }

// hashTag returns the text between the braces of a queue's (or record's)
// keys. A name that holds a brace would end the tag early or leave it
// empty (so that the keys spread over several slots); such names are
// hashed.
func hashTag(name string) string {
	if name != "" && !strings.ContainsAny(name, "{}") {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "~" + hex.EncodeToString(sum[:16])
}

// settleKeys are the keys every settling script takes first, in the order
// the scripts read them: KEYS[1..4].
func (q queueKeys) settleKeys(more ...string) []string {
	return append([]string{q.leased, q.seq, q.msgs, q.deliv}, more...)
}
