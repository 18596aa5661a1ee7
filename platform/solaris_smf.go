package platform

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/fleettune/fleettune/internal/hostcmd"
)

// Solaris 10 persistence. ndd settings are lost at reboot, and the legacy
// /etc/rc2.d scripts that used to set them again run from
// svc:/milestone/multi-user, after most SMF services (sshd, inetd, NFS)
// have started with the old values (platforms.md, corrections). fleettune
// therefore owns an SMF service, as Oracle's MOS note 1377480.1 does it:
//
//   - a method script, SolarisMethodScript, that runs fleettune's ndd -set
//     lines (the values are read back from this file: it is the file
//     fleettune owns, Facts.Persisted);
//   - a manifest, SolarisManifest, for svc:/site/fleettune-ndd:default, a
//     transient service whose start method is that script, which depends on
//     filesystem/minimal (/usr/sbin/ndd), network/loopback and
//     network/physical (the stack and the interfaces are up) and is a
//     dependency of svc:/milestone/network (a <dependent>), which every
//     network service waits for;
//   - `svccfg import` of the manifest and `svcadm enable -s` of the service.
//
// A host that has fleettune's old rc script (SolarisRCScript, recognised by
// its "# Written by fleettune." line) is migrated in the same steps: its
// values move into the method script and the script is removed, or, when
// it holds lines fleettune did not write, rewritten with only those lines.
// An rc script at that path that fleettune did not write, like every other
// /etc/rc2.d and /etc/rc3.d script, is never touched: it runs after the
// service, so a knob it sets to something else than the target is refused.
const (
	// SolarisMethodScript is the start method of SolarisService.
	SolarisMethodScript = "/lib/svc/method/fleettune-ndd"
	// SolarisManifest is the service's manifest; manifest-import re-imports
	// what is under /var/svc/manifest at boot, so it is removed with the
	// service.
	SolarisManifest = "/var/svc/manifest/site/fleettune-ndd.xml"
	// SolarisService is the service instance; in Facts.Files and
	// Snapshot.Files it stands for the instance's state as `svcs -o state`
	// prints it (absent: the service does not exist).
	SolarisService = "svc:/site/fleettune-ndd:default"
	// solarisServiceName is the service (all its instances), for svccfg
	// delete.
	solarisServiceName = "svc:/site/fleettune-ndd"

	solarisSvcs   = "/usr/bin/svcs"
	solarisSvccfg = "/usr/sbin/svccfg"
	solarisSvcadm = "/usr/sbin/svcadm"

	// solarisMarker opens the second line of every file fleettune writes on
	// Solaris 10, the old rc script included.
	solarisMarker = "# Written by fleettune."
)

// solarisStates are the states `svcs -o state` prints (libscf
// SCF_STATE_STRING_*).
var solarisStates = map[string]bool{
	"uninitialized": true, "offline": true, "online": true, "degraded": true,
	"maintenance": true, "disabled": true, "legacy_run": true,
}

// solarisRuns reports whether an instance in state runs its start method
// at boot and counts as started: online or degraded, the two states svcadm
// enable -s waits for.
func solarisRuns(state string) bool { return state == "online" || state == "degraded" }

// solarisParseSvcsState reads `svcs -H -o state FMRI 2>&1`: the state (a
// trailing "*" marks a transition and is dropped), or exists false when
// svcs says no instance matches.
func solarisParseSvcsState(out string) (state string, exists bool, err error) {
	v := strings.TrimSpace(out)
	switch {
	case solarisStates[strings.TrimSuffix(v, "*")]:
		return strings.TrimSuffix(v, "*"), true, nil
	case strings.Contains(v, "doesn't match any instances"):
		return "", false, nil
	case v == "":
		return "", false, fmt.Errorf("svcs printed nothing")
	}
	return "", false, fmt.Errorf("svcs: %s", firstLine(v))
}

// solarisOwnFile reports whether content was written by fleettune: its
// first or second line is fleettune's marker (the first line is #!/sbin/sh).
func solarisOwnFile(content string) bool {
	lines := strings.SplitN(content, "\n", 3)
	for i := 0; i < len(lines) && i < 2; i++ {
		if strings.HasPrefix(lines[i], solarisMarker) {
			return true
		}
	}
	return false
}

