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
		asInt, asBool bool
		size          int
	)
	cmd := &cobra.Command{
		Use:   "getopt-native ID LEVEL NAME",
		Short: "Print a socket option by its numbers (Erlang's socket:getopt_native/3)",
		Long: `Print the option with getsockopt(2) level LEVEL and name NAME, both integers,
decoded as a C int (the default, or --int), as true or false (--bool), or as
up to N raw bytes printed in hex (--size N). With -o json: {"value": ...},
bytes as a hex string.`,
		Example: `  sockctl getopt-native $S 0 2            # IPPROTO_IP IP_TTL: 64
  sockctl getopt-native $S 1 2 --bool     # SOL_SOCKET SO_REUSEADDR: false
  sockctl getopt-native $S 1 13 --size 8  # SO_LINGER: 0000000000000000`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			level, name, err := nativeKey(args[1], args[2])
			if err != nil {
				return err
			}
			spec := &sockdv1.NativeValueSpec{Spec: &sockdv1.NativeValueSpec_Int{Int: true}}
			switch {
			case asBool:
				spec.Spec = &sockdv1.NativeValueSpec_Bool{Bool: true}
			case cmd.Flags().Changed("size"):
				if size < 1 || size > options.MaxNativeBytes {
					return usage(fmt.Errorf("--size %d: want 1..%d", size, options.MaxNativeBytes))
				}
				spec.Spec = &sockdv1.NativeValueSpec_Size{Size: uint32(size)}
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.GetOptNative(ctx, args[0], level, name, spec)
				return report(a, resp, err, nativeValueView)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asInt, "int", false, "decode the value as a C int (the default)")
	f.BoolVar(&asBool, "bool", false, "decode the value as a C int 0/1: false/true")
	f.IntVar(&size, "size", 0, "return up to this many raw bytes, printed in hex")
	cmd.MarkFlagsMutuallyExclusive("int", "bool", "size")
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
