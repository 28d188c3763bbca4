package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// TestMetrics: a daemon started with --metrics-listen serves Prometheus
// metrics: gRPC's per-method counts and sockd's sockets, lanes, sessions
// and events, as they are when scraped.
func TestMetrics(t *testing.T) {
	dir, err := os.MkdirTemp("", "sockd-metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	addr := freeLoopbackPort(t)
	d := dedicatedDaemon(t, dir, "--metrics-listen", addr)
	s := sessionOn(t, d)
	lsn, _ := s.listener(t, tcp4)
	if r := s.acceptT(t, lsn, nowait()); r.GetAsync() == nil {
		t.Fatalf("nowait accept on an idle listener: %v", r)
	}
	udp := s.open(t, udp6)

	body := scrape(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`sockd_sockets{domain="inet",protocol="tcp",type="stream"} 1`,
		`sockd_sockets{domain="inet6",protocol="udp",type="dgram"} 1`,
		`sockd_lane_requestors{lane="acceptor"} 1`,
		`sockd_sessions 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Accept",grpc_service="sockd.v1.SocketService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Open",grpc_service="sockd.v1.SocketService",grpc_type="unary"} 2`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Closing the listener aborts the accept: one abort event, no acceptor.
	s.close(t, lsn)
	s.close(t, udp)
	body = scrape(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`sockd_events_total{kind="abort"} 1`,
		`sockd_lane_requestors{lane="acceptor"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("after close, metrics lack %q", want)
		}
	}
	if strings.Contains(body, "sockd_sockets{") {
		t.Errorf("after close, metrics still count sockets:\n%s", grepLines(body, "sockd_sockets"))
	}
	// A method no service has makes no series: anyone may call any name.
	conn := grpcConnTo(t, d.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var reply []byte
	for _, method := range []string{"/sockd.v1.SocketService/NoSuchMethod", "/no.such.Service/Call"} {
		conn.Invoke(ctx, method, []byte{}, &reply, grpc.ForceCodecV2(rawCodec{}))
	}
	if body = scrape(t, "http://"+addr+"/metrics"); strings.Contains(body, "NoSuchMethod") || strings.Contains(body, "no.such.Service") {
		t.Errorf("unknown methods made series:\n%s", grepLines(body, "grpc_server_started_total"))
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
