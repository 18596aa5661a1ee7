package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/fleettune/fleettune/audit"
	"github.com/fleettune/fleettune/journal"
	"github.com/fleettune/fleettune/lab"
)

// demoPlaybook is what the demo applies first: the usual hygiene, with the
// lab's handshake probe as the health check on every OS.
const demoPlaybook = `# fleettune demo: widen the ephemeral range, halve TIME_WAIT, probe sooner.
name: demo-port-hygiene
targets:
  ephemeral_ports: 20000-60999
  time_wait: 30s
  keepalive_time: 5m
overrides:
  # Windows 2003's range is 1025..MaxUserPort; end it below WinRM's 5985.
  - when: {host: "win2003*"}
    targets: {ephemeral_ports: 1025-5500}
  # Windows 2019: stay below the RPC listener at 49664.
  - when: {host: "win2019*"}
    targets: {ephemeral_ports: 20000-44999}
guardrails:
  min_time_wait: 10s
  protect_listening_ports: true
rollout:
  batch: 20%
  max_failures: 0
health:
  watch: 1s
  probe:
    solaris: /usr/local/bin/check-app-handshakes
    hpux: /usr/local/bin/check-app-handshakes
    aix: /usr/local/bin/check-app-handshakes
    tru64: /usr/local/bin/check-app-handshakes
  # Windows has no counter reader yet and the lab no probe for it: its
  # hosts are applied and shown as not checked, never as healthy.
  unchecked: allow
  rollback: auto
`

// demoAggressive lowers TIME_WAIT to the guardrail's floor: the change that
// lets stray segments reach new connections.
const demoAggressive = `# fleettune demo: TIME_WAIT down to the floor.
name: demo-aggressive
targets:
  time_wait: 10s
guardrails:
  min_time_wait: 10s
rollout:
  batch: 25%
health:
  watch: 1s
  probe:
    solaris: /usr/local/bin/check-app-handshakes
    hpux: /usr/local/bin/check-app-handshakes
    aix: /usr/local/bin/check-app-handshakes
    tru64: /usr/local/bin/check-app-handshakes
  # Windows has no counter reader yet and the lab no probe for it: its
  # hosts are applied and shown as not checked, never as healthy.
  unchecked: allow
  rollback: auto
`

func newDemoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Tell the whole story against a simulated mixed fleet, in one process",
		Long: `demo starts a lab of twelve simulated hosts (Linux, Solaris 10 and 11,
HP-UX, AIX, Tru64 over SSH; Windows 2003 and 2019 over WinRM) on loopback,
each with a load (idle, busy, exhausted, leaking CLOSE_WAIT), and runs
fleettune against it over real SSH and WinRM: plan,
apply, status with reboots pending, a simulated reboot, status again, then a
change that brings handshake failures, rolled back automatically, and a
rollback of the first run. Nothing leaves this machine; the lab, its keys
and the demo's journal live in a temporary directory removed at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-level") {
				g.log.SetLevel(log.WarnLevel)
			}
			return runDemo(cmd.Context(), g)
		},
	}
}

// demoFleet is DefaultFleet(8) with the last host a Tru64 V5.1, where
// tcp_msl is not run-time settable, two Windows servers over WinRM, whose
// registry values take effect at the next boot (the hosts that need a
// reboot), and two Linux hosts. Each host has a load profile, so that an
// audit of the demo's fleet finds every grade: busy hosts towards one
// PostgreSQL server, an HP-UX host and the Windows 2019 server exhausted
// (it has logged Tcpip 4231 events), leaking CLOSE_WAIT on AIX and Linux.
// The Linux hosts are busy and leaking, not exhausted: an exhausted Linux
// host's TCPTimeWaitOverflow keeps rising, which the health check rightly
// counts as unhealthy, and the demo's first apply is meant to succeed.
func demoFleet() []lab.Spec {
	specs := lab.DefaultFleet(8)
	specs[7] = lab.Spec{Name: "tru64-02", OS: "tru64", Release: "V5.1"}
	specs = append(specs,
		lab.Spec{Name: "win2003-01", OS: "windows", Release: "5.2"},
		lab.Spec{Name: "win2019-01", OS: "windows", Release: "10.0"},
		lab.Spec{Name: "lnx-01", OS: "linux", Release: "6.1"},
		lab.Spec{Name: "lnx-02", OS: "linux", Release: "4.19"})
	profiles := map[string]lab.Profile{
		"sol10-01": lab.ProfileBusy, "hpux-01": lab.ProfileExhausted, "aix-01": lab.ProfileLeaking,
		"aix-02": lab.ProfileBusy, "win2019-01": lab.ProfileExhausted, "lnx-01": lab.ProfileBusy, "lnx-02": lab.ProfileLeaking,
	}
	for i := range specs {
		specs[i].Profile = lab.ProfileIdle
		if p, ok := profiles[specs[i].Name]; ok {
			specs[i].Profile = p
		}
	}
	return specs
}

func runDemo(ctx context.Context, g *globals) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "fleettune-demo-")
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer os.RemoveAll(dir)
	g.stateDir = filepath.Join(dir, "state")
	// Its own state dir, never a team's database from FLEETTUNE_STATE.
	g.state, g.stateDirFlag = "", g.stateDir

	l, err := lab.Start(ctx, lab.Options{Specs: demoFleet(), Dir: filepath.Join(dir, "lab")})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer l.Close()
	// The lab's Windows hosts want its password from FLEETTUNE_LAB_PASSWORD;
	// lend it to the sessions without touching the process environment.
	getenv := g.getenv
	g.getenv = func(name string) string {
		if name == lab.PasswordEnv {
			return l.Password()
		}
		return getenv(name)
	}
	pb := filepath.Join(dir, "playbook.yaml")
	aggressive := filepath.Join(dir, "aggressive.yaml")
	for p, text := range map[string]string{pb: demoPlaybook, aggressive: demoAggressive} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return &exitError{code: 1, err: err}
		}
	}

	s := 0
	step := func(title, narration string) {
		s++
		fmt.Fprintf(g.stdout, "\n━━ %d. %s ━━\n%s\n\n", s, title, strings.TrimSpace(narration))
	}
	// expect runs one command and checks its exit status is the one the
	// story needs; anything else ends the demo with the reason.
	expect := func(what string, want int, err error) error {
		got := 0
		var ee *exitError
		if errors.As(err, &ee) {
			got = ee.code
			if ee.err != nil {
				g.printError(ee.err)
			}
		} else if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("demo: %s: %w", what, err)}
		}
		fmt.Fprintf(g.stdout, "\n(%s: exit status %d)\n", what, got)
		if got != want {
			return &exitError{code: 1, err: fmt.Errorf("demo: %s exited %d, the story needs %d; see above", what, got, want)}
		}
		return nil
	}

	fmt.Fprintf(g.stdout, "fleettune demo · %d simulated hosts behind a real SSH server on loopback\n\n", len(l.Hosts()))
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	for _, row := range l.Table() {
		fmt.Fprintln(tw, "  "+strings.Join(row[:5], "\t")) // name, OS, release, address, load profile
	}
	if err := tw.Flush(); err != nil {
		return &exitError{code: 1, err: err}
	}

	step("audit", `First find the problem: read every host's socket table and port settings
in one read-only command each, group the sockets into the pools each OS draws
ephemeral ports from, and grade each host by its fullest pool. Exit status 2:
some host is at WARN or worse.`)
	if err := expect("audit", 2, runAudit(ctx, g, &auditFlags{inventory: []string{l.Inventory}, playbook: pb, format: "text", forks: 8, maxLines: audit.DefaultMaxLines})); err != nil {
		return err
	}

	step("plan", `Read every host's live and persisted values over one SSH connection each
