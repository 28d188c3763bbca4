package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSendMsgCommand(a *app) *cobra.Command {
	var (
		io   *ioFlags
		data *dataFlags
		to   string
		ctrl []string
	)
	cmd := &cobra.Command{
		Use:   "sendmsg ID DATA...",
		Short: "Send a message from an I/O vector",
		Long: `Send a message (Erlang's socket:sendmsg/4) whose I/O vector holds each DATA
argument in turn, to the address given by --to on an unconnected socket.
Each DATA is sent as written, hex-decoded with --hex, or read from standard
input when it is "-". Each --ctrl LEVEL/TYPE:VALUE adds a control message with
an integer value (ip/ttl, ip/tos, ipv6/hoplimit, ipv6/tclass), written as
recvmsg prints them: a number, or for ip/tos a name (lowdelay, throughput,
reliability, mincost). The message is one call, of at most 4 MiB of data.`,
		Example: `  sockctl sendmsg $C "GET / HTTP/1.0" $'\r\n\r\n'
  sockctl sendmsg $U hello --to 127.0.0.1:5353
  sockctl sendmsg $U hello --to 127.0.0.1:5353 --ctrl ip/ttl:1 --ctrl ip/tos:lowdelay`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags first, the data last: a usage error is not to wait for
			// standard input.
			var msg client.Msg
			if to != "" {
				var err error
				if msg.Addr, err = parseAddrArg(to); err != nil {
					return err
				}
			}
			for _, c := range ctrl {
				m, err := parseControlArg(c)
				if err != nil {
					return err
				}
				msg.Control = append(msg.Control, m)
			}
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			for _, arg := range args[1:] {
				b, err := data.read(arg, a.stdin)
				if err != nil {
					return err
				}
				msg.IOV = append(msg.IOV, b)
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.SendMsg(ctx, args[0], msg, timeout, msgFlags...)
				return report(a, resp, err, func(r *sockdv1.SendMsgResponse) view {
					return sendView(r.GetBytesSent(), r.GetBytesUnsent(), r.GetAsync(), r.GetError())
				})
			})
		},
	}
	io = addIOFlags(cmd, true)
	data = addDataFlags(cmd)
	// Not --addr: that is the daemon's address, a global flag.
	cmd.Flags().StringVar(&to, "to", "", "the destination address, for an unconnected socket")
	cmd.Flags().StringArrayVar(&ctrl, "ctrl", nil, "a control message LEVEL/TYPE:VALUE, such as ip/ttl:1 or ip/tos:lowdelay (repeatable)")
	return cmd
}

// parseControlArg reads --ctrl LEVEL/TYPE:VALUE, VALUE an integer or the
// name of one (ip/tos:lowdelay); the daemon knows the names.
func parseControlArg(arg string) (*sockdv1.ControlMessage, error) {
	kind, value, ok := strings.Cut(arg, ":")
	level, typ, ok2 := strings.Cut(kind, "/")
	if !ok || !ok2 || level == "" || typ == "" || value == "" {
		return nil, usage(fmt.Errorf("--ctrl %q: want LEVEL/TYPE:VALUE, such as ip/ttl:1", arg))
	}
	levelNumber, known := options.ParseControlLevel(level)
	typeNumber, knownType := options.ParseControlType(levelNumber, typ)
	ck := options.ControlKind{Level: levelNumber, Type: typeNumber}
	switch want := strings.Join(options.IntControlNames(), ", "); {
	case !known || !knownType:
		return nil, usage(fmt.Errorf("--ctrl %q: unknown control message %s/%s: want one of %s", arg, level, typ, want))
	case !ck.IntValued():
		return nil, usage(fmt.Errorf("--ctrl %q: %s/%s takes no integer value: want one of %s", arg, level, typ, want))
	}
	m := &sockdv1.ControlMessage{LevelName: level, TypeName: typ}
	n, err := strconv.ParseInt(value, 0, 32)
	switch {
	case err == nil:
		m.Value = &sockdv1.ControlMessage_IntValue{IntValue: int32(n)}
	case errors.Is(err, strconv.ErrRange) || strings.ContainsAny(value[:1], "+-0123456789"):
		return nil, usage(fmt.Errorf("--ctrl %q: the value is not a 32-bit integer", arg))
	default:
		// The daemon would answer {invalid, {msg, ctrl}}, a socket error:
		// a name that stands for nothing is the command line's mistake.
		if _, ok := ck.ParseValue(value); !ok {
			return nil, usage(fmt.Errorf("--ctrl %q: %q is neither an integer nor the name of a %s/%s value", arg, value, level, typ))
		}
		m.ValueName = value
	}
	return m, nil
}
