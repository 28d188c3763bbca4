package main

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The writer and the sink of the pipe and relay comparisons run on the same
// two cores as the paths they measure, and what they cost shapes the result:
//
//   - copy: write(2) from a buffer, read(2) into one. Real programs, but on
//     two cores the endpoints' copies are most of the work.
//   - discard: the same writer; the sink drops bytes with recv(2) and
//     MSG_TRUNC, which copies nothing, as a reader on another host costs
//     this machine nothing.
//   - zerocopy: the relay comparison's writer copies nothing either: it
//     uses sendfile(2) from a memfd. Its skbs then carry page-cache pages,
//     which changes what each relay costs (see BENCHMARKS.md). The pipe
//     comparison keeps a copying writer: its clients copy every byte into
//     messages.
//
// Every path of a comparison uses the same endpoints.

// discard reads c to its end, without copying the bytes out when trunc,
// and returns how many there were.
func discard(c net.Conn, trunc bool) (int64, error) {
	if !trunc {
		return io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			// MSG_TRUNC on a TCP socket drops up to len bytes: the buffer
			// only gives the length.
			n, _, rerr = unix.Recvfrom(int(fd), truncBuf[:], unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		switch {
		case err != nil:
			return total, err
		case rerr != nil:
			return total, rerr
		case n == 0:
			return total, nil
		}
		total += int64(n)
	}
}

// truncBuf is never written: MSG_TRUNC reads take only its length.
var truncBuf [1 << 20]byte

// source is what a writer sends: chunk-sized writes from a buffer, or with
// sendfile, sendfile(2) from a memfd holding the same bytes.
type source struct {
	buf  []byte
	file *os.File // nil: write from buf
}

func newSource(chunk int, sendfile bool) (*source, error) {
	s := &source{buf: make([]byte, chunk)}
	if !sendfile {
		return s, nil
	}
	fd, err := unix.MemfdCreate("bulkbench", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	s.file = os.NewFile(uintptr(fd), "bulkbench-memfd")
	if _, err := s.file.Write(s.buf); err != nil {
		s.file.Close()
		return nil, err
	}
	return s, nil
}

func (s *source) close() {
	if s.file != nil {
		s.file.Close()
	}
}

// sendAll writes total bytes to c, a chunk at a time.
func (s *source) sendAll(c net.Conn, total int64) error {
	chunk := int64(len(s.buf))
	for sent := int64(0); sent < total; sent += chunk {
		if err := s.send(c, min(chunk, total-sent)); err != nil {
			return err
		}
	}
	return nil
}

// acceptOne listens on a loopback port and hands the one connection it
// accepts to serve, or serve's error to report; it returns the address.
func acceptOne(serve func(net.Conn) error, report func(error)) (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			report(err)
			return
		}
		defer c.Close()
		if err := serve(c); err != nil {
			report(err)
		}
	}()
	return l.Addr().String(), nil
}

// send writes n bytes (at most one chunk) to c.
func (s *source) send(c net.Conn, n int64) error {
	if s.file == nil {
		_, err := c.Write(s.buf[:n])
		return err
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	src := int(s.file.Fd())
	for off := int64(0); off < n; {
		var serr error
		err := rc.Write(func(fd uintptr) bool {
			_, serr = unix.Sendfile(int(fd), src, &off, int(n-off))
			return serr != unix.EAGAIN
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
