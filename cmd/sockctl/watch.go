package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

// clearScreen moves the cursor home and clears the screen (ANSI), so each
// refresh replaces the last in place.
const clearScreen = "\x1b[H\x1b[2J"

func newWatchCommand(a *app) *cobra.Command {
	var (
		keys     []string
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "watch [DOMAIN|TYPE|PROTOCOL]",
		Short: "Show the socket table live, refreshed in place until Ctrl-C",
		Long: `Show the table of sockctl i, redrawn in place every --interval: sockets
appear and go, counters move, states change. Ctrl-C ends it. With -o json
it prints one object per refresh, {"time": ..., "sockets": [...]} with the
objects of sockctl i -o json, and no screen control codes; to a file or a
pipe, the tables follow one another, without them too.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := iFilter(args)
			if err != nil {
				return usage(err)
			}
			if interval <= 0 {
				return usage(errors.New("--interval must be positive"))
			}
			if err := checkKeys(keys); err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				err := watch(ctx, cmd.OutOrStdout(), interval, func(w io.Writer) error {
					sockets, err := gatherSockets(ctx, s, filter, keys)
					if err != nil {
						return err
					}
					if a.out.json {
						// One object per refresh, so that a reader tells them apart.
						objs := make([]object, len(sockets))
						for i, f := range sockets {
							objs[i] = socketObject(f, keys)
						}
						return (&printer{w: w, json: true}).emit(view{obj: object{}.
							with("time", time.Now().Format(time.RFC3339Nano)).with("sockets", objs)})
					}
					clear := "" // a file or pipe gets one table after another
					if interactive(cmd.OutOrStdout()) {
						clear = clearScreen
					}
					if _, err := io.WriteString(w, clear+time.Now().Format(time.TimeOnly)+"\n\n"); err != nil {
						return err
					}
					_, err = io.WriteString(w, iTable(keys, tableRows(sockets, keys)))
					return err
				})
				if ctx.Err() != nil {
					return nil // Ctrl-C is how a watch ends
				}
				return err
			})
		},
	}
	cmd.Flags().StringSliceVar(&keys, "keys", defaultIKeys, "the columns, comma-separated")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between refreshes")
	return cmd
}

// watch calls draw at once and then every interval until ctx ends or draw
// fails.
func watch(ctx context.Context, w io.Writer, interval time.Duration, draw func(io.Writer) error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := draw(w); err != nil {
			return err
		}
		// Ended during the draw: no other, even with a tick due (select
		// picks among ready cases at random).
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
