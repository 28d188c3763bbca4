package client

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sockd/sockd/internal/enumname"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Structured option values (linger(), ip_mreq(), sctp_initmsg(), ...) are
// read and written as key=value lists of their message's fields, in the
// order the API declares them. Reading the fields from the message
// descriptor keeps the readable form and the API one fact.

// requiredFields must appear in a key=value list: the value means nothing
// without them.
var requiredFields = map[protoreflect.Name]bool{"multiaddr": true, "sourceaddr": true, "mode": true}

// addressFields hold IP addresses in a string; "interface" also takes any.
var addressFields = map[protoreflect.Name]bool{"multiaddr": true, "sourceaddr": true, "slist": true, "interface": true}

// parseFields sets the fields of msg from "key=value,key=value". A repeated
// field takes its key once per element.
func parseFields(msg protoreflect.Message, s string) error {
	fields := msg.Descriptor().Fields()
	seen := map[protoreflect.Name]bool{}
	if s != "" {
		for _, item := range strings.Split(s, ",") {
			key, value, ok := strings.Cut(item, "=")
			if !ok {
				return fmt.Errorf("%q is not key=value", item)
			}
			fd := fields.ByName(protoreflect.Name(strings.TrimSpace(key)))
			if fd == nil || fd.Kind() == protoreflect.MessageKind {
				return fmt.Errorf("unknown key %q: want %s", key, strings.Join(fieldNames(fields), ", "))
			}
			if seen[fd.Name()] && !fd.IsList() {
				return fmt.Errorf("key %q given twice", fd.Name())
			}
			seen[fd.Name()] = true
			v, err := parseField(fd, strings.TrimSpace(value))
			if err != nil {
				return fmt.Errorf("%s: %w", fd.Name(), err)
			}
			if fd.IsList() {
				msg.Mutable(fd).List().Append(v)
			} else {
				msg.Set(fd, v)
			}
		}
	}
	for i := range fields.Len() {
		if name := fields.Get(i).Name(); requiredFields[name] && !seen[name] {
			return fmt.Errorf("%s is missing", name)
		}
	}
	return nil
}

func fieldNames(fields protoreflect.FieldDescriptors) []string {
	names := make([]string, fields.Len())
	for i := range fields.Len() {
		names[i] = string(fields.Get(i).Name())
	}
	return names
}

func parseField(fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch s {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, fmt.Errorf("%q: want true or false", s)
	case protoreflect.Uint32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q: want an integer 0..%d", s, uint32(1<<32-1))
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Int32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q: want a 32-bit integer", s)
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%q: want an integer", s)
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.EnumKind:
		n, err := parseEnum(s, "value", fd.Enum())
		if err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfEnum(n), nil
	case protoreflect.StringKind:
		if !addressFields[fd.Name()] {
			return protoreflect.ValueOfString(s), nil
		}
		if fd.Name() == "interface" && s == "any" {
			return protoreflect.ValueOfString(s), nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return protoreflect.Value{}, fmt.Errorf("%q is not an IP address", s)
		}
		return protoreflect.ValueOfString(a.String()), nil
	}
	return protoreflect.Value{}, errors.New("unsupported field")
}

// formatFields writes msg as parseFields reads it: every field in order,
// empty strings left out (an unset interface is any).
func formatFields(msg protoreflect.Message) string {
	var parts []string
	fields := msg.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() {
			list := msg.Get(fd).List()
			for j := range list.Len() {
				parts = append(parts, string(fd.Name())+"="+formatScalar(fd, list.Get(j)))
			}
			continue
		}
		if fd.Kind() == protoreflect.StringKind && msg.Get(fd).String() == "" {
			continue
		}
		parts = append(parts, string(fd.Name())+"="+formatScalar(fd, msg.Get(fd)))
	}
	return strings.Join(parts, ",")
}

func formatScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	if fd.Kind() == protoreflect.EnumKind {
		return enumname.Of(fd.Enum(), v.Enum())
	}
	return v.String()
}

