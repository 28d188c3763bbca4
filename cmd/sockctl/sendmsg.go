package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSendMsgCommand(a *app) *cobra.Command {
	var (
		io   *ioFlags
		data *dataFlags
		to   string
	)
	cmd := &cobra.Command{
		Use:   "sendmsg ID DATA...",
		Short: "Send a message from an I/O vector",
		Long: `Send a message (Erlang's socket:sendmsg/4) whose I/O vector holds each DATA
argument in turn, to the address given by --to on an unconnected socket.
Each DATA is sent as written, hex-decoded with --hex, or read from standard
input when it is "-".`,
		Example: `  sockctl sendmsg $C "GET / HTTP/1.0" $'\r\n\r\n'
  sockctl sendmsg $U hello --to 127.0.0.1:5353`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var msg client.Msg
			for _, arg := range args[1:] {
				b, err := data.read(arg, a.stdin)
				if err != nil {
					return err
				}
				msg.IOV = append(msg.IOV, b)
			}
			if to != "" {
				var err error
				if msg.Addr, err = parseAddrArg(to); err != nil {
					return err
				}
			}
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.SendMsg(ctx, args[0], msg, timeout, msgFlags...)
				return report(a, resp, err, func(r *sockdv1.SendMsgResponse) view {
					return sendView(r.GetBytesSent(), r.GetBytesUnsent(), r.GetAsync(), r.GetError())
				})
			})
		},
	}
	io = addIOFlags(cmd)
	data = addDataFlags(cmd)
	// Not --addr: that is the daemon's address, a global flag.
	cmd.Flags().StringVar(&to, "to", "", "the destination address, for an unconnected socket")
	return cmd
}
