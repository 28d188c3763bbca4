package options

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestTOSAndPriorityIndependent: on Linux, setting IP_TOS also changes
// SO_PRIORITY; through Set, each keeps the value last set for it, in either
// order and through the native path too (reference §6.6).
func TestTOSAndPriorityIndependent(t *testing.T) {
	prio := Key{LevelSocket, "priority"}
	tos := Key{LevelIP, "tos"}

	s := openSocket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	// The kernel's own behaviour, which the test would be vacuous without.
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_PRIORITY, 2); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(s.fd, unix.IPPROTO_IP, unix.IP_TOS, 0x10); err != nil {
		t.Fatal(err)
	}
	if p, _ := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_PRIORITY); p == 2 {
		t.Skip("this kernel does not couple IP_TOS and SO_PRIORITY")
	}

	s = openSocket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	mustSet := func(k Key, v any) {
		t.Helper()
		if err := testHost.Set(s, k, v); err != nil {
			t.Fatalf("set %s %v: %v", k, v, err)
		}
	}
	want := func(k Key, v any) {
		t.Helper()
		if got, err := testHost.Get(s, k); err != nil || got != v {
			t.Errorf("%s = %v (%v), want %v", k, got, err, v)
		}
	}
	mustSet(prio, 2)
	mustSet(tos, TOS(0x10)) // lowdelay: the kernel would make the priority 6
	want(prio, 2)
	want(tos, TOS(0x10))
	mustSet(prio, 4)
	want(tos, TOS(0x10))
	want(prio, 4)
	if err := SetNative(s, unix.IPPROTO_IP, unix.IP_TOS, 0x08); err != nil {
		t.Fatal(err)
	}
	want(prio, 4)
	want(tos, TOS(0x08))
	// Other options leave both alone.
	mustSet(Key{LevelSocket, "reuseaddr"}, true)
	want(prio, 4)
	want(tos, TOS(0x08))
}

// A priority set while another caller sets the TOS is not undone by the
// TOS set's restore of the priority it read before (a reviewer lost 61 of
// 3,000 priority sets so), nor does a read see the priority the kernel
// made between the TOS set and its restore: a socket's option sets are
// serialised, as the NIF's are by its write mutex, and reads wait for them.
func TestPrioritySetsAreNotUndoneByConcurrentTOSSets(t *testing.T) {
	s := openSocket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	prio, tos := Key{LevelSocket, "priority"}, Key{LevelIP, "tos"}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			testHost.Set(s, tos, TOS(0x10*(i%2)))
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 3000 {
		p := 1 + i%5
		if err := testHost.Set(s, prio, p); err != nil {
			t.Fatal(err)
		}
		if got, err := testHost.Get(s, prio); err != nil || got != p {
			t.Fatalf("iteration %d: set priority %d, read %v (%v)", i, p, got, err)
		}
	}
}
