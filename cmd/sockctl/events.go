package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newEventsCommand(a *app) *cobra.Command {
	var (
		after  uint64
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the session's events",
		Long: `Print the events the daemon holds for the session with a sequence number
greater than --after (at most the session's last one: a later --after is a
usage error), one per line, and exit. With --follow, keep printing
new events until interrupted or until the session ends (closed, or the daemon
stopped: "session ended" on standard error, exit status 0); the stream
reconnects by itself if the connection breaks, without losing or repeating
events. While the daemon is out of reach it waits for it, for as long as the
session would outlive it (an hour for sockctl's sessions), and says so on
standard error.

  seq=3 socket=ID select handle=7 op=accept
  seq=4 socket=ID abort handle=8 op=recv reason=closed
  seq=5 socket=ID completion handle=9 op=recv data="hello"
  seq=6 socket=ID down monitor=M reason=closed
  seq=7 socket=ID counter_wrap counter=read_byte
  gap first_held=12        (events before 12 are no longer held)
  caught_up                (--follow: the held events were printed; new ones follow;
                           again after each reconnect, once what it missed is printed)

With -o json each event is one object: {"seq":3,"socket":"ID","event":"select",
"handle":7,"operation":"accept"}; abort has "reason" and completion "result",
each shaped like the error and result of the verb.

Only one stream follows a session's events at a time: a --follow elsewhere
with the same --session ends a --follow here. Without --follow, events only
reads what a --follow elsewhere is sending too, and leaves it running.`,
		Example: `  sockctl events
  sockctl events --after 41     # those after seq=41, which an earlier run printed
  sockctl events --follow -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				if !follow {
					events, err := s.HeldEvents(ctx, after)
					for _, ev := range events {
						if err := a.out.emit(eventView(ev)); err != nil {
							return err
						}
					}
					return err
				}
				stream := s.Events(ctx, after)
				defer stream.Close()
				stopTelling := tellOutages(cmd.ErrOrStderr(), s)
				defer stopTelling()
				for ev := range stream.C() {
					if err := a.out.emit(eventView(ev)); err != nil {
						return err
					}
				}
				if ctx.Err() != nil {
					return nil // interrupted: the normal end of --follow
				}
				if client.ErrorReason(stream.Err()) == client.ReasonSessionNotFound {
					// The daemon died and came back while the stream
					// reconnected: the session ended with the old one.
					fmt.Fprintln(cmd.ErrOrStderr(), "sockctl: session ended (the daemon restarted)")
					return nil
				}
				if errors.Is(stream.Err(), client.ErrSessionEnded) {
					// Every event the session held was printed: the
					// stream ended as a stream of a closed session must,
					// whether it was closed or the daemon stopped.
					fmt.Fprintln(cmd.ErrOrStderr(), "sockctl: session ended")
					return nil
				}
				return stream.Err()
			})
		},
	}
	cmd.Flags().Uint64Var(&after, "after", 0, "print only events with a greater sequence number")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new events until interrupted")
	return cmd
}

// eventView is one event: a line of "seq=N socket=ID KIND key=value...".
func eventView(ev *sockdv1.EventsResponse) view {
	var fields []field
	obj := object{}
	if seq := ev.GetSequence(); seq != 0 {
		fields = append(fields, kv("seq", strconv.FormatUint(seq, 10)))
		obj = obj.with("seq", seq)
	}
	if id := ev.GetSocketId(); id != "" {
		fields = append(fields, kv("socket", id))
		obj = obj.with("socket", id)
	}
	operation := func(handle uint64, op sockdv1.Operation) {
		fields = append(fields, kv("handle", strconv.FormatUint(handle, 10)), kv("op", client.EnumName(op)))
		obj = obj.with("handle", handle).with("operation", client.EnumName(op))
	}
	switch e := ev.GetEvent().(type) {
	case *sockdv1.EventsResponse_Select:
		fields = append(fields, word("select"))
		obj = obj.with("event", "select")
		operation(e.Select.GetHandle(), e.Select.GetOperation())
	case *sockdv1.EventsResponse_Completion:
		fields = append(fields, word("completion"))
		obj = obj.with("event", "completion")
		operation(e.Completion.GetHandle(), e.Completion.GetOperation())
		resultFields, result := completionResult(e.Completion)
		fields = append(fields, resultFields...)
		obj = obj.with("result", result)
	case *sockdv1.EventsResponse_Abort:
		fields = append(fields, word("abort"))
		obj = obj.with("event", "abort")
		operation(e.Abort.GetHandle(), e.Abort.GetOperation())
		fields = append(fields, kv("reason", errorText(e.Abort.GetReason())))
		obj = obj.with("reason", errorObject(e.Abort.GetReason()))
		if p := e.Abort.GetPartial(); p != nil {
			// What the operation had done: its bytes are nowhere else.
			resultFields, result := completionResult(p)
			fields = append(fields, resultFields...)
			obj = obj.with("partial", result)
		}
	case *sockdv1.EventsResponse_Down:
		fields = append(fields, word("down"), kv("monitor", e.Down.GetMonitorId()), kv("reason", e.Down.GetReason()))
		// An object, as an abort's reason is, so that "reason" has one shape.
		obj = obj.with("event", "down").with("monitor", e.Down.GetMonitorId()).with("reason", object{}.with("reason", e.Down.GetReason()))
	case *sockdv1.EventsResponse_CounterWrap:
		fields = append(fields, word("counter_wrap"), kv("counter", e.CounterWrap.GetCounter()))
		obj = obj.with("event", "counter_wrap").with("counter", e.CounterWrap.GetCounter())
	case *sockdv1.EventsResponse_Gap:
		fields = append(fields, word("gap"), kv("first_held", strconv.FormatUint(e.Gap.GetFirstHeld(), 10)))
		obj = obj.with("event", "gap").with("first_held", e.Gap.GetFirstHeld())
	case *sockdv1.EventsResponse_CaughtUp:
		fields = append(fields, word("caught_up"))
		obj = obj.with("event", "caught_up")
	default:
		// A kind newer than this sockctl: say so rather than print nothing.
		fields = append(fields, word("unknown"))
		obj = obj.with("event", "unknown")
	}
	return view{text: line(fields...), obj: obj}
}

// completionResult is the result a completion event carries, in the table
// fields and JSON shape of the verb that started the operation.
func completionResult(c *sockdv1.CompletionEvent) ([]field, object) {
	var (
		fields []field
		v      view
		se     *sockdv1.SocketError
	)
	switch s := c.GetStatus().(type) {
	case *sockdv1.CompletionEvent_Accept:
		if id := s.Accept.GetSocketId(); id != "" {
			fields = append(fields, kv("accepted", id))
		}
		v, se = socketView(s.Accept.GetSocketId(), nil, s.Accept.GetError()), s.Accept.GetError()
	case *sockdv1.CompletionEvent_Connect:
		v, se = emptyView(nil, s.Connect.GetError()), s.Connect.GetError()
	case *sockdv1.CompletionEvent_Send:
		r := s.Send
		fields = append(fields, kv("sent", strconv.FormatUint(r.GetBytesSent(), 10)), kv("unsent", strconv.FormatUint(r.GetBytesUnsent(), 10)))
		v, se = sendView(r.GetBytesSent(), r.GetBytesUnsent(), nil, r.GetError()), r.GetError()
	case *sockdv1.CompletionEvent_Recv:
		fields = append(fields, kvData("data", s.Recv.GetData()))
		v, se = recvView(s.Recv), s.Recv.GetError()
	case *sockdv1.CompletionEvent_Recvfrom:
		if src := s.Recvfrom.GetSource(); src != nil {
			fields = append(fields, kv("from", client.FormatAddr(src)))
		}
		fields = append(fields, kvData("data", s.Recvfrom.GetData()))
		v, se = recvFromView(s.Recvfrom), s.Recvfrom.GetError()
	case *sockdv1.CompletionEvent_Recvmsg:
		msgFields, _ := receivedMsg(s.Recvmsg)
		fields = append(fields, msgFields...)
		v, se = recvMsgView(s.Recvmsg), s.Recvmsg.GetError()
	default:
		v = view{obj: object{}}
	}
	if se != nil {
		fields = append(fields, kv("error", errorText(se)))
	}
	return fields, v.obj
}

// outageNotice is how long the daemon must be out of reach before a
// follow says that it waits: a blip is not worth a line.
const outageNotice = 3 * time.Second

// tellOutages says on w when the daemon has been out of reach for a while
// and when it is back, so that a --follow waiting out an outage (for up to
// the session's grace, an hour for sockctl's) is not silent.
func tellOutages(w io.Writer, s *client.Session) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		told := false
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			switch since := s.Client().OutOfReachSince(); {
			case !since.IsZero() && !told && time.Since(since) >= outageNotice:
				if grace := s.Grace(); grace > 0 {
					fmt.Fprintf(w, "sockctl: the daemon is out of reach; waiting for it (the session outlives it for %v)\n", grace)
				} else {
					fmt.Fprintln(w, "sockctl: the daemon is out of reach; waiting for it")
				}
				told = true
			case since.IsZero() && told:
				fmt.Fprintln(w, "sockctl: the daemon is back")
				told = false
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
