package runtime

import "sync"

// nodeCacheSize bounds a worker's cache of workflow nodes. A chord's node
// lists its whole header, and each header task that finishes reads it:
// cached, it is read from the store and decoded once per worker.
const nodeCacheSize = 4096

// nodeCache keeps the chains, groups and chords a worker has read, the
// nodes every member of a join reads; a task's own node is read by its
// task alone, and is not kept, so that a large header does not push its
// join out. Nodes never change once submitted, so a cached node is never
// stale. Concurrent reads of one node share one load. The zero value is
// ready; a nil cache caches nothing.
type nodeCache struct {
	mu      sync.Mutex
	m       map[string]*wfNode
	loading map[string]*nodeLoad
}

// nodeLoad is a load in progress; done is closed once n and err are set.
type nodeLoad struct {
	done chan struct{}
	n    *wfNode
	err  error
}

// get returns the node under key, from the cache, from a load in
// progress, or from load, whose node is kept unless it is a task's.
func (c *nodeCache) get(key string, load func() (*wfNode, error)) (*wfNode, error) {
	if c == nil {
		return load()
	}
	c.mu.Lock()
	if n := c.m[key]; n != nil {
		c.mu.Unlock()
		return n, nil
	}
	if l := c.loading[key]; l != nil {
		c.mu.Unlock()
		<-l.done
		return l.n, l.err
	}
	l := &nodeLoad{done: make(chan struct{})}
	if c.loading == nil {
		c.loading = make(map[string]*nodeLoad)
	}
	c.loading[key] = l
	c.mu.Unlock()

	l.n, l.err = load()
	c.mu.Lock()
	delete(c.loading, key)
	if l.err == nil && l.n.Kind != nodeTask && l.n.Kind != nodeChunk {
		if c.m == nil || len(c.m) >= nodeCacheSize {
			// Dropping everything is crude but bounded, and the nodes
			// worth keeping (joins read by many members) are read back
			// at once.
			c.m = make(map[string]*wfNode)
		}
		c.m[key] = l.n
	}
	c.mu.Unlock()
	close(l.done)
	return l.n, l.err
}
