package lab

import (
	"regexp"
	"strings"
	"testing"
)

// A site manifest like the one operators write (MOS 1377480.1's shape):
// a transient service whose start method is exec, after network/physical;
// with dependent true it is also a dependency of milestone/network.
func testManifest(name, exec string, dependent bool) string {
	dep := ""
	if dependent {
		dep = `<dependent name="net" grouping="optional_all" restart_on="none"><service_fmri value="svc:/milestone/network" /></dependent>`
	}
	return `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<service_bundle type='manifest' name='test:` + name + `'>
<service name='site/` + name + `' type='service' version='1'>
  <create_default_instance enabled='false' />
  <single_instance />
  <dependency name='physical' grouping='require_all' restart_on='none' type='service'>
    <service_fmri value='svc:/network/physical' />
  </dependency>
  ` + dep + `
  <exec_method type='method' name='start' exec='` + exec + `' timeout_seconds='60' />
  <exec_method type='method' name='stop' exec=':true' timeout_seconds='60' />
  <property_group name='startd' type='framework'>
    <propval name='duration' type='astring' value='transient' />
  </property_group>
</service>
</service_bundle>
`
}

func smfMust(t *testing.T, h *Host, cmd string) Output {
	t.Helper()
	out := h.Run("root", cmd)
	if out.Code != 0 {
		t.Fatalf("%s: exit %d: %s%s", cmd, out.Code, out.Stdout, out.Stderr)
	}
	return out
}

// svccfg import checks what svccfg_xml.c checks, with its messages, and
// exits 1 on each.
func TestSMFImportErrors(t *testing.T) {
	good := testManifest("t", "/lib/svc/method/t", true)
	for _, tc := range []struct {
		name, content, user, stderr string
	}{
		{"not XML", "<service_bundle", "root", "svccfg: couldn't parse document\n"},
		{"no DTD", strings.Replace(good, `<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">`, "", 1), "root", "svccfg: document has no DTD\n"},
		{"other DTD", strings.Replace(good, "service_bundle.dtd.1", "other.dtd", 1), "root", "svccfg: document DTD unknown; not service bundle?\n"},
		{"a profile", strings.Replace(good, "type='manifest'", "type='profile'", 1), "root", "svccfg: document is not a manifest.\n"},
		{"bad grouping", strings.Replace(good, "grouping='require_all'", "grouping='before'", 1), "root", "svccfg: Document is not valid.\n"},
		{"method without exec", strings.Replace(good, "exec='/lib/svc/method/t' ", "", 1), "root", "svccfg: Document is not valid.\n"},
		{"methods before dependencies", strings.Replace(strings.Replace(good, "<exec_method type='method' name='start' exec='/lib/svc/method/t' timeout_seconds='60' />", "", 1),
			"<single_instance />", "<single_instance />\n<exec_method type='method' name='start' exec='/lib/svc/method/t' timeout_seconds='60' />", 1), "root", "svccfg: Document is not valid.\n"},
		{"a dependent with two services", strings.Replace(good, `<service_fmri value="svc:/milestone/network" />`, `<service_fmri value="svc:/milestone/network" /><service_fmri value="svc:/network/initial" />`, 1), "root", "svccfg: Document is not valid.\n"},
		{"two stabilities", strings.Replace(good, "</service>", "<stability value='Unstable' /><stability value='Evolving' /></service>", 1), "root", "svccfg: Document is not valid.\n"},
		{"not root", good, "ops", "svccfg: Permission denied.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSolarisHost(t, "5.10")
			h.Files["/var/svc/manifest/site/t.xml"] = tc.content
			out := h.Run(tc.user, "/usr/sbin/svccfg import /var/svc/manifest/site/t.xml")
			if out.Code != 1 || out.Stderr != tc.stderr {
				t.Errorf("exit %d, %q; want 1, %q", out.Code, out.Stderr, tc.stderr)
			}
			if out := h.Run("root", "/usr/bin/svcs site/t"); out.Code != 1 || out.Stderr != "svcs: Pattern 'site/t' doesn't match any instances\n" {
				t.Errorf("the service exists after a failed import: %q %q", out.Stdout, out.Stderr)
			}
		})
	}
}

