// Package wirelimit bounds what decoding a protobuf message may allocate,
// before it is decoded. A message within gRPC's size limit can still decode
// into far more memory than it takes on the wire: each empty entry of a
// repeated bytes field is two bytes on the wire and a 24-byte slice header
// in Go, so a 16 MiB request of them decodes into hundreds of megabytes.
// Counting the fields first, without allocating, refuses such a message at
// the cost of one pass over its bytes.
package wirelimit

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxDepth bounds nesting, as protobuf's own decoder does (its limit is
// 10000; sockd's messages nest a few levels).
const maxDepth = 64

// ErrMalformed reports bytes that are not the wire format; the decoder
// would refuse them too.
var ErrMalformed = errors.New("malformed protobuf message")

// TooManyError reports a message with more fields than the limit.
type TooManyError struct{ Limit int }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("message has more than %d fields and list elements", e.Limit)
}

// Check counts the fields of the message of type md encoded in b, at every
// depth and each element of a repeated field, and refuses a message of more
// than limit of them.
func Check(b []byte, md protoreflect.MessageDescriptor, limit int) error {
	budget := limit
	if err := walk(b, md, &budget, 0); err != nil {
		if errors.Is(err, errOverBudget) {
			return &TooManyError{Limit: limit}
		}
		return err
	}
	return nil
}

var errOverBudget = errors.New("over budget")

func walk(b []byte, md protoreflect.MessageDescriptor, budget *int, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		if *budget--; *budget < 0 {
			return errOverBudget
		}
		var fd protoreflect.FieldDescriptor
		if md != nil {
			fd = md.Fields().ByNumber(num)
		}
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return ErrMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		switch {
		case fd == nil:
		case fd.Kind() == protoreflect.MessageKind:
			if err := walk(v, fd.Message(), budget, depth+1); err != nil {
				return err
			}
		case fd.IsList():
			// A packed list of numbers: each element decodes on its own.
			if err := countPacked(v, fd.Kind(), budget); err != nil {
				return err
			}
		}
	}
	return nil
}

// countPacked counts the elements of a packed repeated number field.
func countPacked(v []byte, kind protoreflect.Kind, budget *int) error {
	size := 0 // per element; 0: varints
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return nil // one element, already counted
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		size = 4
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		size = 8
	}
	if size > 0 {
		*budget -= len(v) / size
	} else {
		for len(v) > 0 {
			_, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return ErrMalformed
			}
			v = v[n:]
			*budget--
		}
	}
	if *budget < 0 {
		return errOverBudget
	}
	return nil
}
