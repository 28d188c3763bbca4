// Package enumname spells the values of sockd's protobuf enums as Erlang
// atoms and as sockctl's arguments do: lower case, without the prefix that
// protobuf's style gives every value of a type (ADDR_SHORTCUT_ANY: any).
// The daemon's error texts and the client share it.
package enumname

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Prefix returns the prefix every value name of d starts with, taken from
// its zero value, which buf's lint requires to be PREFIX_UNSPECIFIED.
func Prefix(d protoreflect.EnumDescriptor) string {
	zero := string(d.Values().ByNumber(0).Name())
	return strings.TrimSuffix(zero, "UNSPECIFIED")
}

// Of returns value n of d by its name, or its number if d has none.
func Of(d protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	v := d.Values().ByNumber(n)
	if v == nil {
		return strconv.Itoa(int(n))
	}
	return strings.ToLower(strings.TrimPrefix(string(v.Name()), Prefix(d)))
}