// import, enable -s, svcs, disable -s, delete: each with the real output
// and exit codes; a method that is not executable puts the instance in
// maintenance, enable -s exits 3, and clear runs it again.
func TestSMFServiceLifecycle(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	h.Files["/lib/svc/method/t"] = "#!/sbin/sh\n/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n"
	h.Files["/var/svc/manifest/site/t.xml"] = testManifest("t", "/lib/svc/method/t", true)
	repo := h.Files[SMFRepositoryFile]
	smfMust(t, h, "/usr/sbin/svccfg import /var/svc/manifest/site/t.xml")
	if h.Files[SMFRepositoryFile] == repo || !strings.Contains(h.Files[SMFRepositoryFile], "service svc:/site/t ") {
		t.Errorf("import did not reach the repository:\n%s", h.Files[SMFRepositoryFile])
	}
	if out := smfMust(t, h, "/usr/bin/svcs -H -o state svc:/site/t:default"); out.Stdout != "disabled\n" {
		t.Errorf("state after import %q", out.Stdout)
	}

	out := h.Run("root", "/usr/sbin/svcadm enable -s svc:/site/t:default")
	if out.Code != 3 || out.Stderr != "svcadm: Instance \"svc:/site/t:default\" is in maintenance state.\n" {
		t.Errorf("enable -s of a method without x bit: exit %d, %q", out.Code, out.Stderr)
	}
	if got := smfMust(t, h, "/usr/bin/svcs -H -o state t").Stdout; got != "maintenance\n" {
		t.Errorf("state %q", got)
	}
	smfMust(t, h, "chmod 555 /lib/svc/method/t")
	smfMust(t, h, "/usr/sbin/svcadm clear svc:/site/t:default")
	listing := smfMust(t, h, "/usr/bin/svcs site/t:default").Stdout
	if !regexp.MustCompile(`^STATE          STIME    FMRI\nonline         [ 12]\d:\d\d:\d\d svc:/site/t:default\n$`).MatchString(listing) {
		t.Errorf("svcs listing %q", listing)
	}
	if got := solarisCall(t, h, "root", "ndd", "-get", "/dev/tcp", "tcp_time_wait_interval").Stdout; got != "30000\n" {
		t.Errorf("the start method did not run: %q", got)
	}

	// svcs -a sorts by state (disabled before online before maintenance),
	// then time, then FMRI.
	h.Files["/var/svc/manifest/site/u.xml"] = testManifest("u", "/lib/svc/method/none", true)
	smfMust(t, h, "/usr/sbin/svccfg import /var/svc/manifest/site/u.xml")
	all := smfMust(t, h, "/usr/bin/svcs -aH -o state,fmri").Stdout
	if !strings.HasPrefix(all, "disabled       svc:/site/u:default\nonline         svc:/milestone/multi-user:default\n") {
		t.Errorf("svcs -a order:\n%s", all)
	}
	smfMust(t, h, "/usr/sbin/svccfg delete svc:/site/u")
	for _, tc := range []struct{ user, cmd, stderr string }{
		{"ops", "/usr/sbin/svcadm disable svc:/site/t:default", "svcadm: svc:/site/t:default: Permission denied.\n"},
		{"root", "/usr/sbin/svcadm enable site/nosuch", "svcadm: Pattern 'site/nosuch' doesn't match any instances\n"},
		{"root", "/usr/sbin/svccfg delete svc:/site/t", "svccfg: Instance svc:/site/t:default may be running.  Use delete -f if it is not.\n"},
		{"root", "/usr/sbin/svccfg delete svc:/site/nosuch", "svccfg: Pattern 'svc:/site/nosuch' doesn't match any instances or services\n"},
	} {
		if out := h.Run(tc.user, tc.cmd); out.Code != 1 || out.Stderr != tc.stderr {
			t.Errorf("%s as %s: exit %d, %q; want 1, %q", tc.cmd, tc.user, out.Code, out.Stderr, tc.stderr)
		}
	}
	smfMust(t, h, "/usr/sbin/svcadm disable -s svc:/site/t:default")
	smfMust(t, h, "/usr/sbin/svccfg delete svc:/site/t")
	if h.Files[SMFRepositoryFile] != repo {
		t.Errorf("repository after delete:\n%s\nwant\n%s", h.Files[SMFRepositoryFile], repo)
	}
}

// At boot the enabled services start in dependency order and the legacy
// rc2.d scripts run last: a service that is a dependency of
// milestone/network sets its values before network services start; one
// that is not ordered before it does not (the lab starts it after, the
// worst case); an rc2.d script runs after both and wins.
func TestSMFBootOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dependent  bool
		rc         string
		atNetwork  int
		afterBoot  int
		methodRuns bool
	}{
		{"dependent of milestone/network", true, "", 30000, 30000, true},
		{"no dependent", false, "", 60000, 30000, true},
		{"rc2.d script too", true, "#!/sbin/sh\nndd -set /dev/tcp tcp_time_wait_interval 45000\n", 30000, 45000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSolarisHost(t, "5.10")
			h.Files["/lib/svc/method/t"] = "#!/sbin/sh\n/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000\n"
			smfMust(t, h, "chmod 555 /lib/svc/method/t")
			h.Files["/var/svc/manifest/site/t.xml"] = testManifest("t", "/lib/svc/method/t", tc.dependent)
			smfMust(t, h, "/usr/sbin/svccfg import /var/svc/manifest/site/t.xml")
			smfMust(t, h, "/usr/sbin/svcadm enable -s t")
			if tc.rc != "" {
				h.Files["/etc/rc2.d/S71local"] = tc.rc
			}
			smfMust(t, h, "/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 50000")
			h.Reboot()
			e := h.Emu.(*solarisEmu)
			if got := e.atNetwork["tcp_time_wait_interval"]; got != tc.atNetwork {
				t.Errorf("network services started with TIME_WAIT %d, want %d", got, tc.atNetwork)
			}
			if got := e.live["tcp_time_wait_interval"]; got != tc.afterBoot {
				t.Errorf("after boot %d, want %d", got, tc.afterBoot)
			}
			if got := smfMust(t, h, "/usr/bin/svcs -H -o state t").Stdout; got != "online\n" {
				t.Errorf("state after boot %q", got)
			}
		})
	}
}