type solarisLine struct {
	value string
	line  int
}

// solarisNddLines finds the `[/usr/sbin/]ndd -set /dev/tcp NAME VALUE`
// lines of a script (an ending "&&" allowed, as the method script chains
// them) for the knobs fleettune manages; a later line wins, as at boot.
func solarisNddLines(content string) map[string]solarisLine {
	out := map[string]solarisLine{}
	for i, line := range strings.Split(content, "\n") {
		t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "&&"))
		if name, value, ok := solarisParseNddSetLine(t); ok && solarisKnownKnob(solarisNddNames, name) {
			out[name] = solarisLine{value, i + 1}
		}
	}
	return out
}

// solarisForeignLines are the lines of fleettune's old rc script that
// fleettune did not write: neither a comment, nor blank, nor one of its
// ndd -set lines. They are numbered from 1.
func solarisForeignLines(content string) []solarisLine {
	var out []solarisLine
	for i, line := range strings.Split(content, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if name, _, ok := solarisParseNddSetLine(t); ok && solarisKnownKnob(solarisNddNames, name) {
			continue
		}
		out = append(out, solarisLine{line, i + 1})
	}
	return out
}

// solaris10AtBoot is what a Solaris 10 boot gives each knob, and where
// from: SMF runs the method script first (if the service is online now,
// i.e. enabled and working), then /sbin/rc2 and /sbin/rc3 run the legacy
// scripts (fleettune's old one among them), whose lines therefore win.
func solaris10AtBoot(f *Facts) map[string]solarisBoot {
	out := map[string]solarisBoot{}
	if f.PersistedExists && solarisRuns(f.Files[SolarisService]) {
		for k, v := range solarisNddLines(f.Persisted) {
			out[k] = solarisBoot{v.value, fmt.Sprintf("%s:%d", SolarisMethodScript, v.line)}
		}
	}
	for _, rc := range solarisRCSources(f) {
		for k, v := range solarisNddLines(rc.content) {
			src := rc.path
			if rc.path == SolarisRCScript {
				src = fmt.Sprintf("%s:%d", rc.path, v.line)
			}
			out[k] = solarisBoot{v.value, src}
		}
	}
	return out
}

type solarisBoot struct{ value, source string }

// solarisRCLines ends the Facts.Files key under which the gather keeps the
// ndd -set lines of an rc script other than fleettune's (not its content).
const solarisRCLines = " (ndd -set lines)"

// solarisRCDirs are the legacy rc directories whose S* scripts run at boot
// after SMF's services: /sbin/rc2 from milestone/multi-user, /sbin/rc3
// from milestone/multi-user-server.
var solarisRCDirs = []string{"/etc/rc2.d", "/etc/rc3.d"}

type solarisRC struct {
	path, content string
	ours          bool
}

