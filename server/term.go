package server

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// term prints a value that an in-band invalid error carries (invalid_value)
// the way an Erlang user reads one: a struct as a map with its fields in
// snake_case, a slice as a list, nil as undefined; values with a String
// method (addresses, select infos, otp buffer forms) as they say.
func term(v any) string {
	if v == nil {
		return "undefined"
	}
	return termOf(reflect.ValueOf(v))
}

func termOf(rv reflect.Value) string {
	if rv.CanInterface() {
		if s, ok := rv.Interface().(fmt.Stringer); ok && (rv.Kind() != reflect.Pointer || !rv.IsNil()) {
			return s.String()
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
			b.WriteString(snake(f.Name))
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
