package remote

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/charmbracelet/log"

	"github.com/fleettune/fleettune/inventory"
)

// Options tune Dial. The zero value is ready to use.
type Options struct {
	// Logger receives debug detail (retries, skipped keys) and warnings
	// (unchecked host keys). nil discards.
	Logger *log.Logger
	// Getenv reads environment variables: the one named by password_env and
	// SSH_AUTH_SOCK. nil means os.Getenv.
	Getenv func(string) string
	// KeepaliveInterval is how often an idle connection is probed with
	// keepalive@openssh.com; a connection that does not answer within three
	// intervals is closed. 0 means 15s, a negative value turns it off.
	KeepaliveInterval time.Duration
	// OnConnect is called once per TCP connection or proxy command process
	// opened (with the name of the hop it leads to), retries and jump hosts
	// included. For tests and metrics; nil is fine.
	OnConnect func(host string)
	// KnownHosts, shared by every Dial of a run, parses each known_hosts
	// file once for the run (NewKnownHosts) and lets later dials see the
	// keys accept-new recorded. nil: each Dial reads the file itself.
	KnownHosts *KnownHosts
}

// DefaultKeepaliveInterval is the keepalive interval when Options leave it 0.
const DefaultKeepaliveInterval = 15 * time.Second

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = log.New(io.Discard)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if o.OnConnect == nil {
		o.OnConnect = func(string) {}
	}
	return o
}

// Dial opens a Session to h over its transport: "ssh" (or "") connects once
// and keeps that connection for every command; "winrm" creates one remote
// shell and keeps it for every command. Errors are *Error wrapping
// ErrUnreachable, ErrAuth or ErrHostKey (for WinRM: a certificate that is
// not trusted).
func Dial(ctx context.Context, h *inventory.Host, opts Options) (Session, error) {
	opts = opts.withDefaults()
	switch h.Transport {
	case "", "ssh":
		return dialSSH(ctx, h, opts)
	case "winrm":
		return dialWinRM(ctx, h, opts)
	default:
		return nil, &Error{Host: h.Name, Kind: ErrUnreachable, Err: errors.New("unknown transport " + h.Transport + " (want ssh or winrm)")}
	}
}
