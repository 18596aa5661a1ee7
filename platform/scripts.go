package platform

import (
	"strings"
	"sync"
)

// The gather scripts depend on nothing but the OS family and, on Linux,
// the knob list, which the playbook fixes: a fleet's hosts share a few.
// Built for every host they were a tenth of what a 1,000-host lab plan
// allocated; each is built once and shared (strings are immutable). The
// constant ones are sync.OnceValue beside their drivers; the Linux ones,
// keyed by their knobs, are here, at most scriptCacheMax of them, past
// which a script is built each time.
var scriptCache struct {
	sync.Mutex
	m map[string]string
}

const scriptCacheMax = 64

// cachedScript returns build()'s script for kind and knobs, building it
// the first time.
func cachedScript(kind string, knobs []string, build func() string) string {
	n := len(kind)
	for _, x := range knobs {
		n += 1 + len(x)
	}
	var k strings.Builder
	k.Grow(n)
	k.WriteString(kind)
	for _, n := range knobs {
		k.WriteByte(0)
		k.WriteString(n)
	}
	key := k.String()
	scriptCache.Lock()
	s, ok := scriptCache.m[key]
	scriptCache.Unlock()
	if ok {
		return s
	}
	s = build()
	scriptCache.Lock()
	defer scriptCache.Unlock()
	if scriptCache.m == nil {
		scriptCache.m = map[string]string{}
	}
	if len(scriptCache.m) < scriptCacheMax {
		scriptCache.m[key] = s
	}
	return s
}
