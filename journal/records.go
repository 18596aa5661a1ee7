package journal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/fleettune/fleettune/internal/record"
	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/platform"
)

// Record types, the "type" field of every line.
const (
	TypeRun     = "run" // the header, first line
	TypeBefore  = "before"
	TypeCommand = "command"
	TypeResult  = "result"
	TypeHealth  = "health"
	TypeReboot  = "reboot"
	TypeEnd     = "end"
)

// Run kinds.
const (
	KindApply    = "apply"
	KindRollback = "rollback"
)

// Command phases.
const (
	PhaseApply   = record.PhaseApply
	PhaseRestore = record.PhaseRestore
)

// Host statuses a result record may carry (the contract's, less "changes",
// which only plan uses): record.Status, the one the engine reports.
const (
	StatusApplied     = record.StatusApplied
	StatusOK          = record.StatusOK
	StatusFailed      = record.StatusFailed
	StatusRolledBack  = record.StatusRolledBack
	StatusSkipped     = record.StatusSkipped
	StatusUnreachable = record.StatusUnreachable
)

// Run statuses an end record may carry.
const (
	EndDone        = "done"
	EndFailed      = "failed"
	EndRolledBack  = "rolled_back"
	EndInterrupted = "interrupted"
)

// MaxOutput bounds a command record's stderr and error, in bytes.
const MaxOutput = 2048

// Record is one line of a journal: a BeforeRecord, CommandRecord,
// ResultRecord, HealthRecord, RebootRecord or EndRecord (or a pointer to
// one); Append refuses any other value. The header is written by Create
// only. (An interface with a method cannot hold CommandRecord, which is
// record.Command, the engine's own type.)
type Record = any

// Header is a run's first line: what ran, from where, by whom, on what.
// Create fills ID, Started, User, OperatorHost and PID when they are zero.
type Header struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"` // KindApply | KindRollback
	Started      time.Time `json:"started"`
	User         string    `json:"user"`
	OperatorHost string    `json:"operator_host"`
	PID          int       `json:"pid"`
	Version      string    `json:"fleettune_version"` // fleettune's own version string
	Inventory    *FileRef  `json:"inventory,omitempty"`
	Playbook     *FileRef  `json:"playbook,omitempty"` // with the playbook's name:
	PlanFile     *FileRef  `json:"plan_file,omitempty"`
	PlanRun      string    `json:"plan_run,omitempty"` // the run id of the saved plan applied

	Limit      string   `json:"limit,omitempty"`
	RollbackOf string   `json:"rollback_of,omitempty"` // the run a rollback undoes
	Batch      string   `json:"batch,omitempty"`       // as given: "25%" or "5"
	Watch      Duration `json:"watch,omitempty"`
}

// FileRef names an input file and what it held.
type FileRef struct {
	Path   string `json:"path"`
	Digest string `json:"digest,omitempty"` // "sha256:<hex>"
	Name   string `json:"name,omitempty"`   // the playbook's name: for a playbook
}

// BeforeRecord is a host's state before anything runs on it: enough to
// reach it again (Conn) and to put it back (Snapshot). It is written, and
// synced, before the first command touches the host.
type BeforeRecord struct {
	Host     string            `json:"host"` // defaults to Conn.Name
	OS       string            `json:"os"`
	BootID   string            `json:"boot_id,omitempty"`
	Conn     Conn              `json:"conn"`
	Changes  []platform.Change `json:"changes"`
	Targets  platform.Targets  `json:"targets"`
	Snapshot platform.Snapshot `json:"snapshot"`
	Time     time.Time         `json:"time"`
}

// CommandRecord is one command run on a host: the engine's record.Command,
// stored as it is (stderr and error cut to MaxOutput bytes).
type CommandRecord = record.Command

// ResultRecord is where a host ended up. A host may have several in one run
// (applied, then rolled_back by an unhealthy batch); the last one counts.
type ResultRecord struct {
	Host           string        `json:"host"`
	Status         record.Status `json:"status"`
	Error          string        `json:"error,omitempty"`
	Batch          int           `json:"batch,omitempty"`
	RebootRequired bool          `json:"reboot_required"`
	RebootReason   string        `json:"reboot_reason,omitempty"`
	BootID         string        `json:"boot_id,omitempty"` // after the change
	// Health is what the batch's health check measured on the host; nil
	// when none ran (and in journals written before it was recorded).
	Health *record.Health `json:"health,omitempty"`
	Time   time.Time      `json:"time"`
}

// HealthRecord is one batch's health check.
type HealthRecord struct {
	Batch   int      `json:"batch"`
	Canary  bool     `json:"canary,omitempty"`
	Hosts   []string `json:"hosts"`
	Checked bool     `json:"checked"` // a check ran (false: nothing to watch)
	Healthy bool     `json:"healthy"`
	Details []string `json:"details,omitempty"` // counter deltas exceeded, probe failures
	// Unchecked names the hosts whose health was not read: the batch is
	// then not checked.
	Unchecked []string  `json:"unchecked,omitempty"`
	Time      time.Time `json:"time"`
}

