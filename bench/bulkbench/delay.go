package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/client"
)

// echoRemote runs the echo comparison again with the client reaching the
// daemon through a link that holds every chunk for rtt/2 each way: a client
// on another host, which is who completion mode's saved round trip is for.
// The daemon's own sockets (to the echo server) stay on loopback.
func (b *bench) echoRemote(ctx context.Context, target string, rtt, d time.Duration, size int) (sel, comp echoRun, err error) {
	proxy, stop, err := delayProxy(filepath.Join(b.dir, "delayed.sock"), target, rtt/2)
	if err != nil {
		return sel, comp, err
	}
	defer stop()
	c, err := client.Dial(ctx, "unix://"+proxy)
	if err != nil {
		return sel, comp, err
	}
	defer c.Close()
	sess, err := c.CreateSession(ctx, "", time.Minute)
	if err != nil {
		return sel, comp, err
	}
	defer sess.Close(ctx)
	local, seen := b.sess, b.lastEvent
	b.sess, b.lastEvent = sess, sess.LastSequence()
	defer func() { b.sess, b.lastEvent = local, seen }()
	if sel, err = b.echo(ctx, false, d, size); err != nil {
		return sel, comp, fmt.Errorf("select: %w", err)
	}
	if comp, err = b.echo(ctx, true, d, size); err != nil {
		return sel, comp, fmt.Errorf("completion: %w", err)
	}
	return sel, comp, nil
}

// delayProxy forwards connections on a unix socket at path to the unix
// socket target, delivering every chunk delay after it was read, in order.
func delayProxy(path, target string, delay time.Duration) (string, func(), error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", target)
			if err != nil {
				in.Close()
				continue
			}
			go delayCopy(out, in, delay)
			go delayCopy(in, out, delay)
		}
	}()
	return path, func() { l.Close() }, nil
}

type delayed struct {
	data []byte
	due  time.Time
}

// delayCopy copies src to dst, each chunk delay late. The queue between the
// reader and the writer is bounded, so a slow dst slows src down.
func delayCopy(dst, src net.Conn, delay time.Duration) {
	queue := make(chan delayed, 256)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- delayed{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range queue {
		sleepUntil(c.due)
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	for range queue { // let the reader end
	}
}

// sleepUntil returns at t with microsecond precision. time.Sleep would do
// for long waits but not here: an idle Go runtime waits for timers in whole
// milliseconds, which made a "1 ms" proxy 1.5 to 2 ms away at random. A
// nanosleep(2) holds its own thread instead.
func sleepUntil(t time.Time) {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		ts := unix.NsecToTimespec(d.Nanoseconds())
		unix.Nanosleep(&ts, nil)
	}
}
