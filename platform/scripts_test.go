package platform

import (
	"fmt"
	"testing"
)

// A cached script is the one its builder makes, for each knob list apart;
// once built, asking again builds nothing; past the bound, scripts are
// still right, only built every time.
func TestCachedScripts(t *testing.T) {
	for _, native := range [][]string{nil, {"net.ipv4.tcp_keepalive_intvl"}, {"net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}} {
		knobs := linuxKnobs(native)
		if got, want := LinuxGatherScript(native), buildLinuxGatherScript(knobs); got != want {
			t.Errorf("linux %v: the cached script differs from a fresh build", native)
		}
		if got, want := DetectGatherScript(native), buildDetectGatherScript(knobs); got != want {
			t.Errorf("detect %v: the cached script differs from a fresh build", native)
		}
	}
	if LinuxGatherScript(nil) == LinuxGatherScript([]string{"net.ipv4.tcp_keepalive_intvl"}) {
		t.Error("two knob lists share one script")
	}
	builds := 0
	for i := range scriptCacheMax + 3 {
		key := []string{fmt.Sprintf("k%d", i)}
		first := cachedScript("test", key, func() string { builds++; return key[0] })
		again := cachedScript("test", key, func() string { builds++; return key[0] })
		if first != key[0] || again != key[0] {
			t.Fatalf("key %s: %q then %q", key[0], first, again)
		}
	}
	// Each key was built once while the cache had room, twice after.
	if room := scriptCacheMax - 6; builds < scriptCacheMax+3 || builds > scriptCacheMax+3+2*(scriptCacheMax+3-room) {
		t.Errorf("%d builds for %d keys", builds, scriptCacheMax+3)
	}
	knobs := linuxKnobs([]string{"net.ipv4.tcp_keepalive_intvl"})
	_ = linuxGatherScript(knobs)
	if n := testing.AllocsPerRun(100, func() { _ = linuxGatherScript(knobs) }); n > 1 {
		t.Errorf("a cached script costs %v allocations, want at most the key's 1", n)
	}
	for name, f := range map[string]func() string{"aix": AIXGatherScript, "hpux": HPUXGatherScript, "solaris": SolarisGatherScript, "tru64": Tru64GatherScript, "windows": WindowsGatherCommand} {
		if n := testing.AllocsPerRun(100, func() { _ = f() }); n != 0 || f() == "" {
			t.Errorf("%s: %v allocations per call, want the one script built once", name, n)
		}
	}
}
