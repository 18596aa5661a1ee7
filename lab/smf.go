package lab

import (
	"crypto/md5"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Service Management Facility of the Solaris emulator (10 and 11): a
// repository of services, the svccfg, svcadm and svcs commands, and a boot
// that starts the enabled services in dependency order before /sbin/rc2 runs
// the legacy /etc/rc2.d scripts (from svc:/milestone/multi-user, last).
//
// The behaviour follows the OpenSolaris sources of the Solaris 10 era
// (usr/src/cmd/svc in the polaris-20061002 drop): svccfg_xml.c (what import
// requires of a manifest and its messages: "couldn't parse document",
// "document has no DTD", "document DTD unknown; not service bundle?",
// "document is not a service bundle", "document is not a manifest.",
// "Document is not valid."), svccfg_libscf.c (delete refuses an instance
// that may be running: "Instance %s may be running.  Use delete -f if it is
// not."), svccfg_main.c (messages prefixed "svccfg: ", exit 1), svcadm.c
// (enable -s waits; exit 3 when the instance goes to maintenance, with
// `Instance "%s" is in maintenance state.`), svcs.c (columns STATE 14,
// STIME 8 and FMRI, each followed by one space and the line's trailing
// blanks trimmed; STIME as "%k:%M:%S" within a day, "%b_%d" within a
// year), libscf error.c ("Pattern '%s' doesn't match any instances"), and
// svc.startd method.c (a method is `/sbin/sh -c EXEC`; a non-zero exit puts
// the instance in maintenance).
//
// The manifest is read here with encoding/xml, on its own terms (the DTD
// path, the elements and attributes svccfg needs), never with the driver's
// code: the driver writes text, this reads XML.
//
// The repository's configuration (services imported by an administrator,
// their dependencies, methods and enabled flags) is mirrored as text into
// Host.Files at SMFRepositoryFile, so that every test that compares a
// host's files before and after (a restore, a rollback) also sees a service
// left behind. The real file is svc.configd's SQLite database; nothing reads
// the mirror but tests.

// SMFRepositoryFile is where the emulator mirrors its SMF configuration.
const SMFRepositoryFile = "/etc/svc/repository.db"

// smfDTD is the only DTD svccfg accepts (MANIFEST_DTD_PATH).
const smfDTD = "/usr/share/lib/xml/dtd/service_bundle.dtd.1"

// smfManifestDir is what manifest-import scans at boot.
const smfManifestDir = "/var/svc/manifest/"

type smfDep struct {
	name, grouping string
	fmris          []string
}

type smfService struct {
	name         string // "site/fleettune-ndd"
	deps         []smfDep
	dependents   []smfDep
	start, stop  string // exec strings; "" when the manifest has none
	duration     string
	instances    map[string]*smfInstance
	builtin      bool
	manifestPath string
}

type smfInstance struct {
	enabled bool
	state   string
	stime   time.Time
}

// smfRepo is the repository plus svc.startd's view of it.
type smfRepo struct {
	services map[string]*smfService // by service name, no "svc:/"
	// hashes are manifest-import's record of what it imported at boot, by
	// path (only the boot-time import keeps one, as SVCCFG_CHECKHASH is set
	// only there).
	hashes map[string][md5.Size]byte
	// Log is what the start methods printed, in order, as svc.startd writes
	// it to /var/svc/log (kept here so that a boot does not change files).
	log []string
}

// smfBuiltins are the services of a Solaris install the lab models: the
// ones site services depend on and the network services that wait for
// svc:/milestone/network (inetd, network/initial), with their own
// dependencies from the installed manifests.
var smfBuiltins = []struct {
	name string
	deps []string
}{
	{"system/filesystem/minimal", nil},
	{"network/loopback", nil},
	{"network/physical", nil},
	{"milestone/network", []string{"svc:/network/loopback", "svc:/network/physical"}},
	{"network/initial", []string{"svc:/milestone/network", "svc:/system/filesystem/minimal"}},
	{"network/inetd", []string{"svc:/milestone/network", "svc:/network/initial"}},
	{"milestone/multi-user", []string{"svc:/milestone/network", "svc:/network/inetd"}},
}

func newSMFRepo() *smfRepo {
	r := &smfRepo{services: map[string]*smfService{}, hashes: map[string][md5.Size]byte{}}
	for _, b := range smfBuiltins {
		s := &smfService{name: b.name, builtin: true, duration: "transient",
			instances: map[string]*smfInstance{"default": {enabled: true, state: "online"}}}
		for _, d := range b.deps {
			s.deps = append(s.deps, smfDep{name: path.Base(d), grouping: "require_all", fmris: []string{d}})
		}
		r.services[b.name] = s
	}
	return r
}

// smfSplit turns an FMRI or abbreviation into service and instance names:
// "svc:/site/x:default" → ("site/x", "default"); "site/x" → ("site/x", "").
func smfSplit(fmri string) (svc, inst string) {
	s := strings.TrimPrefix(fmri, "svc:")
	s = strings.TrimPrefix(s, "/")
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// match finds the instances a pattern names, as scf_walk_fmri does for a
// full FMRI or an abbreviation of its last components ("fleettune-ndd",
// "site/fleettune-ndd:default"): a pattern without an instance matches
// every instance of the service, and a service without instances as
// itself (inst "").
func (r *smfRepo) match(pattern string) (svcs []*smfService, insts []string) {
	want, inst := smfSplit(pattern)
	full := strings.HasPrefix(pattern, "svc:/")
	names := make([]string, 0, len(r.services))
	for n := range r.services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !(n == want || (!full && strings.HasSuffix(n, "/"+want))) {
			continue
		}
		s := r.services[n]
		for _, in := range smfSortedInstances(s) {
			if inst == "" || in == inst {
				svcs = append(svcs, s)
				insts = append(insts, in)
			}
		}
		if inst == "" && len(s.instances) == 0 {
			svcs = append(svcs, s)
			insts = append(insts, "")
		}
	}
	return svcs, insts
}

func smfSortedInstances(s *smfService) []string {
	out := make([]string, 0, len(s.instances))
	for n := range s.instances {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func smfFMRI(s *smfService, inst string) string { return "svc:/" + s.name + ":" + inst }

// --- the manifest, as svccfg reads it --------------------------------------

type smfBundleXML struct {
	XMLName  xml.Name        `xml:"service_bundle"`
	Type     string          `xml:"type,attr"`
	Name     string          `xml:"name,attr"`
	Services []smfServiceXML `xml:"service"`
}

type smfServiceXML struct {
	Name    string `xml:"name,attr"`
	Type    string `xml:"type,attr"`
	Version string `xml:"version,attr"`
	Create  *struct {
		Enabled string `xml:"enabled,attr"`
	} `xml:"create_default_instance"`
	Instances []struct {
		Name    string `xml:"name,attr"`
		Enabled string `xml:"enabled,attr"`
	} `xml:"instance"`
	Deps       []smfDepXML `xml:"dependency"`
	Dependents []smfDepXML `xml:"dependent"`
	Methods    []struct {
		Type    string `xml:"type,attr"`
		Name    string `xml:"name,attr"`
		Exec    string `xml:"exec,attr"`
		Timeout string `xml:"timeout_seconds,attr"`
	} `xml:"exec_method"`
	PGs []struct {
		Name  string `xml:"name,attr"`
		Type  string `xml:"type,attr"`
		Props []struct {
			Name  string `xml:"name,attr"`
			Type  string `xml:"type,attr"`
			Value string `xml:"value,attr"`
		} `xml:"propval"`
	} `xml:"property_group"`
}

type smfDepXML struct {
	Name      string `xml:"name,attr"`
	Grouping  string `xml:"grouping,attr"`
	RestartOn string `xml:"restart_on,attr"`
	Type      string `xml:"type,attr"`
	FMRIs     []struct {
		Value string `xml:"value,attr"`
	} `xml:"service_fmri"`
}

var smfGroupings = map[string]bool{"require_all": true, "require_any": true, "optional_all": true, "exclude_all": true}
var smfRestartOn = map[string]bool{"error": true, "restart": true, "refresh": true, "none": true}

// smfParseManifest reads a manifest as svccfg import does, or returns
// svccfg's message.
func smfParseManifest(content string) (*smfBundleXML, string) {
	d := xml.NewDecoder(strings.NewReader(content))
	d.Strict = true
	sawDTD := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, "document is empty\n"
		}
		if err != nil {
			return nil, "couldn't parse document\n"
		}
		switch t := tok.(type) {
		case xml.Directive:
			f := strings.Fields(string(t))
			if len(f) >= 4 && f[0] == "DOCTYPE" && f[2] == "SYSTEM" {
				sawDTD = true
				if strings.Trim(f[3], `"'`) != smfDTD {
					return nil, "document DTD unknown; not service bundle?\n"
				}
			}
		case xml.StartElement:
			if !sawDTD {
				return nil, "document has no DTD\n"
			}
			if t.Name.Local != "service_bundle" {
				return nil, "document is not a service bundle\n"
			}
			var b smfBundleXML
			if err := d.DecodeElement(&b, &t); err != nil {
				return nil, "couldn't parse document\n"
			}
			if _, err := d.Token(); err != io.EOF && err != nil {
				return nil, "couldn't parse document\n"
			}
			if msg := smfValidate(&b); msg != "" {
				return nil, msg
			}
			if !smfOrderValid(content) {
				return nil, "Document is not valid.\n"
			}
			return &b, ""
		}
	}
}

// smfServiceOrder is the content model of <service> in
// service_bundle.dtd.1: these children, in this order; the ones marked
// once at most once.
var smfServiceOrder = []struct {
	name string
	once bool
}{
	{"create_default_instance", true}, {"single_instance", true}, {"restarter", true},
	{"dependency", false}, {"dependent", false}, {"method_context", true}, {"exec_method", false},
	{"property_group", false}, {"instance", false}, {"stability", true}, {"template", true},
}

// smfOrderValid checks the children of every <service> against the DTD's
// sequence, and that a <dependent> names exactly one service_fmri, as
// libxml2's validation would.
func smfOrderValid(content string) bool {
	d := xml.NewDecoder(strings.NewReader(content))
	var stack []string
	pos, count := 0, map[string]int{}
	fmris := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return err == io.EOF
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch parent {
			case "service":
				i := pos
				for i < len(smfServiceOrder) && smfServiceOrder[i].name != t.Name.Local {
					i++
				}
				if i == len(smfServiceOrder) {
					return false
				}
				pos = i
				count[t.Name.Local]++
				if smfServiceOrder[i].once && count[t.Name.Local] > 1 {
					return false
				}
			case "dependent":
				if t.Name.Local == "service_fmri" {
					fmris++
				}
			}
			switch t.Name.Local {
			case "service":
				pos, count = 0, map[string]int{}
				if ty := smfAttr(t, "type"); ty != "service" && ty != "restarter" && ty != "milestone" {
					return false
				}
			case "dependent":
				fmris = 0
			}
			stack = append(stack, t.Name.Local)
		case xml.EndElement:
			if t.Name.Local == "dependent" && fmris != 1 {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
}

func smfAttr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// smfValidate checks what the DTD requires of the elements the lab reads.
func smfValidate(b *smfBundleXML) string {
	const invalid = "Document is not valid.\n"
	if b.Type == "" {
		return invalid
	}
	if b.Type != "manifest" {
		return "document is not a manifest.\n"
	}
	if b.Name == "" {
		return "service bundle lacks name attribute\n"
	}
	for _, s := range b.Services {
		if s.Name == "" || s.Type == "" || s.Version == "" {
			return invalid
		}
		for _, d := range append(append([]smfDepXML{}, s.Deps...), s.Dependents...) {
			if d.Name == "" || !smfGroupings[d.Grouping] || !smfRestartOn[d.RestartOn] || len(d.FMRIs) == 0 {
				return invalid
			}
			for _, f := range d.FMRIs {
				if f.Value == "" {
					return invalid
				}
			}
		}
		for _, d := range s.Deps {
			if d.Type == "" {
				return invalid
			}
		}
		for _, m := range s.Methods {
			if m.Type == "" || m.Name == "" || m.Exec == "" || m.Timeout == "" {
				return invalid
			}
		}
	}
	return ""
}

// importManifest imports a parsed bundle: a new service gets its instances
// with the manifest's enabled flags; an existing one keeps its instances'
// state (an administrator's svcadm enable is a customisation import does
// not undo) and takes the rest from the manifest.
func (r *smfRepo) importManifest(b *smfBundleXML, file string) {
	for _, sx := range b.Services {
		s := &smfService{name: sx.Name, instances: map[string]*smfInstance{}, manifestPath: file, duration: "contract"}
		for _, d := range sx.Deps {
			s.deps = append(s.deps, smfDepFrom(d))
		}
		for _, d := range sx.Dependents {
			s.dependents = append(s.dependents, smfDepFrom(d))
		}
		for _, m := range sx.Methods {
			switch m.Name {
			case "start":
				s.start = m.Exec
			case "stop":
				s.stop = m.Exec
			}
		}
		for _, pg := range sx.PGs {
			for _, p := range pg.Props {
				if pg.Name == "startd" && p.Name == "duration" {
					s.duration = p.Value
				}
			}
		}
		if sx.Create != nil {
			s.instances["default"] = &smfInstance{enabled: sx.Create.Enabled == "true", state: "disabled"}
		}
		for _, in := range sx.Instances {
			s.instances[in.Name] = &smfInstance{enabled: in.Enabled == "true", state: "disabled"}
		}
		if old, ok := r.services[sx.Name]; ok {
			for n, in := range old.instances {
				s.instances[n] = in
			}
		}
		r.services[sx.Name] = s
	}
}

func smfDepFrom(d smfDepXML) smfDep {
	dep := smfDep{name: d.Name, grouping: d.Grouping}
	for _, f := range d.FMRIs {
		dep.fmris = append(dep.fmris, f.Value)
	}
	return dep
}

// render is the repository's configuration as text, for Host.Files: the
// services an administrator imported, sorted, with what import stored and
// the enabled flags (not the states, which svc.startd keeps in memory).
func (r *smfRepo) render() string {
	var b strings.Builder
	b.WriteString("# lab: the SMF repository's configuration (svc.configd keeps it in SQLite)\n")
	names := make([]string, 0, len(r.services))
	for n, s := range r.services {
		if !s.builtin {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		s := r.services[n]
		fmt.Fprintf(&b, "service svc:/%s manifest=%s duration=%s start=%q stop=%q\n", n, s.manifestPath, s.duration, s.start, s.stop)
		for _, d := range s.deps {
			fmt.Fprintf(&b, "  dependency %s %s %s\n", d.name, d.grouping, strings.Join(d.fmris, " "))
		}
		for _, d := range s.dependents {
			fmt.Fprintf(&b, "  dependent %s %s %s\n", d.name, d.grouping, strings.Join(d.fmris, " "))
		}
		for _, in := range smfSortedInstances(s) {
			fmt.Fprintf(&b, "  instance %s enabled=%t\n", in, s.instances[in].enabled)
		}
	}
	return b.String()
}

// --- commands ---------------------------------------------------------------

func (e *solarisEmu) smfChanged(h *Host) { h.Files[SMFRepositoryFile] = e.smf.render() }

const svccfgUsage = "Usage:\tsvccfg [-v] [-s FMRI] [-f file]\n\tsvccfg [-v] [-s FMRI] <command> [args]\n"

func (e *solarisEmu) svccfg(c *Call) Output {
	args := c.Argv[1:]
	fail := func(msg string) Output { return Output{Stderr: "svccfg: " + msg, Code: 1} }
	if len(args) == 0 {
		return Output{Stderr: svccfgUsage, Code: 2}
	}
	switch args[0] {
	case "import":
		if len(args) != 2 {
			return fail("Syntax error.\n")
		}
		content, ok := readHostFile(c.Host, args[1])
		if !ok {
			return fail("couldn't parse document\n")
		}
		b, msg := smfParseManifest(content)
		if msg != "" {
			return fail(msg)
		}
		if !c.Root() {
			return fail("Permission denied.\n")
		}
		e.smf.importManifest(b, args[1])
		// An enabled instance new to svc.startd starts at once.
		for _, sx := range b.Services {
			s := e.smf.services[sx.Name]
			for _, n := range smfSortedInstances(s) {
				in := s.instances[n]
				if in.stime.IsZero() {
					in.stime = time.Now()
				}
				if in.enabled && in.state == "disabled" {
					e.startInstance(c.Host, s, in, time.Now())
				}
			}
		}
		e.smfChanged(c.Host)
		return Output{}
	case "delete":
		rest, force := args[1:], false
		if len(rest) > 0 && rest[0] == "-f" {
			rest, force = rest[1:], true
		}
		if len(rest) != 1 {
			return fail("Syntax error.\n")
		}
		svcs, insts := e.smf.match(rest[0])
		if len(svcs) == 0 {
			return fail(fmt.Sprintf("Pattern '%s' doesn't match any instances or services\n", rest[0]))
		}
		if !c.Root() {
			return fail("Permission denied.\n")
		}
		_, wantInst := smfSplit(rest[0])
		for i, s := range svcs {
			if s.builtin {
				return fail("Permission denied.\n")
			}
			if in := s.instances[insts[i]]; in != nil && !force && (in.state == "online" || in.state == "degraded") {
				return fail(fmt.Sprintf("Instance %s may be running.  Use delete -f if it is not.\n", smfFMRI(s, insts[i])))
			}
		}
		for i, s := range svcs {
			if wantInst != "" {
				delete(s.instances, insts[i])
			} else {
				delete(e.smf.services, s.name)
			}
		}
		e.smfChanged(c.Host)
		return Output{}
	}
	return fail("Syntax error.\n")
}

const svcadmUsage = "Usage: svcadm [-v] [cmd [args ... ]]\n\n" +
	"\tsvcadm enable [-rst] <service> ...\t- enable and online service(s)\n" +
	"\tsvcadm disable [-st] <service> ...\t- disable and offline service(s)\n" +
	"\tsvcadm restart <service> ...\t\t- restart specified service(s)\n" +
	"\tsvcadm refresh <service> ...\t\t- re-read service configuration\n" +
	"\tsvcadm clear <service> ...\t\t- clear maintenance state\n"

func (e *solarisEmu) svcadm(c *Call) Output {
	args := c.Argv[1:]
	if len(args) == 0 {
		return Output{Stderr: svcadmUsage, Code: 2}
	}
	sub, rest := args[0], args[1:]
	wait := false
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		for _, o := range rest[0][1:] {
			switch {
			case o == 's' && (sub == "enable" || sub == "disable"):
				wait = true
			case o == 't' && (sub == "enable" || sub == "disable"), o == 'r' && sub == "enable":
			default:
				return Output{Stderr: svcadmUsage, Code: 2}
			}
		}
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return Output{Stderr: svcadmUsage, Code: 2}
	}
	switch sub {
	case "enable", "disable", "clear", "refresh", "restart":
	default:
		return Output{Stderr: svcadmUsage, Code: 2}
	}
	var out Output
	now := time.Now()
	for _, pat := range rest {
		svcs, insts := e.smf.match(pat)
		if len(svcs) == 0 || insts[0] == "" {
			out.Stderr += fmt.Sprintf("svcadm: Pattern '%s' doesn't match any instances\n", pat)
			out.Code = 1
			continue
		}
		for i, s := range svcs {
			fmri := smfFMRI(s, insts[i])
			if !c.Root() {
				out.Stderr += fmt.Sprintf("svcadm: %s: Permission denied.\n", fmri)
				out.Code = 1
				continue
			}
			if s.builtin {
				continue // the lab's installed services stay as they are
			}
			in := s.instances[insts[i]]
			switch sub {
			case "enable":
				in.enabled = true
				if in.state == "disabled" {
					e.startInstance(c.Host, s, in, now)
				}
				if wait && in.state == "maintenance" {
					out.Stderr += fmt.Sprintf("svcadm: Instance \"%s\" is in maintenance state.\n", fmri)
					out.Code = 3
				} else if wait && in.state != "online" {
					out.Stderr += fmt.Sprintf("svcadm: Instance \"%s\" has unsatisfied dependencies.\n", fmri)
					if out.Code == 0 {
						out.Code = 4
					}
				}
			case "disable":
				in.enabled = false
				if in.state != "disabled" {
					if s.stop != "" && s.stop != ":true" && in.state == "online" {
						e.runMethod(c.Host, s, insts[i], "stop", s.stop)
					}
					in.state, in.stime = "disabled", now
				}
			case "clear":
				if in.state == "maintenance" && in.enabled {
					e.startInstance(c.Host, s, in, now)
				}
			case "refresh", "restart":
			}
		}
	}
	e.smfChanged(c.Host)
	return out
}

// startInstance runs an instance's start method now (its dependencies on
// a running system are the built-in services, all online): online when it
// exits 0, maintenance otherwise.
func (e *solarisEmu) startInstance(h *Host, s *smfService, in *smfInstance, at time.Time) {
	in.stime = at
	if !e.depsMet(s) {
		in.state = "offline"
		return
	}
	name := ""
	for n, x := range s.instances {
		if x == in {
			name = n
		}
	}
	if s.start == "" || e.runMethod(h, s, name, "start", s.start) != 0 {
		in.state = "maintenance"
		return
	}
	in.state = "online"
}

// runMethod runs a method as svc.startd does (/sbin/sh -c EXEC, as root)
// and returns its exit status; what it printed goes to the log.
func (e *solarisEmu) runMethod(h *Host, s *smfService, inst, method, exec string) int {
	if exec == ":true" || exec == ":kill" {
		return 0
	}
	sh := &shell{h: h, user: "root"}
	out := sh.run(exec)
	e.smf.log = append(e.smf.log, fmt.Sprintf("[ %s Method \"%s\" exited with status %d ]\n%s%s",
		smfFMRI(s, inst), method, out.Code, out.Stdout, out.Stderr))
	return out.Code
}

// depsMet: every require_all dependency names an online instance, and
// every require_any at least one.
func (e *solarisEmu) depsMet(s *smfService) bool {
	for _, d := range s.deps {
		ok := d.grouping != "require_any"
		for _, f := range d.fmris {
			online := e.online(f)
			switch d.grouping {
			case "require_all":
				ok = ok && online
			case "require_any":
				ok = ok || online
			case "exclude_all":
				ok = ok && !online
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (e *solarisEmu) online(fmri string) bool {
	svc, inst := smfSplit(fmri)
	s, ok := e.smf.services[svc]
	if !ok {
		return false
	}
	for n, in := range s.instances {
		if (inst == "" || n == inst) && in.state == "online" {
			return true
		}
	}
	return false
}

// svcs answers `svcs [-aH] [-o COLS] [FMRI ...]`.
func (e *solarisEmu) svcs(c *Call) Output {
	args := c.Argv[1:]
	header, all := true, false
	cols := []string{"state", "stime", "fmri"}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		args = args[1:]
		if a == "-o" {
			if len(args) == 0 {
				return Output{Stderr: "svcs: option requires an argument -- o\n", Code: 2}
			}
			cols = strings.Split(strings.ToLower(args[0]), ",")
			args = args[1:]
			continue
		}
		for _, o := range a[1:] {
			switch o {
			case 'H':
				header = false
			case 'a':
				all = true
			default:
				return Output{Stderr: fmt.Sprintf("svcs: illegal option -- %c\n", o), Code: 2}
			}
		}
	}
	for _, col := range cols {
		if col != "state" && col != "stime" && col != "fmri" {
			return Output{Stderr: fmt.Sprintf("svcs: Unknown column \"%s\".\n", col), Code: 1}
		}
	}
	type row struct {
		s    *smfService
		inst string
	}
	var rows []row
	var out Output
	if len(args) == 0 {
		for _, n := range smfServiceNames(e.smf) {
			s := e.smf.services[n]
			for _, in := range smfSortedInstances(s) {
				if all || s.instances[in].enabled {
					rows = append(rows, row{s, in})
				}
			}
		}
	}
	for _, pat := range args {
		svcs, insts := e.smf.match(pat)
		if len(svcs) == 0 || insts[0] == "" {
			out.Stderr += fmt.Sprintf("svcs: Pattern '%s' doesn't match any instances\n", pat)
			out.Code = 1
			continue
		}
		for i := range svcs {
			rows = append(rows, row{svcs[i], insts[i]})
		}
	}
	// svcs' default sort: state (sortkey_states: legacy_run, disabled,
	// online, degraded, offline, maintenance, uninitialized), then state
	// time, then FMRI.
	rank := map[string]int{"legacy_run": 0, "disabled": 1, "online": 2, "degraded": 3, "offline": 4, "maintenance": 5, "uninitialized": 6}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].s.instances[rows[i].inst], rows[j].s.instances[rows[j].inst]
		switch {
		case a.state != b.state:
			return rank[a.state] < rank[b.state]
		case !a.stime.Equal(b.stime):
			return a.stime.Before(b.stime)
		}
		return smfFMRI(rows[i].s, rows[i].inst) < smfFMRI(rows[j].s, rows[j].inst)
	})
	var b strings.Builder
	widths := map[string]int{"state": 14, "stime": 8, "fmri": 0}
	line := func(cells map[string]string) {
		var l strings.Builder
		for _, col := range cols {
			fmt.Fprintf(&l, "%-*s ", widths[col], cells[col])
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	if header && len(rows) > 0 {
		line(map[string]string{"state": "STATE", "stime": "STIME", "fmri": "FMRI"})
	}
	now := time.Now()
	for _, r := range rows {
		in := r.s.instances[r.inst]
		line(map[string]string{"state": in.state, "stime": smfSTime(in.stime, now), "fmri": smfFMRI(r.s, r.inst)})
	}
	out.Stdout = b.String()
	return out
}

func smfServiceNames(r *smfRepo) []string {
	names := make([]string, 0, len(r.services))
	for n := range r.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// smfSTime is svcs' STIME: the time within a day, the date within a year,
// else the year.
func smfSTime(t, now time.Time) string {
	switch d := now.Sub(t); {
	case d < 24*time.Hour:
		return fmt.Sprintf("%2d:%s", t.Hour(), t.Format("04:05"))
	case d < 360*24*time.Hour:
		return t.Format("Jan_02")
	}
	return strconv.Itoa(t.Year())
}

// --- boot ---------------------------------------------------------------------

// smfBoot is what svc.startd does at boot: manifest-import imports every
// manifest under /var/svc/manifest it has not imported in this form
// before; then the enabled instances start in dependency order (a
// <dependent> of a site service is a dependency of the service it names).
// Among the instances that may start, the installed ones go first, so that
// a site service not ordered before milestone/network starts after it (the
// worst case a parallel start allows); milestone/multi-user, which runs
// /sbin/rc2 and so the legacy rc2.d scripts, goes last. When
// milestone/network comes online the live values are recorded: they are the
// values the network services start with.
func (e *solarisEmu) smfBoot(h *Host, rc2 func()) {
	var manifests []string
	for p := range h.Files {
		if strings.HasPrefix(p, smfManifestDir) && strings.HasSuffix(p, ".xml") {
			manifests = append(manifests, p)
		}
	}
	sort.Strings(manifests)
	for _, p := range manifests {
		sum := md5.Sum([]byte(h.Files[p]))
		if old, ok := e.smf.hashes[p]; ok && old == sum {
			continue
		}
		if b, msg := smfParseManifest(h.Files[p]); msg == "" {
			e.smf.importManifest(b, p)
		}
		e.smf.hashes[p] = sum
	}

	// Reverse edges: a dependent makes the named service wait.
	waits := map[string][]smfDep{}
	for _, s := range e.smf.services {
		for _, d := range s.dependents {
			for _, f := range d.fmris {
				svc, _ := smfSplit(f)
				waits[svc] = append(waits[svc], smfDep{name: d.name, grouping: d.grouping, fmris: []string{"svc:/" + s.name}})
			}
		}
	}
	type pending struct {
		s    *smfService
		name string
		in   *smfInstance
	}
	var todo []pending
	for _, n := range smfServiceNames(e.smf) {
		s := e.smf.services[n]
		for _, in := range smfSortedInstances(s) {
			x := s.instances[in]
			x.stime = h.BootTime
			if x.enabled {
				x.state = "offline"
				todo = append(todo, pending{s, in, x})
			} else {
				x.state = "disabled"
			}
		}
	}
	// settled: whether an FMRI is online, and whether that is final (it
	// is, or every matching instance was tried or is disabled).
	tried := map[*smfInstance]bool{}
	settled := func(fmri string) (online, final bool) {
		svc, inst := smfSplit(fmri)
		s, ok := e.smf.services[svc]
		if !ok {
			return false, true
		}
		online, final = false, true
		for n, in := range s.instances {
			if inst != "" && n != inst {
				continue
			}
			switch {
			case in.state == "online":
				online = true
			case in.enabled && !tried[in]:
				final = false
			}
		}
		return online, final || online
	}
	ready := func(p pending) bool {
		for _, d := range append(append([]smfDep{}, p.s.deps...), waits[p.s.name]...) {
			for _, f := range d.fmris {
				online, final := settled(f)
				switch d.grouping {
				case "require_all", "require_any":
					if !online && !final {
						return false
					}
				case "optional_all":
					if !final {
						return false
					}
				}
			}
		}
		return true
	}
	for len(todo) > 0 {
		pick := -1
		for pass := 0; pass < 3 && pick < 0; pass++ {
			for i, p := range todo {
				multi := p.s.name == "milestone/multi-user"
				if (pass == 0 && p.s.builtin && !multi) || (pass == 1 && !p.s.builtin) || (pass == 2 && multi) {
					if ready(p) {
						pick = i
						break
					}
				}
			}
		}
		if pick < 0 {
			break // the rest wait for dependencies that never come: offline
		}
		p := todo[pick]
		todo = append(todo[:pick], todo[pick+1:]...)
		tried[p.in] = true
		switch {
		case p.s.builtin:
			p.in.state = "online"
			switch p.s.name {
			case "milestone/network":
				e.atNetwork = map[string]int{}
				for k, v := range e.live {
					e.atNetwork[k] = v
				}
			case "milestone/multi-user":
				rc2()
			}
		case !e.depsMet(p.s):
			p.in.state = "offline"
		default:
			e.startInstance(h, p.s, p.in, h.BootTime)
		}
	}
	e.smfChanged(h)
}

// --- files: modes, owners and running a script --------------------------------

// solarisFileMeta is a file's mode and owner, which Host.Files does not
// keep: set by chmod and chown, carried by mv, dropped by rm. A file
// without one is 0644 root:root, as root's umask 022 makes it.
type solarisFileMeta struct {
	mode         uint32
	owner, group string
}

func (e *solarisEmu) metaOf(h *Host, p string) solarisFileMeta {
	if m, ok := e.meta[p]; ok {
		if _, exists := h.Files[p]; exists {
			return m
		}
		delete(e.meta, p)
	}
	return solarisFileMeta{mode: 0o644, owner: "root", group: "root"}
}

func solarisMayWrite(user, p string) bool {
	return user == "root" || strings.HasPrefix(path.Clean(p), "/tmp/")
}

func (e *solarisEmu) chmod(c *Call) Output {
	args := c.Argv[1:]
	if len(args) < 2 {
		return Output{Stderr: "usage:\tchmod [-fR] <absolute-mode> file ...\n\tchmod [-fR] <symbolic-mode-list> file ...\n", Code: 2}
	}
	mode, err := strconv.ParseUint(args[0], 8, 32)
	if err != nil {
		return Output{Stderr: "chmod: ERROR: invalid mode\n", Code: 2}
	}
	var out Output
	for _, f := range args[1:] {
		p := c.Host.resolve(f)
		if _, ok := c.Host.Files[p]; !ok {
			out.Stderr += fmt.Sprintf("chmod: WARNING: can't access %s\n", f)
			out.Code = 2
			continue
		}
		if !solarisMayWrite(c.User, p) {
			out.Stderr += fmt.Sprintf("chmod: WARNING: can't change %s\n", f)
			out.Code = 2
			continue
		}
		m := e.metaOf(c.Host, p)
		m.mode = uint32(mode)
		e.meta[p] = m
	}
	return out
}

func (e *solarisEmu) chown(c *Call) Output {
	args := c.Argv[1:]
	if len(args) < 2 {
		return Output{Stderr: "usage:\n\tchown [-fhR] owner[:group] file...\n", Code: 2}
	}
	owner, group, hasGroup := strings.Cut(args[0], ":")
	var out Output
	for _, f := range args[1:] {
		p := c.Host.resolve(f)
		if _, ok := c.Host.Files[p]; !ok {
			out.Stderr += fmt.Sprintf("chown: %s: No such file or directory\n", f)
			out.Code = 1
			continue
		}
		if c.User != "root" {
			out.Stderr += fmt.Sprintf("chown: %s: Not owner\n", f)
			out.Code = 1
			continue
		}
		m := e.metaOf(c.Host, p)
		m.owner = owner
		if hasGroup {
			m.group = group
		}
		e.meta[p] = m
	}
	return out
}

// beforeMoveOrRemove keeps the metadata with the file when the shell's mv
// or rm is about to succeed (the same conditions the shell checks); the
// shell then does the move or removal itself.
func (e *solarisEmu) beforeMoveOrRemove(c *Call) {
	args := c.Argv[1:]
	if len(args) > 0 && args[0] == "-f" {
		args = args[1:]
	}
	h := c.Host
	switch c.Argv[0] {
	case "mv":
		if len(args) != 2 {
			return
		}
		if _, ok := h.Files[args[0]]; !ok || !solarisMayWrite(c.User, args[0]) || !solarisMayWrite(c.User, args[1]) {
			return
		}
		if m, ok := e.meta[args[0]]; ok {
			e.meta[args[1]] = m
		} else {
			delete(e.meta, args[1])
		}
		delete(e.meta, args[0])
	case "rm":
		for _, f := range args {
			if _, ok := h.Files[f]; ok && solarisMayWrite(c.User, f) {
				delete(e.meta, f)
			}
		}
	}
}

// runScript executes a file as a command: it must be executable (a mode
// with an x bit), and a "#!" line must name the Bourne shell, which then
// runs it (the lab's shell). ok is false when p is not a file.
func (e *solarisEmu) runScript(c *Call) (Output, bool) {
	p := c.Host.resolve(c.Argv[0])
	content, exists := c.Host.Files[p]
	if !exists {
		return Output{}, false
	}
	if e.metaOf(c.Host, p).mode&0o111 == 0 || e.depth > 8 {
		return Output{Stderr: fmt.Sprintf("sh: %s: cannot execute\n", c.Argv[0]), Code: 126}, true
	}
	if strings.HasPrefix(content, "#!") {
		first, _, _ := strings.Cut(content, "\n")
		if interp := strings.Fields(first[2:]); len(interp) == 0 || (interp[0] != "/sbin/sh" && interp[0] != "/bin/sh") {
			return Output{Stderr: fmt.Sprintf("sh: %s: cannot execute\n", c.Argv[0]), Code: 126}, true
		}
	}
	e.depth++
	defer func() { e.depth-- }()
	sh := &shell{h: c.Host, user: c.User}
	return sh.run(content), true
}
