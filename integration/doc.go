// Package integration holds black-box tests of sockd: they build the real
// sockd and sockctl binaries, start the daemon on a temporary unix socket and
// drive it as users do, over gRPC (raw stubs and the client package) and
// through the sockctl binary.
//
// Most scenarios re-express the Erlang/OTP socket test suites listed in
// reference §9; each test's comment names the Erlang test cases it covers and
// the _tcp4/_tcp6/_tcpL/_udp4/_udp6/_udpL variants run as subtests.
//
//	basic_test.go     blocking API: open/info/close, send/recv families (§9 5–11)
//	async_test.go     nowait, select events, cancel, queued waiters (§9 14–21, otp18635)
//	timeout_test.go   timeouts and partial results (§9 36–39, otp19063, otp19469)
//	close_test.go     close and owner exit while others wait, multi-accept (§9 47–53)
//	session_test.go   session death (close and grace expiry), event resume
//	badinput_test.go  malformed and misdirected requests
//	sockctl_test.go   the README tour and the exit statuses of the sockctl binary
//	client_test.go    one full scenario through the Go client package
//	leak_test.go      descriptors and goroutines return to their baseline (otp19251)
//
// Every test makes its own sessions, so tests run in parallel; TestMain
// checks after the run that the daemon holds no more descriptors than before
// and that this process leaves no goroutines behind.
package integration
