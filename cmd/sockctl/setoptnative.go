package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSetOptNativeCommand(a *app) *cobra.Command {
	var valueType string
	cmd := &cobra.Command{
		Use:   "setopt-native ID LEVEL NAME VALUE",
		Short: "Set a socket option by its numbers (Erlang's socket:setopt_native/3)",
		Long: `Set the option with setsockopt(2) level LEVEL and name NAME, both integers
(SOL_SOCKET is 1 and IPPROTO_IP 0 on Linux), to VALUE: a C int by default,
true or false with --type bool, or hex-encoded bytes with --type bytes.`,
		Example: `  sockctl setopt-native $S 0 2 42                  # IPPROTO_IP IP_TTL 42
  sockctl setopt-native $S 1 2 true --type bool      # SOL_SOCKET SO_REUSEADDR
  sockctl setopt-native $S 1 13 0100000005000000 --type bytes   # SO_LINGER {1, 5}`,
		Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			level, name, err := nativeKey(args[1], args[2])
			if err != nil {
				return err
			}
			value, err := nativeValue(valueType, args[3])
			if err != nil {
				return usage(err)
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.SetOptNative(ctx, args[0], level, name, value)
				return report(a, resp, err, func(r *sockdv1.SetOptNativeResponse) view {
					return emptyView(nil, r.GetError())
				})
			})
		},
	}
	cmd.Flags().StringVar(&valueType, "type", "int", "how VALUE is read: int, bool, or bytes (hex)")
	return cmd
}

// nativeKey parses the integer LEVEL and NAME of the native verbs.
func nativeKey(levelText, nameText string) (level, name int32, err error) {
	l, err := strconv.ParseInt(levelText, 10, 32)
	if err != nil {
		return 0, 0, usage(fmt.Errorf("native level %q: want an integer", levelText))
	}
	n, err := strconv.ParseInt(nameText, 10, 32)
	if err != nil {
		return 0, 0, usage(fmt.Errorf("native option name %q: want an integer", nameText))
	}
	return int32(l), int32(n), nil
}

func nativeValue(valueType, text string) (*sockdv1.NativeValue, error) {
	switch valueType {
	case "int":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("native value %q: want a C int", text)
		}
		return &sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: n}}, nil
	case "bool":
		if text != "true" && text != "false" {
			return nil, fmt.Errorf("native value %q: want true or false", text)
		}
		return &sockdv1.NativeValue{Value: &sockdv1.NativeValue_BoolValue{BoolValue: text == "true"}}, nil
	case "bytes":
		b, err := hex.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("native value %q: want hex-encoded bytes", text)
		}
		return &sockdv1.NativeValue{Value: &sockdv1.NativeValue_BytesValue{BytesValue: b}}, nil
	}
	return nil, fmt.Errorf("--type %q: want int, bool or bytes", valueType)
}