and compare them with the playbook: ephemeral ports 20000-60999, TIME_WAIT
30s, keepalive 5m. Nothing is changed. Exit status 2: changes pending.`)
	if err := expect("plan", 2, runPlan(ctx, g, &planFlags{inventory: []string{l.Inventory}, playbook: pb, format: "text", forks: 8})); err != nil {
		return err
	}

	step("apply", `Apply in batches of 25%; the first batch is the canary. Every host's
previous values go into the journal before anything runs on it; values are
read back before a host counts as applied; after each batch the handshake
probe runs. Tru64 V5.1 cannot change tcp_msl at run time, and Windows reads
TcpTimedWaitDelay and KeepAliveTime from the registry only at boot: they
are persisted and those hosts await a reboot.`)
	if err := expect("apply", 0, runApply(ctx, g, &applyFlags{inventory: []string{l.Inventory}, playbook: pb, format: "text", scope: "batch", forks: 8, yes: true, quietPlan: true}, "")); err != nil {
		return err
	}
	store, err := journal.Open(g.stateDir)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	first, err := store.Last(journal.KindApply)
	if err != nil {
		return &exitError{code: 1, err: err}
	}

	step("status", `The runs so far, and the hosts awaiting a reboot. status re-reads each
one's boot time: they have not rebooted yet.`)
	if err := expect("status", 0, runStatus(ctx, g, &statusFlags{format: "text"})); err != nil {
		return err
	}

	rebooted := rebootPending(g, l)
	step("reboot, then status", fmt.Sprintf(`%s reboot (simulated: only what was persisted survives, the boot
time moves on). status sees the new boot time, checks the persisted values are
now live, and clears the flag.`, strings.Join(rebooted, ", ")))
	if err := expect("status", 0, runStatus(ctx, g, &statusFlags{format: "text"})); err != nil {
		return err
	}

	for _, h := range l.Hosts() {
		h.Lock()
		h.Faults.HandshakeFailures = true
		h.Unlock()
	}
	step("a change too far", `Someone lowers TIME_WAIT to the 10s floor. AIX cannot express 10s (it
counts in 15-second units) and Windows accepts no less than 30s, so those
hosts are refused outright. On the others stray segments from old
connections now reach new ones: the TCP counters jump and the handshake
probe fails. The canary batch is found unhealthy and rolled back
automatically; no later batch starts. Exit status 3.`)
	if err := expect("apply", 3, runApply(ctx, g, &applyFlags{inventory: []string{l.Inventory}, playbook: aggressive, format: "text", scope: "batch", forks: 8, yes: true}, "")); err != nil {
		return err
	}

	step("rollback", fmt.Sprintf(`Put the whole fleet back as it was before the first apply (run %s):
live values and persisted configuration, read back to verify, recorded as a
run of its own.`, first.ID()))
	if err := expect("rollback", 0, runRollback(ctx, g, &rollbackFlags{run: first.ID(), format: "text", yes: true, forks: 8})); err != nil {
		return err
	}

	rebooted = rebootPending(g, l)
	step("reboot, then status", fmt.Sprintf(`Only the persisted configuration of %s could be put back at once;
they reboot, and status checks each is now exactly as before the first
apply. Every run, as the journal has it.`, strings.Join(rebooted, ", ")))
	if err := expect("status", 0, runStatus(ctx, g, &statusFlags{format: "text"})); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "\nThe demo took %s. Try the lab yourself:\n  fleettune lab --write-inventory /tmp/lab/inventory.yaml\n  fleettune plan -i /tmp/lab/inventory.yaml -p examples/playbook.yaml\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// rebootPending reboots the lab hosts the journal says await a reboot and
// returns their names.
func rebootPending(g *globals, l *lab.Lab) []string {
	var names []string
	store, err := journal.Open(g.stateDir)
	if err != nil {
		return nil
	}
	runs, err := store.Runs()
	if err != nil {
		return nil
	}
	for _, p := range journal.PendingReboots(runs) {
		if h := l.Host(p.Host.Host); h != nil {
			h.Reboot()
			names = append(names, h.Name)
		}
	}
	return names
}