// RebootRecord is what status saw after a host rebooted. A verified one
// (the persisted values are live) clears the host's pending reboot.
type RebootRecord struct {
	Host     string    `json:"host"`
	BootID   string    `json:"boot_id"` // seen now
	Verified bool      `json:"verified"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

// EndRecord closes a run. A run without one crashed or is still running.
type EndRecord struct {
	Status  string         `json:"status"` // EndDone | EndFailed | EndRolledBack | EndInterrupted
	Detail  string         `json:"detail,omitempty"`
	Summary map[string]int `json:"summary,omitempty"` // counts by host status
	Time    time.Time      `json:"time"`
}

func (BeforeRecord) recordType() string { return TypeBefore }
func (ResultRecord) recordType() string { return TypeResult }
func (HealthRecord) recordType() string { return TypeHealth }
func (RebootRecord) recordType() string { return TypeReboot }
func (EndRecord) recordType() string    { return TypeEnd }
func (Header) recordType() string       { return TypeRun }

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// encode validates r, fills its time when zero, and renders it as one line
// (with its newline) whose first field is "type".
func encode(r Record, now time.Time) ([]byte, error) {
	var v any
	switch x := r.(type) {
	case *BeforeRecord:
		return encode(*x, now)
	case *CommandRecord:
		return encode(*x, now)
	case *ResultRecord:
		return encode(*x, now)
	case *HealthRecord:
		return encode(*x, now)
	case *RebootRecord:
		return encode(*x, now)
	case *EndRecord:
		return encode(*x, now)
	case *Header:
		return encode(*x, now)
	case nil:
		return nil, fmt.Errorf("journal: nil record")
	case Header:
		if x.ID == "" || x.Kind == "" {
			return nil, fmt.Errorf("journal: run header needs an id and a kind")
		}
		v = struct {
			Type string `json:"type"`
			Header
		}{TypeRun, x}
	case BeforeRecord:
		if x.Host == "" {
			x.Host = x.Conn.Name
		}
		if x.Host == "" {
			return nil, fmt.Errorf("journal: before record without a host")
		}
		if x.Time.IsZero() {
			x.Time = now
		}
		v = struct {
			Type string `json:"type"`
			BeforeRecord
		}{TypeBefore, x}
	case CommandRecord:
		if x.Host == "" || x.Cmd == "" {
			return nil, fmt.Errorf("journal: command record needs a host and a command")
		}
		if !oneOf(x.Phase, PhaseApply, PhaseRestore) {
			return nil, fmt.Errorf("journal: command on %s: phase %q is not %q or %q", x.Host, x.Phase, PhaseApply, PhaseRestore)
		}
		x.Stderr, x.Error = truncate(x.Stderr, MaxOutput), truncate(x.Error, MaxOutput)
		if x.Time.IsZero() {
			x.Time = now
		}
		v = struct {
			Type string `json:"type"`
			CommandRecord
		}{TypeCommand, x}
	case ResultRecord:
		if x.Host == "" {
			return nil, fmt.Errorf("journal: result record without a host")
		}
		if !x.Status.Valid() {
			return nil, fmt.Errorf("journal: result for %s: unknown status %q", x.Host, x.Status)
		}
		if x.Time.IsZero() {
			x.Time = now
		}
		v = struct {
			Type string `json:"type"`
			ResultRecord
		}{TypeResult, x}
	case HealthRecord:
		if x.Time.IsZero() {
			x.Time = now
		}
		v = struct {
			Type string `json:"type"`
			HealthRecord
		}{TypeHealth, x}
	case RebootRecord:
		if x.Host == "" {
			return nil, fmt.Errorf("journal: reboot record without a host")
		}
		if x.Time.IsZero() {
			x.Time = now
		}
		v = struct {
			Type string `json:"type"`
			RebootRecord
		}{TypeReboot, x}
	case EndRecord:
		if !oneOf(x.Status, EndDone, EndFailed, EndRolledBack, EndInterrupted) {
			return nil, fmt.Errorf("journal: end record: unknown status %q", x.Status)
		}
		if x.Time.IsZero() {
			x.Time = now
		}
		v = struct {
			Type string `json:"type"`
			EndRecord
		}{TypeEnd, x}
	default:
		return nil, fmt.Errorf("journal: unknown record %T", r)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("journal: encode %T: %w", r, err)
	}
	return append(b, '\n'), nil
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…[truncated]"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// Duration is a time.Duration written the Go way ("2m0s") in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"2m0s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Conn is an inventory.Host as the journal stores it: the connection
// settings rollback and status need to reach the host without the
// inventory. Only the names of password environment variables are in it,
// never a password. Convert with journal.Conn(*h) and inventory.Host(c).
type Conn inventory.Host

type connJSON struct {
	Name      string    `json:"name"`
	Address   string    `json:"address,omitempty"`
	OS        string    `json:"os,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	Transport string    `json:"transport,omitempty"`
	User      string    `json:"user,omitempty"`
	Timeout   string    `json:"timeout,omitempty"`
	SSH       sshJSON   `json:"ssh,omitzero"`
	WinRM     winrmJSON `json:"winrm,omitzero"`
	// Sources: where each connection value came from (inventory.Host.Sources).
	Sources map[string]string `json:"sources,omitempty"`
}

