package playbooks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fleettune/fleettune/inventory"
	"github.com/fleettune/fleettune/remote"
)

type lossySession struct {
	id     int
	lose   atomic.Bool
	closed atomic.Bool
}

func (s *lossySession) Run(context.Context, string) (remote.Result, error) {
	if s.lose.Load() {
		return remote.Result{}, fmt.Errorf("h: %w", remote.ErrConnLost)
	}
	return remote.Result{Stdout: []byte(fmt.Sprint(s.id))}, nil
}
func (s *lossySession) Close() error { s.closed.Store(true); return nil }

func TestPoolOneSessionPerHostRedialsWhenLost(t *testing.T) {
	var dials []*lossySession
	p := &Pool{Dial: func(context.Context, *inventory.Host) (remote.Session, error) {
		s := &lossySession{id: len(dials) + 1}
		dials = append(dials, s)
		return s, nil
	}}
	h := &inventory.Host{Name: "h"}
	ctx := context.Background()
	a, _ := p.Dialer()(ctx, h)
	a.Close() // a user's Close leaves it open for the run
	b, _ := p.Dialer()(ctx, h)
	if len(dials) != 1 || dials[0].closed.Load() {
		t.Fatalf("%d dials, closed %v; want one open session shared", len(dials), dials[0].closed.Load())
	}
	dials[0].lose.Store(true)
	if _, err := b.Run(ctx, "x"); err == nil {
		t.Fatal("lost connection not reported")
	}
	c, _ := p.Dialer()(ctx, h)
	res, err := c.Run(ctx, "x")
	if err != nil || string(res.Stdout) != "2" || len(dials) != 2 || !dials[0].closed.Load() {
		t.Fatalf("after a loss: %q %v, %d dials; want a fresh session and the lost one closed", res.Stdout, err, len(dials))
	}
	if err := p.Close(); err != nil || !dials[1].closed.Load() {
		t.Errorf("Pool.Close: %v, closed %v", err, dials[1].closed.Load())
	}
}
