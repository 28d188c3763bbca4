package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newGetOptNativeCommand(a *app) *cobra.Command {
	var (
		valueType     string
		asInt, asBool bool
		size          int
	)
	cmd := &cobra.Command{
		Use:   "getopt-native ID LEVEL NAME",
		Short: "Print a socket option by its numbers (Erlang's socket:getopt_native/3)",
		Long: `Print the option with getsockopt(2) level LEVEL and name NAME, both integers,
decoded as --type says: a C int (int, the default), true or false (bool), or
up to --size N raw bytes printed in hex (bytes; --size alone implies it), as
setopt-native reads VALUE. With -o json: {"value": ...}, bytes as a hex string.`,
		Example: `  sockctl getopt-native $S 0 2                 # IPPROTO_IP IP_TTL: 64
  sockctl getopt-native $S 1 2 --type bool     # SOL_SOCKET SO_REUSEADDR: false
  sockctl getopt-native $S 1 13 --size 8       # SO_LINGER: 0000000000000000`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			level, name, err := nativeKey(args[1], args[2])
			if err != nil {
				return err
			}
			sized := cmd.Flags().Changed("size")
			switch {
			case asBool: // the flags before --type
				valueType = "bool"
			case asInt:
				valueType = "int"
			case sized && !cmd.Flags().Changed("type"):
				valueType = "bytes"
			}
			spec := &sockdv1.NativeValueSpec{}
			switch valueType {
			case "int":
				spec.Spec = &sockdv1.NativeValueSpec_Int{Int: true}
			case "bool":
				spec.Spec = &sockdv1.NativeValueSpec_Bool{Bool: true}
			case "bytes":
				if size < 1 || size > options.MaxNativeBytes {
					return usage(fmt.Errorf("--size %d: want 1..%d", size, options.MaxNativeBytes))
				}
				spec.Spec = &sockdv1.NativeValueSpec_Size{Size: uint32(size)}
			default:
				return usage(fmt.Errorf("--type %q: want int, bool or bytes", valueType))
			}
			if sized && valueType != "bytes" {
				return usage(fmt.Errorf("--size goes with --type bytes, not %s", valueType))
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.GetOptNative(ctx, args[0], level, name, spec)
				return report(a, resp, err, nativeValueView)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&valueType, "type", "int", "how the value is decoded: int, bool, or bytes (with --size)")
	f.IntVar(&size, "size", 0, "with --type bytes: return up to this many raw bytes, printed in hex")
	// The flags of earlier versions, kept for scripts.
	f.BoolVar(&asInt, "int", false, "--type int")
	f.BoolVar(&asBool, "bool", false, "--type bool")
	f.MarkHidden("int")
	f.MarkHidden("bool")
	cmd.MarkFlagsMutuallyExclusive("int", "bool", "type")
	return cmd
}

// nativeValueView is getopt-native's result: the number, true/false, or hex.
func nativeValueView(r *sockdv1.GetOptNativeResponse) view {
	v := view{obj: object{}}
	var text string
	var value any
	switch x := r.GetValue().GetValue().(type) {
	case *sockdv1.NativeValue_IntValue:
		text, value = strconv.FormatInt(x.IntValue, 10), x.IntValue
	case *sockdv1.NativeValue_BoolValue:
		text, value = strconv.FormatBool(x.BoolValue), x.BoolValue
	case *sockdv1.NativeValue_BytesValue:
		text = hex.EncodeToString(x.BytesValue)
		value = text
	}
	if value != nil {
		v = view{text: text, obj: object{}.with("value", value)}
	}
	return outcome(v, nil, r.GetError())
}
