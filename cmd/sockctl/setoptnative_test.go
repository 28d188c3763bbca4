package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestNativeValue(t *testing.T) {
	tests := []struct {
		typ, text string
		want      *sockdv1.NativeValue
	}{
		{"int", "42", &sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: 42}}},
		{"int", "-1", &sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: -1}}},
		{"bool", "true", &sockdv1.NativeValue{Value: &sockdv1.NativeValue_BoolValue{BoolValue: true}}},
		{"bytes", "0100ff", &sockdv1.NativeValue{Value: &sockdv1.NativeValue_BytesValue{BytesValue: []byte{1, 0, 255}}}},
	}
	for _, tt := range tests {
		got, err := nativeValue(tt.typ, tt.text)
		if err != nil || !proto.Equal(got, tt.want) {
			t.Errorf("nativeValue(%q, %q) = %v, %v; want %v", tt.typ, tt.text, got, err, tt.want)
		}
	}
}

func TestNativeUsageErrors(t *testing.T) {
	addr := absentDaemon(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"setopt-native", "S", "ip", "2", "42"}, `native level "ip": want an integer`},
		{[]string{"setopt-native", "S", "0", "ttl", "42"}, `native option name "ttl": want an integer`},
		{[]string{"setopt-native", "S", "0", "2", "4294967296"}, "want a C int"},
		{[]string{"setopt-native", "S", "0", "2", "1", "--type", "bool"}, "want true or false"},
		{[]string{"setopt-native", "S", "0", "2", "zz", "--type", "bytes"}, "want hex-encoded bytes"},
		{[]string{"setopt-native", "S", "0", "2", "1", "--type", "float"}, `--type "float": want int, bool or bytes`},
		{[]string{"getopt-native", "S", "0", "2", "--size", "-1"}, "--size -1"},
		{[]string{"getopt-native", "S", "0", "2", "--bool", "--size", "4"}, "--size goes with --type bytes"},
		{[]string{"getopt-native", "S", "0", "2", "--type", "bool", "--size", "4"}, "--size goes with --type bytes"},
		{[]string{"getopt-native", "S", "0", "2", "--type", "float"}, "want int, bool or bytes"},
		{[]string{"getopt-native", "S", "0", "2", "--type", "bytes"}, "--size 0: want 1.."},
	}
	for _, tt := range tests {
		code, stdout, stderr := sockctl(t, append([]string{"--addr", addr}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
}