type sshJSON struct {
	Port            int      `json:"port,omitempty"`
	IdentityFiles   []string `json:"identity_files,omitempty"`
	KnownHosts      string   `json:"known_hosts,omitempty"`
	HostKeyChecking string   `json:"host_key_checking,omitempty"`
	ProxyJump       string   `json:"proxy_jump,omitempty"`
	ProxyCommand    string   `json:"proxy_command,omitempty"`
	Become          string   `json:"become,omitempty"`
	PasswordEnv     string   `json:"password_env,omitempty"`
	// From the OpenSSH configuration, so that rollback connects the same way.
	IdentitiesOnly      bool     `json:"identities_only,omitempty"`
	ConnectTimeout      Duration `json:"connect_timeout,omitempty"`
	ServerAliveInterval Duration `json:"server_alive_interval,omitempty"`
	ConfigFiles         []string `json:"config_files,omitempty"`
}

type winrmJSON struct {
	Port               int    `json:"port,omitempty"`
	HTTPS              bool   `json:"https,omitempty"`
	Auth               string `json:"auth,omitempty"`
	PasswordEnv        string `json:"password_env,omitempty"`
	CAFile             string `json:"ca_file,omitempty"`
	ServerName         string `json:"server_name,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

func (c Conn) MarshalJSON() ([]byte, error) {
	j := connJSON{
		Name: c.Name, Address: c.Address, OS: c.OS, Groups: c.Groups,
		Transport: c.Transport, User: c.User,
		SSH: sshJSON{
			Port: c.SSH.Port, IdentityFiles: c.SSH.IdentityFiles, KnownHosts: c.SSH.KnownHosts,
			HostKeyChecking: c.SSH.HostKeyChecking, ProxyJump: c.SSH.ProxyJump,
			ProxyCommand: c.SSH.ProxyCommand, Become: c.SSH.Become, PasswordEnv: c.SSH.PasswordEnv,
			IdentitiesOnly: c.SSH.IdentitiesOnly, ConnectTimeout: Duration(c.SSH.ConnectTimeout),
			ServerAliveInterval: Duration(c.SSH.ServerAliveInterval), ConfigFiles: c.SSH.ConfigFiles,
		},
		Sources: c.Sources,
		WinRM: winrmJSON{
			Port: c.WinRM.Port, HTTPS: c.WinRM.HTTPS, Auth: c.WinRM.Auth, PasswordEnv: c.WinRM.PasswordEnv,
			CAFile: c.WinRM.CAFile, ServerName: c.WinRM.ServerName, InsecureSkipVerify: c.WinRM.InsecureSkipVerify,
		},
	}
	if c.Timeout != 0 {
		j.Timeout = c.Timeout.String()
	}
	return json.Marshal(j)
}

func (c *Conn) UnmarshalJSON(b []byte) error {
	var j connJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	h := inventory.Host{
		Name: j.Name, Address: j.Address, OS: j.OS, Groups: j.Groups,
		Transport: j.Transport, User: j.User,
		SSH: inventory.SSH{
			Port: j.SSH.Port, IdentityFiles: j.SSH.IdentityFiles, KnownHosts: j.SSH.KnownHosts,
			HostKeyChecking: j.SSH.HostKeyChecking, ProxyJump: j.SSH.ProxyJump,
			ProxyCommand: j.SSH.ProxyCommand, Become: j.SSH.Become, PasswordEnv: j.SSH.PasswordEnv,
			IdentitiesOnly: j.SSH.IdentitiesOnly, ConnectTimeout: time.Duration(j.SSH.ConnectTimeout),
			ServerAliveInterval: time.Duration(j.SSH.ServerAliveInterval), ConfigFiles: j.SSH.ConfigFiles,
		},
		Sources: j.Sources,
		WinRM: inventory.WinRM{
			Port: j.WinRM.Port, HTTPS: j.WinRM.HTTPS, Auth: j.WinRM.Auth, PasswordEnv: j.WinRM.PasswordEnv,
			CAFile: j.WinRM.CAFile, ServerName: j.WinRM.ServerName, InsecureSkipVerify: j.WinRM.InsecureSkipVerify,
		},
	}
	if j.Timeout != "" {
		d, err := time.ParseDuration(j.Timeout)
		if err != nil {
			return fmt.Errorf("conn timeout: %w", err)
		}
		h.Timeout = d
	}
	*c = Conn(h)
	return nil
}

// NewRunID returns an id like 20261122T171500Z-3f2a: sortable by time.
// (The same form as playbooks.NewRunID.)
func NewRunID(t time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Digest is the "sha256:<hex>" of data, for FileRef.Digest.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FileDigest is Digest of the file at path.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
