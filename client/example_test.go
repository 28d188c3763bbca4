package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sockd/sockd/client"
)

// Example is the package documentation's example; it needs a running daemon,
// so it is compiled but not run.
func Example() {
	if err := example(context.Background()); err != nil {
		fmt.Println(err)
	}
}

func example(ctx context.Context) error {
	c, err := client.Dial(ctx, client.DefaultAddress())
	if err != nil {
		return err // a *client.DialError if nothing answers there
	}
	defer c.Close()

	s, err := c.CreateSession(ctx, "example", time.Minute)
	if err != nil {
		return err
	}
	defer s.Close(ctx)

	open, err := s.Open(ctx, client.Inet, client.Stream, client.TCP, client.OpenOpts{})
	if err != nil {
		return err
	}
	sock := open.GetSocketId()
	addr, _ := client.ParseAddr("127.0.0.1:8080")
	if _, err := s.Connect(ctx, sock, addr, client.Millis(2000)); err != nil {
		return err // e.g. econnrefused: errors.Is(err, syscall.ECONNREFUSED)
	}

	// Ask for data without waiting; a select event says when to retry.
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()
	recv, err := s.Recv(ctx, sock, 0, client.Nowait(0))
	for err == nil && recv.GetAsync() != nil {
		if err := awaitSelect(events, recv.GetAsync().GetHandle()); err != nil {
			return err
		}
		recv, err = s.Recv(ctx, sock, 0, client.Nowait(0))
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", recv.GetData())
	return nil
}

// awaitSelect waits for the select event of the operation with this handle.
func awaitSelect(events *client.EventStream, handle uint64) error {
	for ev := range events.C() {
		if ev.GetSelect().GetHandle() == handle {
			return nil
		}
	}
	return events.Err()
}
