package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// defaultIKeys are the columns of Erlang's socket:i/0.
var defaultIKeys = []string{"domain", "type", "protocol", "fd", "owner", "local_address", "remote_address", "recv", "sent", "state"}

func newICommand(a *app) *cobra.Command {
	var keys []string
	cmd := &cobra.Command{
		Use:   "i [DOMAIN|TYPE|PROTOCOL]",
		Short: "Print the table of registered sockets (Erlang's socket:i/0)",
		Long: `Print the registered sockets the caller may see as Erlang's socket:i/0,1,2 does:
a header, then one row per socket, columns left-aligned and separated by one
space. Nothing at all is printed when there is no socket. Sockets opened with
--use-registry=false are not listed.

The argument restricts the table to a domain (inet, inet6, local), a type
(stream, dgram, seqpacket) or a protocol (tcp, udp, sctp). --keys chooses the
columns, from domain, type, protocol, fd, owner, local_address,
remote_address, recv, sent and state; an unknown key prints " ".

State codes: A accepting, BD bound, BY busy, CD connected, CG connecting,
LN listen, LG listening, O open, SD selected, others upper-cased; read states
and write states are joined by ":" and the two sides by " , " (", -" or " - , "
when one side has none).

With -o json each socket is one object with its "socket" id and the chosen
keys as sockctl info and sockname print them: domain, type and protocol by
name, addresses as sockname writes them, fd, recv and sent as numbers, state
as "rstates" and "wstates" lists; null for what cannot be told.`,
		Example: `  sockctl i
  sockctl i tcp --keys domain,local_address,state
  sockctl i inet -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := iFilter(args)
			if err != nil {
				return usage(err)
			}
			if err := checkKeys(keys); err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				sockets, err := gatherSockets(ctx, s, filter, keys)
				if err != nil {
					return err
				}
				return emitTable(a.out, keys, sockets)
			})
		},
	}
	cmd.Flags().StringSliceVar(&keys, "keys", defaultIKeys, "the columns, comma-separated")
	return cmd
}

// checkKeys refuses a --keys that names no column.
func checkKeys(keys []string) error {
	if len(keys) == 0 || slices.Contains(keys, "") {
		return usage(errors.New("--keys: name each column, comma-separated"))
	}
	return nil
}

// iFilter parses i's optional argument, exactly the names Erlang's i/1 takes.
func iFilter(args []string) (client.SocketFilter, error) {
	var f client.SocketFilter
	if len(args) == 0 {
		return f, nil
	}
	switch name := args[0]; name {
	case "inet", "inet6", "local":
		d, err := client.ParseDomain(name)
		f.Domain = d.Enum
		return f, err
	case "stream", "dgram", "seqpacket":
		t, err := client.ParseType(name)
		f.Type = t.Enum
		return f, err
	case "tcp", "udp", "sctp":
		p, err := client.ParseProtocol(name)
		f.Protocol = p.Enum
		return f, err
	default:
		return f, fmt.Errorf("%q: want a domain (inet, inet6, local), a type (stream, dgram, seqpacket) or a protocol (tcp, udp, sctp)", name)
	}
}

// socketFacts is what one row of the table is made from.
type socketFacts struct {
	info        *sockdv1.SocketInfo
	local, peer *sockdv1.SockAddr // nil when the daemon answered an error
}

// gatherSockets lists the facts of the registered sockets passing f that
// keys need, in which_sockets order. A socket that closes meanwhile is left
// out.
func gatherSockets(ctx context.Context, s *client.Session, f client.SocketFilter, keys []string) ([]socketFacts, error) {
	ids, err := s.Client().WhichSockets(ctx, f)
	if err != nil {
		return nil, err
	}
	// The addresses cost a call each per socket: fetch them only for a
	// column that shows them.
	wantLocal, wantPeer := slices.Contains(keys, "local_address"), slices.Contains(keys, "remote_address")
	var sockets []socketFacts
	for _, id := range ids {
		info, err := s.Info(ctx, id)
		if status.Code(err) == codes.NotFound {
			continue // gone since WhichSockets answered
		}
		if err != nil {
			return nil, err
		}
		facts := socketFacts{info: info}
		if wantLocal {
			if r, err := s.SockName(ctx, id); err == nil {
				facts.local = r.GetAddress()
			}
		}
		if wantPeer {
			if r, err := s.PeerName(ctx, id); err == nil {
				facts.peer = r.GetAddress()
			}
		}
		sockets = append(sockets, facts)
	}
	return sockets, nil
}

// emitTable prints the table, or in json one object per socket.
func emitTable(p *printer, keys []string, sockets []socketFacts) error {
	if p.json {
		for _, f := range sockets {
			if err := p.emit(view{obj: socketObject(f, keys)}); err != nil {
				return err
			}
		}
		return nil
	}
	return p.emit(view{text: iTable(keys, tableRows(sockets, keys))})
}

// tableRows are the table's cells: a row per socket, a cell per key.
func tableRows(sockets []socketFacts, keys []string) [][]string {
	rows := make([][]string, len(sockets))
	for i, f := range sockets {
		rows[i] = make([]string, len(keys))
		for j, k := range keys {
			rows[i][j] = iCell(f, k)
		}
	}
	return rows
}

// socketObject is a socket in json: its id, then each key's value as
// sockctl info and sockname print it (state as rstates and wstates), null
// for what cannot be told; not the table's Erlang-style cells, which are
// for reading.
func socketObject(f socketFacts, keys []string) object {
	i := f.info
	domain, typ, protocol := socketKind(i)
	obj := object{}.with("socket", i.GetSocketId())
	address := func(sa *sockdv1.SockAddr) any {
		if sa == nil {
			return nil
		}
		return client.FormatAddr(sa)
	}
	for _, k := range keys {
		switch k {
		case "domain":
			obj = obj.with(k, domain.String())
		case "type":
			obj = obj.with(k, typ.String())
		case "protocol":
			obj = obj.with(k, protocol.String())
		case "fd":
			if i.GetFd() < 0 {
				obj = obj.with(k, nil)
			} else {
				obj = obj.with(k, i.GetFd())
			}
		case "owner":
			if i.GetOwner() == "" {
				obj = obj.with(k, nil)
			} else {
				obj = obj.with(k, i.GetOwner())
			}
		case "local_address":
			obj = obj.with(k, address(f.local))
		case "remote_address":
			obj = obj.with(k, address(f.peer))
		case "recv":
			obj = obj.with(k, i.GetCounters().GetReadByte())
		case "sent":
			obj = obj.with(k, i.GetCounters().GetWriteByte())
		case "state":
			obj = obj.with("rstates", nonNil(i.GetRstates())).with("wstates", nonNil(i.GetWstates()))
		default:
			obj = obj.with(k, nil)
		}
	}
	return obj
}

// iTable is do_i: nothing when there are no rows, else the header and the
// rows, each cell padded to its column's width and followed by one space.
func iTable(keys []string, rows [][]string) string {
	if len(rows) == 0 {
		return ""
	}
	header := make([]string, len(keys))
	for i, k := range keys {
		header[i] = iHeader(k)
	}
	lines := append([][]string{header}, rows...)
	widths := make([]int, len(keys))
	for _, l := range lines {
		for i, cell := range l {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		for i, cell := range l {
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", widths[i]-len(cell)+1))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// iHeader upper-cases a key's first letter and turns "_x" into " X":
// local_address is "Local Address".
func iHeader(key string) string {
	var b strings.Builder
	upper := true
	for _, r := range key {
		switch {
		case r == '_':
			b.WriteByte(' ')
			upper = true
		case upper:
			b.WriteRune(unicode.ToUpper(r))
			upper = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// iCell is i_socket_info: one cell; " " for what cannot be told.
func iCell(f socketFacts, key string) string {
	i := f.info
	switch key {
	case "domain":
		d, _, _ := socketKind(i)
		return d.String()
	case "type":
		_, t, _ := socketKind(i)
		return strings.ToUpper(t.String())
	case "protocol":
		return iProtocol(i)
	case "fd":
		if i.GetFd() < 0 {
			return " "
		}
		return strconv.Itoa(int(i.GetFd()))
	case "owner":
		if i.GetOwner() == "" {
			return " "
		}
		return i.GetOwner()
	case "local_address":
		return iAddress(f.local, tcpServiceName)
	case "remote_address":
		return iAddress(f.peer, tcpServiceName)
	case "recv":
		return strconv.FormatUint(i.GetCounters().GetReadByte(), 10)
	case "sent":
		return strconv.FormatUint(i.GetCounters().GetWriteByte(), 10)
	case "state":
		return iStates(i.GetRstates(), i.GetWstates())
	}
	return " "
}

// iProtocol upper-cases the protocol; protocol 0 is TCP for a stream, UDP
// for a datagram socket, UNKNOWN otherwise, as Erlang prints it.
func iProtocol(i *sockdv1.SocketInfo) string {
	_, _, p := socketKind(i)
	if p == client.DefaultProtocol {
		switch i.GetType() {
		case sockdv1.Type_TYPE_STREAM:
			return "TCP"
		case sockdv1.Type_TYPE_DGRAM:
			return "UDP"
		default:
			return "UNKNOWN"
		}
	}
	return strings.ToUpper(p.String())
}

// iAddress is fmt_sockaddr: *:Port for any, localhost:Port for loopback,
// ADDR:Port otherwise, local:Path; the port as "service (Port)" when
// service names it.
func iAddress(sa *sockdv1.SockAddr, service func(port uint32) (string, bool)) string {
	var host string
	var port uint32
	switch fam := sa.GetFamily().(type) {
	case *sockdv1.SockAddr_Inet:
		host, port = fam.Inet.GetAddress(), fam.Inet.GetPort()
	case *sockdv1.SockAddr_Inet6:
		host, port = fam.Inet6.GetAddress(), fam.Inet6.GetPort()
	case *sockdv1.SockAddr_Local:
		// Erlang's "local:" ++ Path; an abstract name as sockname prints
		// it (local:@name), not with its NUL.
		if path := fam.Local.GetPath(); len(path) > 0 && path[0] == 0 {
			return client.FormatAddr(sa)
		}
		return "local:" + string(fam.Local.GetPath())
	default:
		return " "
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return " "
	}
	switch {
	case ip.IsUnspecified():
		host = "*"
	case ip == netip.MustParseAddr("127.0.0.1") || ip == netip.IPv6Loopback():
		host = "localhost"
	}
	if name, ok := service(port); ok {
		return fmt.Sprintf("%s:%s (%d)", host, name, port)
	}
	return host + ":" + strconv.FormatUint(uint64(port), 10)
}

// iStates is fmt_states.
func iStates(r, w []string) string {
	switch {
	case len(r) == 0 && len(w) == 0:
		return " "
	case len(w) == 0:
		return iStateCodes(r) + ", -"
	case len(r) == 0:
		return " - , " + iStateCodes(w)
	}
	return iStateCodes(r) + " , " + iStateCodes(w)
}

var stateCodes = map[string]string{
	"accepting": "A", "bound": "BD", "busy": "BY", "connected": "CD", "connecting": "CG",
	"listen": "LN", "listening": "LG", "open": "O", "selected": "SD",
}

func iStateCodes(states []string) string {
	codes := make([]string, len(states))
	for i, s := range states {
		if c, ok := stateCodes[s]; ok {
			codes[i] = c
		} else {
			codes[i] = strings.ToUpper(s)
		}
	}
	return strings.Join(codes, ":")
}

// servicesFile is the services database getservbyport(3) reads.
const servicesFile = "/etc/services"

var services = sync.OnceValue(func() map[string]string {
	f, err := os.Open(servicesFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseServices(bufio.NewScanner(f))
})

// tcpServiceName is the name of port/tcp in the services database, if it
// has one: Erlang names a port with getnameinfo, which looks a port up as
// TCP's unless told it is a datagram's (NI_DGRAM), whatever the socket.
func tcpServiceName(port uint32) (string, bool) {
	name, ok := services()[strconv.FormatUint(uint64(port), 10)+"/tcp"]
	return name, ok
}

// parseServices reads "name port/protocol [aliases] [# comment]" lines into
// a map from "port/protocol" to the first name given for it.
func parseServices(sc *bufio.Scanner) map[string]string {
	m := make(map[string]string)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		if _, seen := m[fields[1]]; !seen {
			m[fields[1]] = fields[0]
		}
	}
	return m
}
