package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Output formats. Table is for people and line-oriented scripts; json is for
// programs: exactly one JSON object per line for each result or event.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// printer writes results in the chosen format.
type printer struct {
	w    io.Writer
	json bool
}

// view is one result or event in both forms.
type view struct {
	text string // table form: a line or lines; empty prints nothing
	obj  object // json form: printed as one line, {} when empty
}

// emit writes one result in the chosen format.
func (p *printer) emit(v view) error {
	if p.json {
		b, err := json.Marshal(v.obj)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	if v.text == "" {
		return nil
	}
	_, err := io.WriteString(p.w, strings.TrimSuffix(v.text, "\n")+"\n")
	return err
}

// object is a JSON object whose members keep the order they were added in,
// so that the output is stable and reads in a sensible order.
type object []member

type member struct {
	key   string
	value any // anything encoding/json takes; []byte becomes base64
}

// with returns o with key set to value: a key o has keeps its place and
// takes the new value (a JSON object has each key once).
func (o object) with(key string, value any) object {
	for i, m := range o {
		if m.key == key {
			out := slices.Clone(o)
			out[i].value = value
			return out
		}
	}
	return append(o, member{key, value})
}

// MarshalJSON writes the members in order. An empty object is {}.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// field is one part of a table line: key=value, or a bare word when key is
// empty (the word naming an event's kind). The value is final text; build
// fields with kv, kvData and word, which quote what needs quoting.
type field struct {
	key   string
	value string
}

// kv is key=value, with value quoted if a line-splitting reader could
// misread it: empty, or holding spaces, quotes, '=' or control characters.
func kv(key, value string) field {
	return field{key, quoteIfNeeded(value)}
}

// kvData is key="bytes": data is always quoted, whatever the bytes are.
func kvData(key string, data []byte) field {
	return field{key, strconv.Quote(string(data))}
}

// word is a bare word.
func word(w string) field {
	return field{"", w}
}

// line joins fields into one table line.
func line(fields ...field) string {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		if f.key == "" {
			parts = append(parts, f.value)
		} else {
			parts = append(parts, f.key+"="+f.value)
		}
	}
	return strings.Join(parts, " ")
}

// rows formats fields as "key: value" lines, for the tall results (info).
func rows(fields ...field) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.key + ":")
		if f.value != "" {
			b.WriteString(" " + f.value)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == '"' || r == '\\' || r == '=' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
