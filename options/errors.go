package options

import "fmt"

// OptionError is {invalid, {socket_option, Opt}}: the option is unknown, not
// available on this host, not usable in this direction, or not valid for this
// socket. Reason says which, for people.
type OptionError struct {
	Key    Key
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("invalid socket_option %s: %s", e.Key, e.Reason)
}

// ValueError is {invalid, {socket_option, Opt, Value}}: the value has the wrong
// type or is out of range.
type ValueError struct {
	Key    Key
	Value  any
	Reason string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("invalid socket_option %s value %v: %s", e.Key, e.Value, e.Reason)
}

// SpecError is {invalid, {value_spec, Spec}}: a GetNative value spec that
// cannot be honoured.
type SpecError struct {
	Spec   any
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("invalid value_spec %v: %s", e.Spec, e.Reason)
}

func optionErr(k Key, format string, args ...any) error {
	return &OptionError{Key: k, Reason: fmt.Sprintf(format, args...)}
}

// valueErr is a codec's complaint about a value; Set and Get add the key.
type valueErr struct {
	value  any
	reason string
}

func (e *valueErr) Error() string { return fmt.Sprintf("value %v: %s", e.value, e.reason) }

func badValue(v any, format string, args ...any) error {
	return &valueErr{value: v, reason: fmt.Sprintf(format, args...)}
}