// fieldsObject is msg as a JSON object with the keys of the readable form.
func fieldsObject(msg protoreflect.Message) map[string]any {
	obj := map[string]any{}
	fields := msg.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			list := msg.Get(fd).List()
			elems := make([]any, list.Len())
			for j := range list.Len() {
				elems[j] = list.Get(j).Interface()
			}
			obj[string(fd.Name())] = elems
		case fd.Kind() == protoreflect.EnumKind:
			obj[string(fd.Name())] = enumname.Of(fd.Enum(), msg.Get(fd).Enum())
		default:
			obj[string(fd.Name())] = msg.Get(fd).Interface()
		}
	}
	return obj
}

// FormatOptionValue writes v in the readable form ParseOptionValue reads:
// "true", "1500", "lowdelay", "abort", "onoff=true,linger=5", "{4,8192}".
func FormatOptionValue(v *sockdv1.OptionValue) string {
	switch x := v.GetValue().(type) {
	case *sockdv1.OptionValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *sockdv1.OptionValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *sockdv1.OptionValue_StringValue:
		return x.StringValue
	case *sockdv1.OptionValue_Name:
		return x.Name
	case *sockdv1.OptionValue_SessionId:
		return x.SessionId
	case *sockdv1.OptionValue_Address:
		return x.Address
	case *sockdv1.OptionValue_LingerAbort:
		return "abort"
	case *sockdv1.OptionValue_MsfilterNull:
		return "null"
	case *sockdv1.OptionValue_Term:
		return strconv.Quote(string(x.Term)) // apart from the name undefined
	case *sockdv1.OptionValue_Domain:
		return EnumName(x.Domain)
	case *sockdv1.OptionValue_Type:
		return EnumName(x.Type)
	case *sockdv1.OptionValue_Protocol:
		if x.Protocol == sockdv1.Protocol_PROTOCOL_UNSPECIFIED {
			return "default" // a local socket's, as info says
		}
		return EnumName(x.Protocol)
	case *sockdv1.OptionValue_Rcvbuf:
		switch {
		case x.Rcvbuf.GetUseDefault() && x.Rcvbuf.GetCount() > 0:
			return fmt.Sprintf("{%d,default}", x.Rcvbuf.GetCount())
		case x.Rcvbuf.GetUseDefault():
			return "default"
		}
		return fmt.Sprintf("{%d,%d}", x.Rcvbuf.GetCount(), x.Rcvbuf.GetSize())
	case nil:
		return ""
	}
	if msg := structOf(v); msg != nil {
		return formatFields(msg)
	}
	return ""
}

// OptionValueJSON is v for a JSON document: a boolean, number or string for
// the simple forms, an object with the readable form's keys for the
// structured ones, nil for no value.
func OptionValueJSON(v *sockdv1.OptionValue) any {
	switch x := v.GetValue().(type) {
	case nil:
		return nil
	case *sockdv1.OptionValue_BoolValue:
		return x.BoolValue
	case *sockdv1.OptionValue_IntValue:
		return x.IntValue
	case *sockdv1.OptionValue_Term:
		return map[string]any{"term": x.Term} // base64, as data is
	case *sockdv1.OptionValue_Rcvbuf:
		switch {
		case x.Rcvbuf.GetUseDefault() && x.Rcvbuf.GetCount() > 0:
			return map[string]any{"count": x.Rcvbuf.GetCount(), "size": "default"}
		case x.Rcvbuf.GetUseDefault():
			return "default"
		}
		return map[string]any{"count": x.Rcvbuf.GetCount(), "size": x.Rcvbuf.GetSize()}
	}
	if msg := structOf(v); msg != nil {
		return fieldsObject(msg)
	}
	return FormatOptionValue(v)
}

// structOf returns the message a structured value holds, nil for the others.
// Its callers handle rcvbuf, whose forms are its own, before asking.
func structOf(v *sockdv1.OptionValue) protoreflect.Message {
	r := v.ProtoReflect()
	fd := r.WhichOneof(valueOneof)
	if fd == nil || fd.Message() == nil {
		return nil
	}
	return r.Get(fd).Message()
}
