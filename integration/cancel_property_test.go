package integration

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
)

// TestCancelledCompletionsLoseNothingOverGRPC: through the daemon, its
// event stream and the client library, completion recvs cancelled at
// random while data trickles in lose and repeat nothing: each recv's bytes
// come once, from its answer, its cancel's answer or its event.
func TestCancelledCompletionsLoseNothingOverGRPC(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*callTimeout)
	defer cancel()
	l := tcpListener(t)
	addr, _ := client.ParseAddr(l.Addr().String())
	id, err := s.OpenStream(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	const total = 64 << 10
	sent := make([]byte, total)
	for i := range sent {
		sent[i] = byte(i*131 + i>>9)
	}
	go func() {
		for off := 0; off < total; {
			n := min(1+off%499, total-off)
			if _, err := peer.Write(sent[off : off+n]); err != nil {
				return
			}
			off += n
			time.Sleep(time.Millisecond) // slower than a call: recvs wait and gather
		}
	}()
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()

	var got []byte
	var partial, late int
	for i := 0; len(got) < total; i++ {
		want := min(int64(500+i*7%3000), int64(total-len(got)))
		r, err := s.Recv(ctx, id, want, client.NowaitCompletion(0))
		if err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
		if r.GetAsync() == nil {
			got = append(got, r.GetData()...)
			continue
		}
		handle := r.GetAsync().GetHandle()
		if i%3 != 0 {
			time.Sleep(time.Duration(i%4) * time.Millisecond)
			resp, err := s.Cancel(ctx, id, r.GetAsync())
			var se *client.SocketError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("cancel %d: %v", i, err)
			}
			if c := resp.GetCompletion(); c != nil {
				got = append(got, c.GetRecv().GetData()...)
				partial++
				continue
			}
			if resp.GetError() == nil {
				continue // cancelled before it read anything
			}
			late++ // too late: the completion is on the stream
		}
		for answered := false; !answered; {
			select {
			case ev, ok := <-events.C():
				if !ok {
					t.Fatalf("event stream ended: %v", events.Err())
				}
				if c := ev.GetCompletion(); c != nil && c.GetHandle() == handle {
					got = append(got, c.GetRecv().GetData()...)
					answered = true
				}
			case <-ctx.Done():
				t.Fatalf("recv %d: no completion", i)
			}
		}
	}
	t.Logf("%d cancels answered partial work or a result on its way, %d were too late", partial, late)
	if partial == 0 {
		t.Error("no cancel answered partial work: the test did not exercise it")
	}
	if !bytes.Equal(got, sent) {
		n := 0
		for n < min(len(got), len(sent)) && got[n] == sent[n] {
			n++
		}
		t.Fatalf("got %d bytes, sent %d; first difference at %d", len(got), len(sent), n)
	}
}
