package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
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
	if !socketGone(err) {
		return err
	}
	return netClosed(err)
}

// adapterError is an adapter's error from a call of s: also a call made
// or ended by Client.Close matches net.ErrClosed, since the connection is
// closed, and so is the socket as far as this process goes.
func (s *Session) adapterError(err error) error {
	if s.client.isClosed() {
		return netClosed(err)
	}
	return asNetClosed(err)
}

// netClosed is err, made to match net.ErrClosed; the message keeps err's.
func netClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return err
	}
	return fmt.Errorf("%w (%w)", net.ErrClosed, err)
}

// closeSocket is an adapter's final close of its daemon socket
// (untilAnswered): a close lost to an outage would leave the socket open,
// its peer waiting. A socket already gone (closed, its session ended)
// counts as closed.
func (s *Session) closeSocket(id string) error {
	err := s.untilAnswered(func(ctx context.Context) error {
		_, err := s.CloseSocket(ctx, id)
		return err
	})
	if socketGone(err) {
		return nil
	}
	return err
}

// untilAnswered makes call, each time within closeTimeout, until the
// daemon answers it: while the daemon is out of reach it calls again, for
// as long as the session's grace may keep the session there. A daemon
// shutting down, whose end ends the session, counts as an answer, and so
// does a Client closed meanwhile, which leaves its sessions to their end;
// the waits, not a call in progress, end with the Client.
func (s *Session) untilAnswered(call func(ctx context.Context) error) error {
	grace := s.graceOrDefault()
	ctx, cancel := context.WithTimeout(context.Background(), grace+closeTimeout)
	defer cancel()
	waits, stop := s.client.unlessClosing(ctx)
	defer stop()
	outage := newOutage(grace)
	for {
		start := time.Now()
		one, end := context.WithTimeout(ctx, closeTimeout)
		err := call(one)
		end()
		switch {
		case ErrorReason(err) == ReasonDraining, s.client.isClosed():
			return nil
		case !outOfReach(err) || !outage.waitOut(waits, s.client, start):
			return err
		}
	}
}

// closeWithPrompt runs close, an adapter's close of its daemon socket, and
// answers its error if it ends within closePrompt; past that it goes on in
// the background (Client.Close and Session.Close wait for it), and late
// says so: a daemon out of reach, or slow, does not hold a Close.
func (s *Session) closeWithPrompt(close func() error) (late bool, err error) {
	finished := make(chan error, 1)
	done := s.client.startDrain(s.id)
	go func() {
		defer done()
		finished <- close()
	}()
	timer := time.NewTimer(closePrompt)
	defer timer.Stop()
	select {
	case err := <-finished:
		return false, err
	case <-timer.C:
		return true, nil
	}
}
