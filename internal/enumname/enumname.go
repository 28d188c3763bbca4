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

// Parse returns the number of d's value that Of spells name, if d has one.
func Parse(d protoreflect.EnumDescriptor, name string) (protoreflect.EnumNumber, bool) {
	v := d.Values().ByName(protoreflect.Name(Prefix(d) + strings.ToUpper(name)))
	if v == nil || name == "" || strings.ToLower(name) == "unspecified" {
		return 0, false
	}
	return v.Number(), true
}
