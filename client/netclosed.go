package client

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// The net adapters report a daemon socket that can no longer be used as
// package net reports a closed connection, whoever closed it: whatever the
// daemon said, errors.Is(err, net.ErrClosed) holds, and the message keeps
// the daemon's reason.

// socketGone reports whether err says that a socket can no longer be used:
// it was closed (by this client or another), or its session ended, which
// closes it (a call that waited then ends cancelled, and later calls find
// no session or no socket).
func socketGone(err error) bool {
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrCancelled) {
		return true
	}
	switch ErrorReason(err) {
	case ReasonSessionNotFound, ReasonSocketNotFound:
		return true
	}
	return false
}

// asNetClosed is err, made to match net.ErrClosed if socketGone says so.
func asNetClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || !socketGone(err) {
		return err
	}
	return fmt.Errorf("%w (%w)", net.ErrClosed, err)
}

// closeSocket is an adapter's final close of its daemon socket, within
// closeTimeout: a socket that is already gone (closed, its session ended)
// is closed as asked.
func (s *Session) closeSocket(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return s.closeSocketWithin(ctx, id)
}

func (s *Session) closeSocketWithin(ctx context.Context, id string) error {
	_, err := s.CloseSocket(ctx, id)
	if socketGone(err) {
		return nil
	}
	return err
}
