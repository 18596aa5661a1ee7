//go:build !linux

package lab

import (
	"errors"
	"net"
)

var errShared = errors.New("lab: one listener for many loopback addresses needs Linux (SO_BINDTODEVICE); serve fewer hosts with a port each")

func listenLoopbackAll(int) (net.Listener, error) { return nil, errShared }

func deadPort() (int, func(), error) { return 0, nil, errShared }
