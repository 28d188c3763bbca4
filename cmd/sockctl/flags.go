package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// waitFlags are the flags of every verb that may wait: Erlang's Timeout
// argument.
type waitFlags struct {
	timeout    string
	nowait     bool
	completion bool
	handle     uint64
}

func addWaitFlags(cmd *cobra.Command) *waitFlags {
	w := &waitFlags{}
	f := cmd.Flags()
	f.StringVar(&w.timeout, "timeout", "infinity", "how long to wait: infinity, 0 (try once), milliseconds, a duration (500ms, 2s), or nowait")
	f.BoolVar(&w.nowait, "nowait", false, fmt.Sprintf(`do not wait: print the select info ("select %s handle=7"); a select event follows when the operation can be retried`, cmd.Name()))
	f.BoolVar(&w.completion, "completion", false, "like --nowait, but the daemon completes the operation itself and the completion event carries the result")
	f.Uint64Var(&w.handle, "handle", 0, "with --nowait or --completion: the operation's handle (0: the daemon chooses)")
	cmd.MarkFlagsMutuallyExclusive("timeout", "nowait", "completion")
	return w
}

// value returns the Timeout the flags ask for.
func (w *waitFlags) value() (client.Timeout, error) {
	switch {
	case w.completion:
		return client.NowaitCompletion(w.handle), nil
	case w.nowait:
		return client.Nowait(w.handle), nil
	}
	t, err := client.ParseTimeout(w.timeout)
	if err != nil {
		return client.Timeout{}, usage(err)
	}
	if t.IsNowait() {
		return client.Nowait(w.handle), nil
	}
	if w.handle != 0 {
		return client.Timeout{}, usage(errors.New("--handle needs --nowait or --completion"))
	}
	return t, nil
}

// msgFlags are the send/recv flags (Erlang's msg_flag()).
type msgFlags struct {
	names []string
}

// addMsgFlags adds --flag, whose help names the flags of the verb's
// direction (as Erlang, sockd passes any flag on to the kernel).
func addMsgFlags(cmd *cobra.Command, sending bool) *msgFlags {
	m := &msgFlags{}
	names := "cmsg_cloexec, errqueue, oob, peek, trunc, waitall"
	if sending {
		names = "confirm, dontroute, eor, more, oob"
	}
	cmd.Flags().StringSliceVar(&m.names, "flag", nil, "a message flag: "+names+" (repeatable, or comma-separated)")
	return m
}

func (m *msgFlags) value() ([]sockdv1.MsgFlag, error) {
	flags := make([]sockdv1.MsgFlag, 0, len(m.names))
	for _, name := range m.names {
		f, err := client.ParseMsgFlag(name)
		if err != nil {
			return nil, usage(err)
		}
		flags = append(flags, f)
	}
	return flags, nil
}

// dataFlags say how a DATA argument is read.
type dataFlags struct {
	hex bool
}

func addDataFlags(cmd *cobra.Command) *dataFlags {
	d := &dataFlags{}
	cmd.Flags().BoolVar(&d.hex, "hex", false, "DATA is hex-encoded bytes")
	return d
}

// read returns the bytes of a DATA argument: the text itself, hex-decoded
// with --hex, or standard input when it is "-".
func (d *dataFlags) read(arg string, stdin io.Reader) ([]byte, error) {
	if arg == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, failure{fmt.Errorf("reading standard input: %w", err)}
		}
		if d.hex {
			return decodeHex(strings.TrimSpace(string(b)))
		}
		return b, nil
	}
	if d.hex {
		return decodeHex(arg)
	}
	return []byte(arg), nil
}

func decodeHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, usage(fmt.Errorf("--hex: %w", err))
	}
	return b, nil
}

// parseAddrArg parses an address argument or flag.
func parseAddrArg(s string) (*sockdv1.SockAddr, error) {
	a, err := client.ParseAddr(s)
	if err != nil {
		return nil, usage(err)
	}
	if a.GetNative() != nil {
		// Printed for received addresses of a family the daemon does
		// not decode; it takes no such address.
		return nil, usage(fmt.Errorf("%q: a native address cannot be bound, connected or sent to", s))
	}
	return a, nil
}

// ioFlags are the flags of the verbs that move data: how long to wait and
// which flags the send or receive passes.
type ioFlags struct {
	wait *waitFlags
	msg  *msgFlags
}

// addIOFlags adds them to a verb that sends (sending) or receives.
func addIOFlags(cmd *cobra.Command, sending bool) *ioFlags {
	return &ioFlags{wait: addWaitFlags(cmd), msg: addMsgFlags(cmd, sending)}
}

// values checks and returns both: the call's timeout and its flags.
func (f *ioFlags) values() (client.Timeout, []sockdv1.MsgFlag, error) {
	timeout, err := f.wait.value()
	if err != nil {
		return client.Timeout{}, nil, err
	}
	flags, err := f.msg.value()
	if err != nil {
		return client.Timeout{}, nil, err
	}
	return timeout, flags, nil
}

func errNegative(flag string) error {
	return fmt.Errorf("%s must not be negative", flag)
}

// noArgs refuses arguments to a verb that takes none. cobra.NoArgs would
// call an argument an "unknown command".
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usage(fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0]))
	}
	return nil
}
