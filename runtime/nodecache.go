package runtime

import "sync"

// nodeCacheSize bounds a worker's cache of workflow nodes. A chord's node
// lists its whole header, and each header task that finishes reads it:
// cached, it is read from the store and decoded once per worker.
const nodeCacheSize = 4096

// nodeCache keeps workflow nodes a worker has read. Nodes never change
// once submitted, so a cached node is never stale. The zero value is
// ready; a nil cache caches nothing.
type nodeCache struct {
	mu sync.Mutex
	m  map[string]*wfNode
}

func (c *nodeCache) get(key string) *wfNode {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *nodeCache) put(key string, n *wfNode) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= nodeCacheSize {
		// Dropping everything is crude but bounded, and the nodes worth
		// keeping (joins read by many members) are read back at once.
		c.m = make(map[string]*wfNode)
	}
	c.m[key] = n
}
