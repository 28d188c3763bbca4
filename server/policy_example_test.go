package server

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sockd/sockd/engine"
)

// The example policy in deploy/ parses and says what its comments say. It is
// read with ReadFile: a checkout under umask 002 makes it group-writable,
// which LoadPolicy would refuse.
func TestExamplePolicy(t *testing.T) {
	doc, err := os.ReadFile("../deploy/policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	app := p.ruleFor(Principal{Kind: "x509", Name: "frontend.example.com"})
	if app == nil || app != p.ruleFor(Principal{Kind: "uid", UID: 1000}) {
		t.Fatal("the application's two principals do not share a rule")
	}
	if !allowsAddr(app.bind, ipAddr("0.0.0.0:8080")) || allowsAddr(app.bind, ipAddr("0.0.0.0:80")) {
		t.Error("the application's binds")
	}
	if !allowsAddr(app.connect, ipAddr("10.0.5.7:5432")) || allowsAddr(app.connect, ipAddr("10.0.6.7:5432")) {
		t.Error("the application's connects")
	}
	if app.actAs == nil || *app.actAs != (engine.Creds{UID: 1000, GID: 1000}) {
		t.Errorf("the application acts as %+v, want 1000:1000", app.actAs)
	}
	if w := p.Warnings(); len(w) > 0 {
		t.Errorf("the example warns: %q", w)
	}
	if p.ruleFor(Principal{Kind: "uid", UID: 1001}) != nil {
		t.Error("a principal no rule names got one")
	}
}

// The policy the DaemonSet's ConfigMap carries parses too.
func TestDaemonSetPolicy(t *testing.T) {
	manifest, err := os.ReadFile("../deploy/kubernetes/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(manifest), "\n---\n")
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal([]byte(first), &cm); err != nil || cm.Kind != "ConfigMap" {
		t.Fatalf("the manifest's first document: %v, kind %q", err, cm.Kind)
	}
	p, err := ParsePolicy([]byte(cm.Data["policy.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if r := p.ruleFor(Principal{Kind: "uid", UID: 1000}); r == nil || r.unrestricted || r.quotas.sockets != 1024 || r.quotas.pending != 4096 {
		t.Errorf("a client uid gets %+v", r)
	}
}
