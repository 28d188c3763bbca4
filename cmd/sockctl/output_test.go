package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestObjectJSON(t *testing.T) {
	tests := []struct {
		in   object
		want string
	}{
		{object{}, `{}`},
		{nil, `{}`},
		{object{}.with("z", 1).with("a", "x"), `{"z":1,"a":"x"}`},
		{object{}.with("data", []byte("hi")).with("n", object{}.with("k", true)), `{"data":"aGk=","n":{"k":true}}`},
		{object{}.with("list", []string{}), `{"list":[]}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.in)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestLine(t *testing.T) {
	got := line(kv("seq", "3"), kv("socket", "ab12"), word("select"), kv("empty", ""),
		kv("spaced", "a b"), kv("eq", "a=b"), kvData("data", []byte("hi\n\x00")))
	want := `seq=3 socket=ab12 select empty="" spaced="a b" eq="a=b" data="hi\n\x00"`
	if got != want {
		t.Errorf("line = %s\nwant   %s", got, want)
	}
}

func TestRows(t *testing.T) {
	got := rows(field{"domain", "inet"}, field{"rstates", ""})
	if want := "domain: inet\nrstates:\n"; got != want {
		t.Errorf("rows = %q, want %q", got, want)
	}
}

func TestPrinterEmit(t *testing.T) {
	v := view{text: "hello", obj: object{}.with("data", []byte("hello"))}
	var table, js bytes.Buffer
	if err := (&printer{w: &table}).emit(v); err != nil {
		t.Fatal(err)
	}
	if err := (&printer{w: &js, json: true}).emit(v); err != nil {
		t.Fatal(err)
	}
	if table.String() != "hello\n" {
		t.Errorf("table = %q", table.String())
	}
	if js.String() != `{"data":"aGVsbG8="}`+"\n" {
		t.Errorf("json = %q", js.String())
	}

	// An empty result prints nothing in table form, {} in json.
	table.Reset()
	js.Reset()
	(&printer{w: &table}).emit(view{obj: object{}})
	(&printer{w: &js, json: true}).emit(view{obj: object{}})
	if table.String() != "" || js.String() != "{}\n" {
		t.Errorf("empty result: table %q, json %q", table.String(), js.String())
	}

	// Text that already ends in a newline gets no second one.
	table.Reset()
	(&printer{w: &table}).emit(view{text: "line\n"})
	if table.String() != "line\n" {
		t.Errorf("table = %q", table.String())
	}
}
