package registry

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
)

// BenchmarkOpenClose is the engine's open+register+close of an inet stream
// socket, registry on and off, against its anchor: the raw syscalls the
// engine makes for it (socket, epoll_ctl add and del, close).
//
//	go test -run '^$' -bench OpenClose -benchtime 2s -count 3 ./registry/
func BenchmarkOpenClose(b *testing.B) {
	for _, use := range []bool{true, false} {
		name := "engine/registry=off"
		if use {
			name = "engine/registry=on"
		}
		b.Run(name, func(b *testing.B) {
			e, r := newEngine(b, use)
			c := newCaller("bench")
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP, engine.OpenOptions{UseRegistry: &use})
					if err != nil {
						b.Error(err)
						return
					}
					s.Close()
				}
			})
			if n := r.NumberOf(); n != 0 {
				b.Fatalf("%d sockets left registered", n)
			}
		})
	}
	b.Run("raw", func(b *testing.B) {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(epfd)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
				if err != nil {
					b.Error(err)
					return
				}
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
				if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
					b.Error(err)
				}
				unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil)
				unix.Close(fd)
			}
		})
	})
}

// BenchmarkCancelMonitor: a monitor made and cancelled on a socket that
// holds 64,000 others.
func BenchmarkCancelMonitor(b *testing.B) {
	e, r := newEngine(b, true)
	a := newCaller("a")
	s := open(b, e, a, inet, stream, nil)
	for range 64000 {
		r.Monitor(s, a)
	}
	for b.Loop() {
		r.CancelMonitor(r.Monitor(s, a), nil)
	}
}
