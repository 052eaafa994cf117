package adobesim

import (
	"hash/maphash"
	"sync"
)

const (
	// shardCount spreads the per-token state over this many locks.
	shardCount = 64
	// chunkSize is how many records one block of the log holds; growing
	// the log never copies the records already in it.
	chunkSize = 4096
)

// tokenState is what the simulator knows of one X-Callback-Token.
type tokenState struct {
	attempts int
	accepted int
	// ruleID and next say how far the token has gone through its rule's
	// script; a new rule starts it from the beginning.
	ruleID  uint64
	next    int
	records []int
}

type shard struct {
	mu     sync.Mutex
	tokens map[string]*tokenState
	// The padding keeps two shards' locks off one cache line.
	_ [48]byte
}

// callLog holds every record in arrival order and the counts. It is only
// ever locked after a shard, or alone.
type callLog struct {
	mu     sync.Mutex
	chunks [][]Record
	n      int
	// keep is how many recent records keep their body; 0 keeps none.
	keep  int
	stats Stats
}

// callStore is the record of callbacks: per-token state in shards, and one
// log for the arrival order.
type callStore struct {
	seed   maphash.Seed
	shards [shardCount]shard
	log    callLog
}

func newCallStore(keepBodies int) *callStore {
	c := &callStore{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].tokens = map[string]*tokenState{}
	}
	c.log.keep = keepBodies
	return c
}

func (c *callStore) shardFor(token string) *shard {
	return &c.shards[maphash.String(c.seed, token)%shardCount]
}

// state returns the token's state, creating it. The shard must be locked.
func (sh *shard) state(token string) *tokenState {
	st := sh.tokens[token]
	if st == nil {
		st = &tokenState{}
		sh.tokens[token] = st
	}
	return st
}

// append adds a record to the log, drops the body of the record that has
// just fallen out of the kept window, and returns the record's index.
func (l *callLog) append(rec Record, duplicate bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.n
	if i%chunkSize == 0 {
		l.chunks = append(l.chunks, make([]Record, chunkSize))
	}
	if l.keep == 0 {
		rec.Body = nil
	}
	*l.at(i) = rec
	l.n++
	if old := i - l.keep; l.keep > 0 && old >= 0 {
		l.at(old).Body = nil
	}

	l.stats.Received++
	switch {
	case !rec.Accepted:
		l.stats.Rejected++
	case duplicate:
		l.stats.Accepted++
		l.stats.Duplicates++
	default:
		l.stats.Accepted++
	}
	return i
}

func (l *callLog) at(i int) *Record {
	return &l.chunks[i/chunkSize][i%chunkSize]
}

// all copies every record, in arrival order.
func (c *callStore) all() []Record {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	out := make([]Record, 0, c.log.n)
	for _, chunk := range c.log.chunks {
		out = append(out, chunk[:min(chunkSize, c.log.n-len(out))]...)
	}
	return out
}

// forToken copies the records of one token, in arrival order.
func (c *callStore) forToken(token string) []Record {
	sh := c.shardFor(token)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.tokens[token]
	if st == nil {
		return []Record{}
	}
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	out := make([]Record, len(st.records))
	for i, idx := range st.records {
		out[i] = *c.log.at(idx)
	}
	return out
}

func (c *callStore) stats() Stats {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return c.log.stats
}

// reset forgets every record and token. It holds every lock at once, in
// the usual order, so no callback is half recorded across it.
func (c *callStore) reset() {
	for i := range c.shards {
		c.shards[i].mu.Lock()
	}
	c.log.mu.Lock()
	for i := range c.shards {
		c.shards[i].tokens = map[string]*tokenState{}
	}
	c.log.chunks, c.log.n, c.log.stats = nil, 0, Stats{}
	c.log.mu.Unlock()
	for i := range c.shards {
		c.shards[i].mu.Unlock()
	}
}
