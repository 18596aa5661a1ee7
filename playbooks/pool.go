package playbooks

import (
	"context"
	"errors"
	"sync"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/remote"
)

// Pool keeps one session per host while the run needs it, so that plan's
// read, apply's changes, the health check and a restore share one
// connection. A session whose connection was lost (remote.ErrConnLost) is
// dialled again on the next Dial; sessions handed out ignore Close:
// Release ends one host's session (the engine releases a host once its
// batch is done and no automatic rollback can still include it), Pool.Close
// ends the rest. The zero value is not usable: Dial is required.
type Pool struct {
	Dial Dialer

	mu       sync.Mutex
	sessions map[string]*pooled
	dials    int // sessions dialled, over the pool's life
	peak     int // most sessions open at once
}

// Release closes and forgets host's session, if the pool holds one; a
// later Dial for it dials again.
func (p *Pool) Release(host string) {
	p.mu.Lock()
	s := p.sessions[host]
	delete(p.sessions, host)
	p.mu.Unlock()
	if s != nil {
		_ = s.Session.Close()
	}
}

// Stats says how many sessions the pool dialled, how many are open now and
// the most that were open at once.
func (p *Pool) Stats() (dials, open, peak int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials, len(p.sessions), p.peak
}

// Dialer returns the pool's dialer, for Planner.Dial and Engine.Dial.
func (p *Pool) Dialer() Dialer { return p.dial }

func (p *Pool) dial(ctx context.Context, h *inventory.Host) (remote.Session, error) {
	p.mu.Lock()
	if s := p.sessions[h.Name]; s != nil {
		if !s.isLost() {
			p.mu.Unlock()
			return s, nil
		}
		delete(p.sessions, h.Name)
		_ = s.Session.Close()
	}
	p.mu.Unlock()
	sess, err := p.Dial(ctx, h)
	if err != nil {
		return nil, err
	}
	s := &pooled{Session: sess, token: new(sessionToken)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sessions == nil {
		p.sessions = map[string]*pooled{}
	}
	if old := p.sessions[h.Name]; old != nil && !old.isLost() {
		// Another worker dialled the same host meanwhile: keep one.
		_ = sess.Close()
		p.dials++
		return old, nil
	}
	p.sessions[h.Name] = s
	p.dials++
	p.peak = max(p.peak, len(p.sessions))
	return s, nil
}

// Close closes every session the pool opened.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for name, s := range p.sessions {
		if err := s.Session.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(p.sessions, name)
	}
	return errors.Join(errs...)
}

// pooled is a session the pool owns.
type pooled struct {
	remote.Session
	// token tells this session from any other, the same host's dialled
	// again included, for as long as anything holds it.
	token *sessionToken
	mu    sync.Mutex
	lost  bool
}

// sessionToken names one pooled session; it holds nothing of it.
type sessionToken struct{ _ byte }

// tokenOf is the token of a pooled session, nil for any other.
func tokenOf(s remote.Session) *sessionToken {
	if p, ok := s.(*pooled); ok {
		return p.token
	}
	return nil
}

func (s *pooled) Run(ctx context.Context, cmd string) (remote.Result, error) {
	res, err := s.Session.Run(ctx, cmd)
	if errors.Is(err, remote.ErrConnLost) {
		s.mu.Lock()
		s.lost = true
		s.mu.Unlock()
	}
	return res, err
}

// Close leaves the session open for the rest of the run; Pool.Close ends it.
func (s *pooled) Close() error { return nil }

func (s *pooled) isLost() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}
