package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newRecvMsgCommand(a *app) *cobra.Command {
	var (
		io            *ioFlags
		length        int64
		controlLength int64
	)
	cmd := &cobra.Command{
		Use:   "recvmsg ID",
		Short: "Receive a message with its address, flags and control messages",
		Long: `Receive one message (Erlang's socket:recvmsg/5), printed as:
from=ADDR data="..." flags=trunc,... control=LEVEL/TYPE:VALUE ...

Control messages show the value the daemon decoded: integers (with Erlang's
names, ip/tos:lowdelay), timestamps, addresses as sockname prints them
(ip/origdstaddr:127.0.0.1:9000), structures as key=value pairs (ip/pktinfo,
ipv6/pktinfo, ip/recverr); hex bytes for the types it does not decode. -o json
gives every decoded field.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if length < 0 {
				return usage(errNegative("--length"))
			}
			if controlLength < 0 {
				return usage(errNegative("--control-length"))
			}
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.RecvMsg(ctx, args[0], length, controlLength, timeout, msgFlags...)
				return report(a, resp, err, recvMsgView)
			})
		},
	}
	io = addIOFlags(cmd, false)
	cmd.Flags().Int64Var(&length, "length", 0, "the data buffer size (0: the socket's default)")
	cmd.Flags().Int64Var(&controlLength, "control-length", 0, "the control buffer size (0: the socket's default)")
	return cmd
}

// recvMsgView is "from=ADDR data=\"...\" flags=trunc control=ip/tos:16 ...".
func recvMsgView(r *sockdv1.RecvMsgResponse) view {
	if len(r.GetIov()) == 0 && (r.GetAsync() != nil || r.GetError() != nil) {
		return outcome(view{obj: object{}}, r.GetAsync(), r.GetError())
	}
	fields, obj := receivedMsg(r)
	return readOutcome(view{text: line(fields...), obj: obj}, r.GetAsync(), r.GetError(), r.GetSelectRead())
}

// receivedMsg is what a message received holds (source, data, flags,
// control messages), as the fields of a line and as an object; a recvmsg
// completion's event line says it alike.
func receivedMsg(r *sockdv1.RecvMsgResponse) ([]field, object) {
	obj := object{}
	var fields []field
	if r.GetAddress() != nil {
		fields = append(fields, kv("from", client.FormatAddr(r.GetAddress())))
		obj = obj.with("source", client.FormatAddr(r.GetAddress()))
	}
	fields = append(fields, kvData("data", bytes.Join(r.GetIov(), nil)))
	iov := make([][]byte, 0, len(r.GetIov()))
	for _, b := range r.GetIov() {
		iov = append(iov, nonNilBytes(b))
	}
	obj = obj.with("iov", iov)
	if flags := msgFlagNames(r.GetFlags(), r.GetOtherFlags()); len(flags) > 0 {
		fields = append(fields, kv("flags", strings.Join(flags, ",")))
		obj = obj.with("flags", flags)
	}
	if len(r.GetControl()) > 0 {
		var control []json.RawMessage
		for _, cm := range r.GetControl() {
			fields = append(fields, kv("control", controlText(cm)))
			control = append(control, protoJSON(cm))
		}
		obj = obj.with("control", control)
	}
	return fields, obj
}

func msgFlagNames(flags []sockdv1.MsgFlag, other uint32) []string {
	var names []string
	for _, f := range flags {
		names = append(names, client.EnumName(f))
	}
	if other != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(other), 16))
	}
	return names
}

// controlText is "LEVEL/TYPE:VALUE", with names where the daemon gave them
// (of the value too: ip/tos:lowdelay), the decoded value where the daemon
// decoded one (an address as sockname prints it, a structure as key=value
// pairs: ip/pktinfo:ifindex=1,spec_dst=127.0.0.1,addr=127.0.0.1), and hex
// bytes otherwise.
func controlText(cm *sockdv1.ControlMessage) string {
	level := cm.GetLevelName()
	if level == "" {
		level = strconv.Itoa(int(cm.GetLevel()))
	}
	typ := cm.GetTypeName()
	if typ == "" {
		typ = strconv.Itoa(int(cm.GetType()))
	}
	var value string
	switch v := cm.GetValue().(type) {
	case *sockdv1.ControlMessage_IntValue:
		value = strconv.Itoa(int(v.IntValue))
		if name := cm.GetValueName(); name != "" {
			value = name
		}
	case *sockdv1.ControlMessage_Timestamp:
		value = strconv.FormatInt(v.Timestamp.GetSec(), 10) + "." + leftPad(strconv.FormatInt(v.Timestamp.GetUsec(), 10), 6)
	case *sockdv1.ControlMessage_Origdstaddr:
		value = client.FormatAddr(v.Origdstaddr)
	case *sockdv1.ControlMessage_Pktinfo:
		value = fieldsText(v.Pktinfo)
	case *sockdv1.ControlMessage_Pktinfo6:
		value = fieldsText(v.Pktinfo6)
	case *sockdv1.ControlMessage_ExtendedErr:
		value = fieldsText(v.ExtendedErr)
	default:
		value = hex.EncodeToString(cm.GetData())
	}
	return level + "/" + typ + ":" + value
}

// fieldsText is a decoded control value as key=value pairs in the
// message's field order, its addresses as sockname prints them; fields not
// set are left out.
func fieldsText(m proto.Message) string {
	var pairs []string
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !r.Has(fd) {
			continue
		}
		v := r.Get(fd)
		text := v.String()
		if sa, ok := v.Interface().(protoreflect.Message); ok {
			if addr, ok := sa.Interface().(*sockdv1.SockAddr); ok {
				text = client.FormatAddr(addr)
			}
		}
		pairs = append(pairs, string(fd.Name())+"="+text)
	}
	return strings.Join(pairs, ",")
}

func leftPad(s string, n int) string {
	return strings.Repeat("0", max(0, n-len(s))) + s
}

// protoJSON renders a message with its proto field names and every field
// present (level 0 is ip, not absent), and its 64-bit integers as numbers,
// as every other number sockctl prints (protojson writes them as strings).
// Encoding it again also makes it compact: protojson deliberately varies
// its whitespace, and the output must be stable.
func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return json.RawMessage(`null`)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(`null`)
	}
	int64sAsNumbers(m.ProtoReflect().Descriptor(), v)
	out, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return out
}

// int64sAsNumbers turns the strings protojson wrote for md's 64-bit integer
// fields in v, and in its nested messages, into numbers.
func int64sAsNumbers(md protoreflect.MessageDescriptor, v map[string]any) {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		val, ok := v[string(fd.Name())]
		if !ok {
			continue
		}
		switch fd.Kind() {
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
			protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			if s, ok := val.(string); ok && !fd.IsList() {
				v[string(fd.Name())] = json.Number(s)
			}
		case protoreflect.MessageKind:
			if sub, ok := val.(map[string]any); ok && !fd.IsList() && !fd.IsMap() {
				int64sAsNumbers(fd.Message(), sub)
			}
		}
	}
}
