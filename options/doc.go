// Package options is sockd's socket option table: every option of the seed's
// seven levels (otp, socket, ip, ipv6, tcp, udp, sctp), its value type, whether
// it can be set and got, its requirements and notes, and the codec that turns
// its typed value into the bytes of setsockopt(2) and back.
//
// The table (table.go) is the one definition of these facts: validation in Set
// and Get, the host probe behind Supports, sockctl's help and the generated
// reference docs/options.md all read it. Like engine, the package knows
// nothing of gRPC; values are plain Go types (values.go) that the server
// translates.
//
// # Errors
//
// Errors follow the reference (§6.3): an option unknown to the table, one this
// host lacks, one used in the wrong direction (setting a get-only option) or on
// a socket that does not meet its requirements is an *OptionError ({invalid,
// {socket_option, Opt}}); a value of the wrong type or range is a *ValueError
// ({invalid, {socket_option, Opt, Value}}); the kernel's refusal is returned as
// the unix.Errno it gave.
package options

//go:generate go test -run TestDocsUpToDate -update .
