package engine

import (
	"time"

	"golang.org/x/sys/unix"
)

// Linux's close(2) with SO_LINGER on (and a time) blocks its thread until
// the peer has acknowledged the FIN that follows the queued bytes, or the
// time is up; then the socket goes on as an orphan. A daemon that let every
// such close hold a thread could be made to start threads past the runtime's
// limit (and die). So a TCP socket's linger is done here, as tcp_close does
// it, with the waiting in a goroutine: shut both directions (the FIN goes
// after what is queued; a byte that arrives later is answered with a reset,
// as after close), wait while the socket's state is FIN_WAIT1, CLOSING or
// LAST_ACK (sk_stream_closing), then close(2) with the linger off: what is
// still queued then goes on in the kernel, as after a linger's timeout.
// Other sockets whose close lingers (SCTP; MPTCP, whose TCP_INFO is a
// subflow's) close(2) as they are, taking turns (lingerTurn) so that they
// hold few threads.

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpFinWait1    = 4
	tcpClose       = 7
	tcpCloseWait   = 8
	tcpLastAck     = 9
	tcpClosing     = 11
)

// lingerPoll bounds the wait between two looks at a lingering socket's
// state: the looks start 1 ms apart and slow down to this, so that an idle
// socket's close returns at once and thousands of stuck ones cost little
// (a Close may return up to this long after its FIN was acknowledged).
const lingerPoll = 250 * time.Millisecond

// lingerTime is fd's SO_LINGER time when close(2) would wait for it: on,
// with a time (on with 0 resets at once).
func lingerTime(fd int) (time.Duration, bool) {
	l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
	if err != nil || l.Onoff == 0 || l.Linger <= 0 {
		return 0, false
	}
	return time.Duration(l.Linger) * time.Second, true
}

// lingers reports whether close(2) on fd may wait for unsent data.
func lingers(fd int) bool {
	_, ok := lingerTime(fd)
	return ok
}

// lingerTCP does fd's linger as tcp_close would, without holding a thread,
// and leaves fd for a close(2) that does not wait. A socket that is no TCP
// socket whose close would wait (listening, connecting, bytes left unread:
// a reset) is left as it is: its close(2) does not wait either.
func (e *Engine) lingerTCP(fd int, linger time.Duration) {
	switch state, ok := tcpState(fd); {
	case !ok:
		return
	case state != tcpEstablished && state != tcpCloseWait && !tcpClosingState(state):
		return
	}
	if inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err != nil || inq > 0 {
		return
	}
	// The FIN, unless a shutdown sent it already; and nothing more taken
	// in (a byte that comes is answered with a reset).
	unix.Shutdown(fd, unix.SHUT_RDWR)
	deadline := time.Now().Add(linger)
	for wait := time.Millisecond; ; wait = min(2*wait, lingerPoll) {
		left := time.Until(deadline)
		if state, ok := tcpState(fd); !ok || !tcpClosingState(state) || left <= 0 {
			break
		}
		timer := time.NewTimer(min(wait, left))
		select {
		case <-timer.C:
			continue
		case <-e.hurry: // the engine stops: as at a process's exit
			timer.Stop()
		}
		break
	}
	noLinger(fd)
}

// noLinger turns fd's linger off, so that close(2) returns at once (were
// it to fail, close(2) would linger in its thread, as before).
func noLinger(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{})
}

// lingerAtMost makes fd's close(2) linger for no longer than d: the whole
// seconds of it, or not at all under a second (SO_LINGER counts seconds).
func lingerAtMost(fd int, d time.Duration) {
	if secs := d / time.Second; secs >= 1 {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: int32(secs)})
		return
	}
	noLinger(fd)
}

// tcpState is fd's TCP state; false when fd is no TCP socket.
func tcpState(fd int) (uint8, bool) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, false
	}
	return info.State, true
}

// tcpClosingState is sk_stream_closing: the FIN is sent and not yet acknowledged.
func tcpClosingState(state uint8) bool {
	return state == tcpFinWait1 || state == tcpClosing || state == tcpLastAck
}
