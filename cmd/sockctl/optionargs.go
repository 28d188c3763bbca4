package main

import (
	"fmt"
	"strings"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// This file holds what setopt, getopt and supports share: resolving LEVEL
// NAME against the option table, and the table's names for help. The table
// in package options is the one definition of the options; sockctl reads it
// rather than keeping a list of its own.

// optionArg is a LEVEL NAME pair resolved against the table.
type optionArg struct {
	row *options.Option
	key *sockdv1.OptionKey
}

// lookupOption resolves LEVEL and NAME (or an alias, such as ipv6 pktinfo)
// of an option to set or to get: one the table says cannot be used so
// (ip add_membership is set only) is a usage error, as an unknown one is.
func lookupOption(levelText, name string, set bool) (optionArg, error) {
	level, err := options.ParseLevel(levelText)
	if err != nil {
		return optionArg{}, usage(err)
	}
	row, ok := options.Lookup(options.Key{Level: level, Name: name})
	if !ok {
		return optionArg{}, usage(fmt.Errorf("unknown %s option %q: want one of %s", level, name, strings.Join(optionNames(level), ", ")))
	}
	switch {
	case set && !row.Set:
		return optionArg{}, usage(fmt.Errorf("%s is get only: it cannot be set", row.Key))
	case !set && !row.Get:
		return optionArg{}, usage(fmt.Errorf("%s is set only: it cannot be read", row.Key))
	}
	// The levels of the table are numbered as the API's OptionLevel enum.
	return optionArg{row: row, key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel(row.Level), Name: row.Name}}, nil
}

// parseValue parses VALUE in the readable form of the option's value type.
func (o optionArg) parseValue(text string) (*sockdv1.OptionValue, error) {
	v, err := client.ParseOptionValue(o.row.Type.String(), text)
	if err != nil {
		return nil, usage(fmt.Errorf("%s: %w", o.row.Key, err))
	}
	return v, nil
}

// optionNames lists the names of a level's options, in the table's order.
func optionNames(level options.Level) []string {
	var names []string
	for i := range options.Table {
		if o := &options.Table[i]; o.Level == level {
			names = append(names, o.Name)
		}
	}
	return names
}

// optionNamesHelp is the option names of every level, for help texts:
// "  socket: acceptconn bindtodevice ...", wrapped.
func optionNamesHelp() string {
	var b strings.Builder
	for _, level := range options.Levels() {
		col := 0
		for i, name := range optionNames(level) {
			if i == 0 {
				fmt.Fprintf(&b, "  %-7s", level.String()+":")
				col = 9
			} else if col+1+len(name) > 79 {
				b.WriteString("\n         ")
				col = 9
			}
			b.WriteString(" " + name)
			col += 1 + len(name)
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// valueFormsHelp lists the readable form of each value type the table uses.
func valueFormsHelp() string {
	var b strings.Builder
	seen := map[options.ValueType]bool{}
	for i := range options.Table {
		t := options.Table[i].Type
		if seen[t] || !options.Table[i].Set {
			continue
		}
		seen[t] = true
		forms, ok := client.OptionValueForms(t.String())
		switch {
		case !ok:
		case len(t.String()) > 24: // the otp rcvbuf type: its forms go below
			fmt.Fprintf(&b, "  %s\n  %-24s %s\n", t.String(), "", forms)
		default:
			fmt.Fprintf(&b, "  %-24s %s\n", t.String(), forms)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
