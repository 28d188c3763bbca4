package client

import (
	"net"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestDeadline(t *testing.T) {
	var d deadline
	d.init()
	if isClosed(d.cancel) {
		t.Fatal("a fresh deadline has passed")
	}
	d.set(time.Now().Add(-time.Second))
	if !isClosed(d.wait()) {
		t.Fatal("a past deadline has not passed")
	}
	d.set(time.Now().Add(20 * time.Millisecond))
	select {
	case <-d.wait():
		t.Fatal("a future deadline passed at once")
	default:
	}
	select {
	case <-d.wait():
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline never passed")
	}
	d.set(time.Time{})
	if isClosed(d.wait()) {
		t.Fatal("clearing the deadline left it passed")
	}
}

func TestNetAddrAndInetSockAddr(t *testing.T) {
	for _, tc := range []struct{ network, address string }{
		{"tcp", "127.0.0.1:80"}, {"tcp6", "[::1]:443"}, {"udp4", "127.0.0.1:53"},
	} {
		sa, _, err := inetSockAddr(tc.network, tc.address)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.network, tc.address, err)
		}
		if got := NetAddr(tc.network, sa).String(); got != tc.address {
			t.Errorf("%s %s: round trip gives %s", tc.network, tc.address, got)
		}
	}
	for _, tc := range []struct{ network, address string }{
		{"tcp4", "[::1]:1"}, {"tcp6", "127.0.0.1:1"}, {"tcp", "localhost:80"}, {"tcp", "127.0.0.1"},
	} {
		if _, _, err := inetSockAddr(tc.network, tc.address); err == nil {
			t.Errorf("%s %s: accepted", tc.network, tc.address)
		}
	}
	local := &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte("/run/x")}}}
	if a, ok := NetAddr("unix", local).(*net.UnixAddr); !ok || a.Name != "/run/x" {
		t.Errorf("local address: %v", NetAddr("unix", local))
	}
	if _, ok := NetAddr("udp", inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: "127.0.0.1"}})).(*net.UDPAddr); !ok {
		t.Error("udp network does not give a UDPAddr")
	}
}
