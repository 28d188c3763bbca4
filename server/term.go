package server

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sockd/sockd/internal/enumname"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// term prints a value that an in-band invalid error carries (invalid_value)
// the way an Erlang user reads one: a struct as a map with its fields in
// snake_case (or as its term tag says), a request's protobuf message as a
// map of the fields it set, a slice as a list, nil as undefined; values
// with a String method (addresses, select infos, otp buffer forms) as they
// say.
func term(v any) string {
	if v == nil {
		return "undefined"
	}
	return termOf(reflect.ValueOf(v))
}

func termOf(rv reflect.Value) string {
	if rv.CanInterface() && (rv.Kind() != reflect.Pointer || !rv.IsNil()) {
		switch x := rv.Interface().(type) {
		case proto.Message: // its String is protobuf's text format
			return protoTerm(x.ProtoReflect())
		case fmt.Stringer:
			return x.String()
		}
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return "undefined"
		}
		return termOf(rv.Elem())
	case reflect.Struct:
		var b strings.Builder
		b.WriteString("#{")
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if b.Len() > 2 {
				b.WriteString(", ")
			}
			name := f.Tag.Get("term")
			if name == "" {
				name = snake(f.Name)
			}
			b.WriteString(name)
			b.WriteString(" => ")
			b.WriteString(termOf(rv.Field(i)))
		}
		b.WriteString("}")
		return b.String()
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return fmt.Sprintf("<<%d bytes>>", rv.Len())
		}
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = termOf(rv.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(rv.Interface())
}

// protoTerm prints a message as a map of the fields it sets, in field
// order, with their names in the .proto file.
func protoTerm(m protoreflect.Message) string {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int { return cmp.Compare(a.Number(), b.Number()) })
	parts := make([]string, len(fields))
	for i, fd := range fields {
		v := m.Get(fd)
		var s string
		if fd.IsList() {
			elems := make([]string, v.List().Len())
			for j := range elems {
				elems[j] = protoScalarTerm(fd, v.List().Get(j))
			}
			s = "[" + strings.Join(elems, ", ") + "]"
		} else {
			s = protoScalarTerm(fd, v)
		}
		parts[i] = string(fd.Name()) + " => " + s
	}
	return "#{" + strings.Join(parts, ", ") + "}"
}

// protoScalarTerm prints one value of fd: strings quoted, bytes by their
// length, enums by their value's name without its type's prefix
// (ADDR_SHORTCUT_ANY: any).
func protoScalarTerm(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoTerm(v.Message())
	case protoreflect.StringKind:
		return strconv.Quote(v.String())
	case protoreflect.BytesKind:
		return fmt.Sprintf("<<%d bytes>>", len(v.Bytes()))
	case protoreflect.EnumKind:
		return enumname.Of(fd.Enum(), v.Enum())
	}
	return fmt.Sprint(v.Interface())
}

// clip shortens s to at most n bytes and a mark, on a character boundary:
// an answer with half a UTF-8 character in a string field does not marshal,
// and the client would get INTERNAL instead of the error it is owed.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// snake turns a Go field name (Multiaddr, OnOff, N) into an Erlang key
// (multiaddr, on_off, n).
func snake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) && i > 0 && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
