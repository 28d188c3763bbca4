package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newSessionCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "session",
		Short: "Show or close sockctl's session",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newSessionShowCommand(a), newSessionCloseCommand(a))
	return cmd
}

func newSessionShowCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print the session's id, grace period and last event sequence",
		Long: `Print the session's id (the "sockd-session" metadata, for grpcurl and other
clients), its name, its grace period, and the sequence number of its newest
event. It creates no session: without a live session of the name it fails
with not_found (exit 1). Being shown is a use: the session's grace starts
over.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withExistingSession(cmd, func(_ context.Context, s *client.Session) error {
				return a.out.emit(sessionView(s, a.sessionName))
			})
		},
	}
}

func newSessionCloseCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "close",
		Short: "End the session now, closing its sockets",
		Long: `End the session now, as if its Erlang process died: its sockets close and
the operations it waits on are aborted. The next invocation starts a new,
empty session of the same name. Without a live session of the name it fails
with not_found (exit 1).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withExistingSession(cmd, func(ctx context.Context, s *client.Session) error {
				if err := s.Close(ctx); err != nil {
					return err
				}
				return a.out.emit(view{obj: object{}})
			})
		},
	}
}

func sessionView(s *client.Session, name string) view {
	fields := []field{
		{"session", s.ID()},
		{"name", name},
		{"existing", strconv.FormatBool(s.Existing())},
		{"grace", s.Grace().String()},
		{"last_sequence", strconv.FormatUint(s.LastSequence(), 10)},
	}
	obj := object{}.
		with("session", s.ID()).
		with("name", name).
		with("existing", s.Existing()).
		with("grace", s.Grace().String()).
		with("last_sequence", s.LastSequence())
	return view{text: rows(fields...), obj: obj}
}
