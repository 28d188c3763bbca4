package server

import (
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// On a closed socket every option answers closed, the otp ones too (they
// make no syscall, but the NIF checks that the socket is open first).
func TestOptionsOfAClosedSocket(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	sock.Close()
	otp := func(name string) *sockdv1.OptionKey {
		return &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_OTP, Name: name}
	}
	set, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: sock.ID(), Key: otp("debug"),
		Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}})
	if err != nil || set.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Fatalf("setopt otp debug on a closed socket: %v %v", set, err)
	}
	for _, name := range []string{"debug", "fd", "rcvbuf"} {
		got, err := l.svc.GetOpt(l.ctx, &sockdv1.GetOptRequest{SocketId: sock.ID(), Key: otp(name)})
		if err != nil || got.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
			t.Errorf("getopt otp %s on a closed socket: %v %v", name, got, err)
		}
	}
}
