package main

import (
	"bytes"
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestOptionValueView(t *testing.T) {
	tests := []struct {
		resp      *sockdv1.GetOptResponse
		text, obj string
	}{
		{&sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}},
			"true\n", `{"value":true}` + "\n"},
		{&sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "lowdelay"}}},
			"lowdelay\n", `{"value":"lowdelay"}` + "\n"},
		{&sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 5}}}},
			"onoff=true,linger=5\n", `{"value":{"linger":5,"onoff":true}}` + "\n"},
		{&sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: 4, Size: 8192}}}},
			"{4,8192}\n", `{"value":{"count":4,"size":8192}}` + "\n"},
		{&sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Type{Type: sockdv1.Type_TYPE_STREAM}}},
			"stream\n", `{"value":"stream"}` + "\n"},
		{&sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: ""}}},
			`""` + "\n", `{"value":""}` + "\n"},
		{&sockdv1.GetOptResponse{Error: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid", Invalid: "socket_option"}},
			"", `{"error":{"reason":"invalid","kind":"invalid","invalid":"socket_option"}}` + "\n"},
	}
	for _, tt := range tests {
		for _, json := range []bool{false, true} {
			var b bytes.Buffer
			p := &printer{w: &b, json: json}
			if err := p.emit(optionValueView(tt.resp)); err != nil {
				t.Fatal(err)
			}
			want := tt.text
			if json {
				want = tt.obj
			}
			if b.String() != want {
				t.Errorf("%v (json %v): %q, want %q", tt.resp, json, b.String(), want)
			}
		}
	}
}
