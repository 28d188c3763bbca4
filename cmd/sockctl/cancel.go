package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newCancelCommand(a *app) *cobra.Command {
	var (
		op         string
		completion bool
	)
	cmd := &cobra.Command{
		Use:   "cancel ID HANDLE",
		Short: "Cancel a pending nowait operation",
		Long: `Cancel the pending nowait operation with this HANDLE (Erlang's
socket:cancel/2). After it returns, no select or abort for the handle is
delivered, and a select already delivered is not replayed.
A completion-mode operation that had done part of its work (a stream recv's
bytes, a send's count) prints that part; one that had finished, its result
not yet read from the events, prints that result, which no event repeats
(exit status 0 either way).
Without --op, whichever of the session's pending operations on the socket
has the handle is cancelled; --op names it, as the select info printed it.
As in Erlang, the operation says which queue to look in: recv, recvfrom and
recvmsg name the socket's readers, send, sendto and sendmsg its writers.
--completion changes only the refusal when nothing is pending: it names a
completion_info instead of a select_info.`,
		Example: `  sockctl recv $A --nowait          # select recv handle=4
  sockctl cancel $A 4
  sockctl accept $L --nowait        # select accept handle=5
  sockctl cancel $L 5 --op accept`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			handle, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return usage(fmt.Errorf("invalid handle %q: want a number", args[1]))
			}
			info := &sockdv1.AsyncInfo{Handle: handle} // no operation: whichever has the handle
			if op != "" {
				if info.Operation, err = client.ParseOperation(op); err != nil {
					return usage(err)
				}
			}
			if completion {
				info.Mode = sockdv1.AsyncMode_ASYNC_MODE_COMPLETION
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Cancel(ctx, args[0], info)
				if resp.GetCompletion() != nil {
					// The operation's result, in place of its event: what
					// the cancel is for, whatever it says of the handle
					// (invalid: nothing was pending any more). Exit 1 would
					// tell a script there was nothing, and an accepted
					// socket or read bytes would be lost to it.
					var sockErr *client.SocketError
					if errors.As(err, &sockErr) {
						err = nil
					}
				}
				return report(a, resp, err, cancelView)
			})
		},
	}
	cmd.Flags().StringVar(&op, "op", "", "the operation: accept, connect, recv, recvfrom, recvmsg, send, sendto, sendmsg (default: whichever has the handle)")
	cmd.Flags().BoolVar(&completion, "completion", false, "the operation was started with --completion (a refusal names completion_info)")
	return cmd
}

// cancelView is silent, as Erlang's ok is, unless the cancel answered a
// completion-mode result (partial work, or a completion it took): then that
// result alone, as the completion event would have shown it.
func cancelView(r *sockdv1.CancelResponse) view {
	c := r.GetCompletion()
	if c == nil {
		return emptyView(nil, r.GetError())
	}
	fields, result := completionResult(c)
	return view{text: line(fields...), obj: object{}.with("result", result)}
}