// manifest-import imports at boot every manifest under /var/svc/manifest
// it has not imported in this form: a service deleted with svccfg whose
// manifest stays comes back at the next boot. That is why the driver
// removes the manifest with the service.
func TestSMFManifestImportAtBoot(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	h.Files["/lib/svc/method/t"] = "#!/sbin/sh\n:\n"
	h.Files["/var/svc/manifest/site/t.xml"] = testManifest("t", "/lib/svc/method/t", true)
	smfMust(t, h, "/usr/sbin/svccfg import /var/svc/manifest/site/t.xml")
	smfMust(t, h, "/usr/sbin/svccfg delete svc:/site/t")
	h.Reboot()
	if out := h.Run("root", "/usr/bin/svcs -H -o state site/t"); out.Code != 0 || out.Stdout != "disabled\n" {
		t.Errorf("a manifest left behind was not imported at boot: exit %d %q %q", out.Code, out.Stdout, out.Stderr)
	}
	// Imported once at boot, deleted again: the same file is not imported
	// at the next boot (its hash is recorded).
	smfMust(t, h, "/usr/sbin/svccfg delete svc:/site/t")
	h.Reboot()
	if out := h.Run("root", "/usr/bin/svcs -H -o state site/t"); out.Code != 1 {
		t.Errorf("an unchanged manifest was imported twice: %q", out.Stdout)
	}
	// A half-written manifest in fleettune's private directory has no .xml
	// suffix and is never imported.
	h.Files["/var/svc/manifest/site/.fleettune.d/new"] = testManifest("u", "/lib/svc/method/t", true)
	h.Reboot()
	if out := h.Run("root", "/usr/bin/svcs -H -o state site/u"); out.Code != 1 {
		t.Errorf("a file without .xml was imported: %q", out.Stdout)
	}
}

// chmod and chown keep a mode and owner that mv carries and rm drops; a
// script runs only with an x bit.
func TestSolarisFileModes(t *testing.T) {
	h := newSolarisHost(t, "5.10")
	e := h.Emu.(*solarisEmu)
	smfMust(t, h, "mkdir -m 700 /lib/svc/method/.d && printf '%s' '#!/sbin/sh\necho hi\n' > /lib/svc/method/.d/new && chmod 555 /lib/svc/method/.d/new && "+
		"chown root:bin /lib/svc/method/.d/new && mv -f /lib/svc/method/.d/new /lib/svc/method/x && rmdir /lib/svc/method/.d")
	if m := e.metaOf(h, "/lib/svc/method/x"); m != (solarisFileMeta{0o555, "root", "bin"}) {
		t.Errorf("meta %+v", m)
	}
	if out := smfMust(t, h, "/lib/svc/method/x"); out.Stdout != "hi\n" {
		t.Errorf("script printed %q", out.Stdout)
	}
	if out := h.Run("ops", "chown ops /lib/svc/method/x"); out.Code != 1 || out.Stderr != "chown: /lib/svc/method/x: Not owner\n" {
		t.Errorf("chown as ops: %d %q", out.Code, out.Stderr)
	}
	smfMust(t, h, "rm -f /lib/svc/method/x")
	h.Files["/lib/svc/method/x"] = "#!/sbin/sh\necho hi\n"
	if out := h.Run("root", "/lib/svc/method/x"); out.Code != 126 || out.Stderr != "sh: /lib/svc/method/x: cannot execute\n" {
		t.Errorf("a new file kept the old mode: exit %d %q", out.Code, out.Stderr)
	}
}

// The lab's cost of rebooting a Solaris 10 host that has fleettune's SMF
// service (manifest-import, the dependency-ordered start with the method
// script run by the lab's shell, rc2), and of one gather on it.
func BenchmarkSolaris10BootWithService(b *testing.B) {
	h, _ := NewHost("sol-01", "solaris", "5.10")
	h.Files["/lib/svc/method/t"] = "#!/sbin/sh\n/usr/sbin/ndd -set /dev/tcp tcp_time_wait_interval 30000 &&\n/usr/sbin/ndd -set /dev/tcp tcp_keepalive_interval 300000\n"
	h.Files["/var/svc/manifest/site/t.xml"] = testManifest("t", "/lib/svc/method/t", true)
	for _, c := range []string{"chmod 555 /lib/svc/method/t", "/usr/sbin/svccfg import /var/svc/manifest/site/t.xml", "/usr/sbin/svcadm enable -s t"} {
		if out := h.Run("root", c); out.Code != 0 {
			b.Fatal(out)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Reboot()
	}
	if h.Emu.(*solarisEmu).atNetwork["tcp_time_wait_interval"] != 30000 {
		b.Fatal("the service did not run at boot")
	}
}