// solarisRCSources are the rc scripts that set fleettune's knobs, in the
// order they run at boot (rc2.d then rc3.d, each by name): fleettune's old
// script with its content, the others with their ndd -set lines.
func solarisRCSources(f *Facts) []solarisRC {
	var out []solarisRC
	for k, v := range f.Files {
		switch {
		case k == SolarisRCScript:
			out = append(out, solarisRC{k, v, solarisOwnFile(v)})
		case strings.HasSuffix(k, solarisRCLines):
			out = append(out, solarisRC{strings.TrimSuffix(k, solarisRCLines), v, false})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// solarisLegacy reports whether the knob's boot value comes from
// SolarisRCScript, and whether fleettune wrote that script.
func solarisLegacy(f *Facts, knob string) (late, ours bool) {
	rc, ok := f.Files[SolarisRCScript]
	if !ok {
		return false, false
	}
	_, late = solarisNddLines(rc)[knob]
	return late, solarisOwnFile(rc)
}

// solarisMethodHeader opens the method script.
const solarisMethodHeader = "#!/sbin/sh\n" +
	solarisMarker + " The start method of " + SolarisService + "\n" +
	"# (" + SolarisManifest + "): SMF runs it at boot, after network/physical and\n" +
	"# before milestone/network, so that network services start with these values.\n" +
	"# fleettune rewrites this file whole.\n"

// solarisMethodContent is the method script setting values (knob →
// decimal), in boot order: from the defaults, smallest before largest is
// always valid. The lines are joined with && so that the method, and with it
// the service, fails when one ndd fails.
func solarisMethodContent(values map[string]string) string {
	var lines []string
	for _, k := range solarisNddNames.list() {
		if v, ok := values[k]; ok {
			lines = append(lines, fmt.Sprintf("%s -set /dev/tcp %s %s", solarisNdd, k, v))
		}
	}
	if len(lines) == 0 {
		lines = []string{":"}
	}
	return solarisMethodHeader + strings.Join(lines, " &&\n") + "\n"
}

// solarisRCKeptHeader opens fleettune's old rc script once fleettune's own
// lines moved to SMF and lines it did not write remain.
const solarisRCKeptHeader = "#!/sbin/sh\n" +
	solarisMarker + " fleettune's settings moved to " + SolarisService + ";\n" +
	"# the lines below were in this script and not written by fleettune: kept as they were.\n"

// solarisManifestXML is the manifest of SolarisService (the DTD path is the
// one svccfg requires; the layout follows the site manifests of MOS
// 1377480.1 and illumos' own network milestone manifests).
const solarisManifestXML = `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<!-- Written by fleettune. It sets its TCP tunables at boot, before network services start. -->
<service_bundle type="manifest" name="fleettune:ndd">
<service name="site/fleettune-ndd" type="service" version="1">
	<create_default_instance enabled="false" />
	<single_instance />
	<dependency name="usr" grouping="require_all" restart_on="none" type="service">
		<service_fmri value="svc:/system/filesystem/minimal" />
	</dependency>
	<dependency name="loopback" grouping="require_all" restart_on="none" type="service">
		<service_fmri value="svc:/network/loopback" />
	</dependency>
	<dependency name="physical" grouping="require_all" restart_on="none" type="service">
		<service_fmri value="svc:/network/physical" />
	</dependency>
	<dependent name="fleettune-ndd_network" grouping="optional_all" restart_on="none">
		<service_fmri value="svc:/milestone/network" />
	</dependent>
	<exec_method type="method" name="start" exec="/lib/svc/method/fleettune-ndd" timeout_seconds="60" />
	<exec_method type="method" name="stop" exec=":true" timeout_seconds="60" />
	<property_group name="startd" type="framework">
		<propval name="duration" type="astring" value="transient" />
	</property_group>
	<stability value="Unstable" />
	<template>
		<common_name>
			<loctext xml:lang="C">fleettune TCP tunables (ndd)</loctext>
		</common_name>
	</template>
</service>
</service_bundle>
`

// solarisFileMode is how fleettune installs each file: the method script
// executable and read-only (as Solaris ships /lib/svc/method), the manifest
// read-only, the rc script as rc scripts are.
var solarisFileMode = map[string][2]string{
	SolarisMethodScript: {"555", "root:bin"},
	SolarisManifest:     {"444", "root:sys"},
	SolarisRCScript:     {"744", "root:sys"},
}

// solarisInstall replaces path with content: written in a private directory
// made next to it with mkdir -m 700 (which fails on any existing path, a
// planted link included, and never follows one), given its mode and owner,
// renamed over path (same file system) and the directory removed. When a
// step fails the directory stays, and the next apply stops at mkdir until
// an operator has looked. The file in it has no .xml suffix, so that
// manifest-import never picks up a half-written manifest.
func solarisInstall(p, content string) string {
	m := solarisFileMode[p]
	return solarisInstallAs(p, m[0], m[1], content)
}

func solarisInstallAs(p, mode, owner, content string) string {
	dir := path.Join(path.Dir(p), ".fleettune.d")
	tmp := dir + "/new"
	m := [2]string{mode, owner}
	return fmt.Sprintf("mkdir -m 700 %s && printf '%%s' %s > %s && chmod %s %s && chown %s %s && mv -f %s %s && rmdir %s",
		dir, hostcmd.ShellQuote(content), tmp, m[0], tmp, m[1], tmp, tmp, p, dir)
}

// solarisFileNow is a tracked file's current content on a Solaris 10 host.
func solarisFileNow(f *Facts, p string) (string, bool) {
	if p == SolarisMethodScript {
		return f.Persisted, f.PersistedExists
	}
	v, ok := f.Files[p]
	return v, ok
}

// solaris10Files are the paths a Solaris 10 snapshot tracks, in the order
// a restore writes them.
var solaris10Files = []string{SolarisRCScript, SolarisMethodScript, SolarisManifest}

// solaris10Snapshot records the method script, the manifest, the old rc
// script and the service's state (nil: absent).
func solaris10Snapshot(s *Snapshot, f *Facts) {
	s.persistedFile(SolarisMethodScript, f)
	for _, p := range []string{SolarisManifest, SolarisRCScript, SolarisService} {
		if v, ok := f.Files[p]; ok {
			s.Files[p] = &v
		} else {
			s.Files[p] = nil
		}
	}
}

// solaris10PersistSteps makes set (knob → value) persistent through SMF:
// the method script with every value fleettune persisted before (in the
// method script, or in its old rc script, whose values were the ones in
// force at boot), the manifest, the import, the enable, and the old rc
// script removed (or rewritten with only the lines fleettune did not
// write). Only what differs from the facts is written or run.
func solaris10PersistSteps(f *Facts, set map[string]int) []string {
	values := map[string]string{}
	for k, v := range solarisNddLines(f.Persisted) {
		values[k] = v.value
	}
	rc, rcExists := f.Files[SolarisRCScript]
	ours := rcExists && solarisOwnFile(rc)
	if ours {
		for k, v := range solarisNddLines(rc) {
			values[k] = v.value
		}
	}
	for k, v := range set {
		values[k] = strconv.Itoa(v)
	}
	var cmds []string
	if method := solarisMethodContent(values); !f.PersistedExists || f.Persisted != method {
		cmds = append(cmds, solarisInstall(SolarisMethodScript, method))
	}
	manifest, manifestExists := f.Files[SolarisManifest]
	manifestChanged := !manifestExists || manifest != solarisManifestXML
	if manifestChanged {
		cmds = append(cmds, solarisInstall(SolarisManifest, solarisManifestXML))
	}
	state, exists := f.Files[SolarisService]
	if !exists || manifestChanged {
		cmds = append(cmds, solarisSvccfg+" import "+SolarisManifest)
	}
	if state == "maintenance" {
		cmds = append(cmds, solarisSvcadm+" clear "+SolarisService)
	}
	if !solarisRuns(state) {
		cmds = append(cmds, solarisSvcadm+" enable -s "+SolarisService)
	}
	if ours {
		if kept := solarisForeignLines(rc); len(kept) == 0 {
			cmds = append(cmds, "rm -f "+SolarisRCScript)
		} else {
			var b strings.Builder
			b.WriteString(solarisRCKeptHeader)
			for _, l := range kept {
				b.WriteString(l.value + "\n")
			}
			if b.String() != rc {
				cmds = append(cmds, solarisInstall(SolarisRCScript, b.String()))
			}
		}
	}
	return cmds
}

// solaris10RestoreSteps put the service and the files back as snap has
// them: a service that did not exist is disabled and deleted before its
// files go; files are removed or written back; a service that existed is
// imported again if needed and given back its enabled state.
func solaris10RestoreSteps(f *Facts, snap Snapshot) []string {
	var cmds []string
	svcWas, svcTracked := snap.Files[SolarisService]
	stateNow, existsNow := f.Files[SolarisService]
	if svcTracked && svcWas == nil && existsNow {
		if stateNow != "disabled" {
			cmds = append(cmds, solarisSvcadm+" disable -s "+SolarisService)
		}
		cmds = append(cmds, solarisSvccfg+" delete "+solarisServiceName)
	}
	manifestWritten := false
	for _, p := range solaris10Files {
		was, tracked := snap.Files[p]
		if !tracked {
			continue
		}
		now, exists := solarisFileNow(f, p)
		switch {
		case was == nil && exists:
			cmds = append(cmds, "rm -f "+p)
		case was != nil && (!exists || now != *was):
			cmds = append(cmds, solarisInstall(p, *was))
			manifestWritten = manifestWritten || p == SolarisManifest
		}
	}
	if svcTracked && svcWas != nil {
		if !existsNow || manifestWritten {
			cmds = append(cmds, solarisSvccfg+" import "+SolarisManifest)
		}
		wasEnabled := *svcWas != "disabled"
		// A service imported again is disabled (create_default_instance
		// enabled="false") unless it existed, which keeps its state.
		nowEnabled := existsNow && stateNow != "disabled"
		if stateNow == "maintenance" && wasEnabled {
			cmds = append(cmds, solarisSvcadm+" clear "+SolarisService)
		}
		switch {
		case wasEnabled && solarisRuns(*svcWas) && (!nowEnabled || !solarisRuns(stateNow)):
			cmds = append(cmds, solarisSvcadm+" enable -s "+SolarisService)
		case wasEnabled && !nowEnabled:
			cmds = append(cmds, solarisSvcadm+" enable "+SolarisService)
		case !wasEnabled && nowEnabled:
			cmds = append(cmds, solarisSvcadm+" disable -s "+SolarisService)
		}
	}
	return cmds
}

// solaris10Differences says how the service and the tracked files differ
// from snap.
func solaris10Differences(f *Facts, snap Snapshot) []string {
	var diff []string
	for _, p := range solaris10Files {
		was, tracked := snap.Files[p]
		if !tracked {
			continue
		}
		now, exists := solarisFileNow(f, p)
		switch {
		case was == nil && exists:
			diff = append(diff, p+" exists; there was none")
		case was != nil && !exists:
			diff = append(diff, p+" is missing")
		case was != nil && now != *was:
			diff = append(diff, p+" differs from its previous content")
		}
	}
	if was, tracked := snap.Files[SolarisService]; tracked {
		now, exists := f.Files[SolarisService]
		switch {
		case was == nil && exists:
			diff = append(diff, SolarisService+" exists ("+now+"); there was none")
		case was != nil && !exists:
			diff = append(diff, SolarisService+" is missing; it was "+*was)
		case was != nil && now != *was:
			diff = append(diff, SolarisService+" is "+now+", was "+*was)
		}
	}
	return diff
}

// solaris10Notes are what an operator should know about the host's
// persistence: the old rc script's late values and foreign lines, an rc
// script fleettune did not write, a service that does not run.
func solaris10Notes(f *Facts) []string {
	var notes []string
	if rc, ok := f.Files[SolarisRCScript]; ok {
		var knobs []string
		for k := range solarisNddLines(rc) {
			knobs = append(knobs, k)
		}
		sort.Strings(knobs)
		ours := solarisOwnFile(rc)
		switch {
		case ours && len(knobs) > 0:
			notes = append(notes, fmt.Sprintf("%s (fleettune's old rc script) sets %s at boot only after network services have started; "+
				"apply moves them to the SMF service %s, which runs before milestone/network, and removes the script",
				SolarisRCScript, strings.Join(knobs, ", "), SolarisService))
		case !ours && len(knobs) > 0:
			notes = append(notes, fmt.Sprintf("%s was not written by fleettune; it sets %s at boot after fleettune's SMF service and wins: fleettune leaves it alone",
				SolarisRCScript, strings.Join(knobs, ", ")))
		}
		if ours {
			for _, l := range solarisForeignLines(rc) {
				notes = append(notes, fmt.Sprintf("%s:%d was not written by fleettune and is kept in that script, which runs at boot as before: %q",
					SolarisRCScript, l.line, strings.TrimSpace(l.value)))
			}
		}
	}
	for _, rc := range solarisRCSources(f) {
		if rc.path == SolarisRCScript {
			continue
		}
		var knobs []string
		for k := range solarisNddLines(rc.content) {
			knobs = append(knobs, k)
		}
		sort.Strings(knobs)
		notes = append(notes, fmt.Sprintf("%s sets %s at boot, after fleettune's SMF service, and wins: fleettune leaves it alone",
			rc.path, strings.Join(knobs, ", ")))
	}
	if state, ok := f.Files[SolarisService]; ok && !solarisRuns(state) && f.PersistedExists {
		notes = append(notes, fmt.Sprintf("%s is %s, so %s does not run at boot", SolarisService, state, SolarisMethodScript))
	}
	return notes
}

// solarisNotOurs is why fleettune will not write its SMF files: one of the
// paths holds a file fleettune did not write. "" when they are fleettune's
// or absent.
func solarisNotOurs(f *Facts) string {
	if f.PersistedExists && !solarisOwnFile(f.Persisted) {
		return SolarisMethodScript + " exists and was not written by fleettune; move it away, then plan again"
	}
	if m, ok := f.Files[SolarisManifest]; ok && !strings.Contains(m, "<!-- "+solarisMarker[2:]) {
		return SolarisManifest + " exists and was not written by fleettune; move it away, then plan again"
	}
	return ""
}

// solarisForeignRefusal is why a change of knob to value cannot persist:
// an rc script fleettune did not write sets it to something else at boot,
// after the SMF service. "" when nothing stands in the way.
func solarisForeignRefusal(f *Facts, knob string, value int) string {
	if r := solarisNotOurs(f); r != "" {
		return r
	}
	for _, rc := range solarisRCSources(f) {
		l, set := solarisNddLines(rc.content)[knob]
		if rc.ours || !set || sameInts(l.value, strconv.Itoa(value)) {
			continue
		}
		where := rc.path
		if rc.path == SolarisRCScript {
			where = fmt.Sprintf("%s:%d", rc.path, l.line)
		}
		return fmt.Sprintf("%s, which fleettune did not write, sets %s to %s at boot, after fleettune's SMF service; remove that line, then plan again",
			where, knob, strings.TrimSpace(l.value))
	}
	return ""
}

// solaris10ReadPersistence takes from the gather output fleettune's method
// script (Facts.Persisted), the manifest and the old rc script
// (Facts.Files, by path) and the service's state (Facts.Files under
// SolarisService).
func solaris10ReadPersistence(s sections, f *Facts) error {
	for _, p := range []string{SolarisMethodScript, SolarisManifest, SolarisRCScript} {
		body, ok := s.lookup("file " + p)
		if !ok {
			continue
		}
		if _, done := s.lookup("endfile " + p); !done {
			return fmt.Errorf("read %s on Solaris %s: the file exists but could not be read", p, f.Version)
		}
		content := strings.TrimSuffix(body, "\n")
		if p == SolarisMethodScript {
			f.Persisted, f.PersistedExists = content, true
			continue
		}
		if f.Files == nil {
			f.Files = map[string]string{}
		}
		f.Files[p] = content
	}
	for _, sec := range s.all("rc ") {
		p := strings.TrimPrefix(sec.name, "rc ")
		if p == SolarisRCScript {
			continue
		}
		var lines []string
		for _, line := range strings.Split(sec.body, "\n") {
			if name, _, ok := solarisParseNddSetLine(line); ok && solarisKnownKnob(solarisNddNames, name) {
				lines = append(lines, strings.Join(strings.Fields(line), " "))
			}
		}
		if len(lines) > 0 {
			if f.Files == nil {
				f.Files = map[string]string{}
			}
			f.Files[p+solarisRCLines] = strings.Join(lines, "\n")
		}
	}
	state, exists, err := solarisParseSvcsState(s.get("svcs"))
	if err != nil {
		return fmt.Errorf("read the state of %s on Solaris %s: %w", SolarisService, f.Version, err)
	}
	if exists {
		if f.Files == nil {
			f.Files = map[string]string{}
		}
		f.Files[SolarisService] = state
	}
	return nil
}

// solarisMigrates reports whether one of the knobs, on Solaris 10, is set
// at boot by fleettune's old rc script: converged values that still need
// the move to SMF.
func solarisMigrates(f *Facts, ipadm bool, knobs ...string) bool {
	if ipadm {
		return false
	}
	for _, k := range knobs {
		if late, ours := solarisLegacy(f, k); late && ours {
			return true
		}
	}
	return false
}
