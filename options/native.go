package options

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// MaxNativeBytes bounds a native option value, set or got.
const MaxNativeBytes = 64 << 10

// NativeSpec says how GetNative decodes the kernel's answer (Erlang's
// ValueSpec): exactly one of its forms.
type NativeSpec struct {
	Int, Bool bool
	// Size asks for up to Size raw bytes.
	Size int
	// Buffer asks for raw bytes, the buffer pre-filled with these.
	Buffer []byte
}

// Native options that x/sys/unix does not name yet.
const (
	soPeerPidfd             = 77  // SO_PEERPIDFD (Linux 6.5)
	mptcpFullInfo           = 4   // MPTCP_FULL_INFO (Linux 6.9), level SOL_MPTCP
	sctpSockoptPeeloff      = 102 // SCTP_SOCKOPT_PEELOFF, level SOL_SCTP (IPPROTO_SCTP)
	sctpSockoptPeeloffFlags = 122 // SCTP_SOCKOPT_PEELOFF_FLAGS
	sctpSockoptConnectx3    = 111 // SCTP_SOCKOPT_CONNECTX3
	iptSoSetReplace         = 64  // IPT_SO_SET_REPLACE (SOL_IP), IP6T_SO_SET_REPLACE (SOL_IPV6)
	arptSoSetReplace        = 96  // ARPT_SO_SET_REPLACE (SOL_IP)
	ebtSoSetEntries         = 128 // EBT_SO_SET_ENTRIES (SOL_IP)
	ebtSoGetEntries         = 129 // EBT_SO_GET_ENTRIES
	ebtSoGetInitEntries     = 131 // EBT_SO_GET_INIT_ENTRIES
	rdsGetMR                = 2   // RDS_GET_MR (SOL_RDS)
	rdsGetMRForDest         = 7   // RDS_GET_MR_FOR_DEST
)

// A native option's buffer is data: the kernel reads a setopt's and fills
// a getopt's. The options below are not only that: through them the kernel
// acts on the daemon's process itself, so they are refused to whoever asks.
const (
	writesMemory   = " makes the kernel write to addresses its buffer names, in the daemon's memory"
	installsFD     = " would install a descriptor in the daemon that nothing closes"
	needsMmap      = " sets up a ring the kernel shares through an mmap, which the daemon never makes: kernel memory (and pinned daemon memory) for nothing"
	readsAddresses = " connects to addresses read from the daemon's memory where its buffer points"
)

var refusedNativeGets = map[[2]int]string{
	{unix.SOL_SOCKET, soPeerPidfd}:                "SO_PEERPIDFD" + installsFD,
	{unix.IPPROTO_TCP, unix.TCP_ZEROCOPY_RECEIVE}: "TCP_ZEROCOPY_RECEIVE (it also maps received pages there)" + writesMemory,
	{unix.SOL_MPTCP, mptcpFullInfo}:               "MPTCP_FULL_INFO" + writesMemory,
	{unix.IPPROTO_SCTP, sctpSockoptPeeloff}:       "SCTP_SOCKOPT_PEELOFF" + installsFD,
	{unix.IPPROTO_SCTP, sctpSockoptPeeloffFlags}:  "SCTP_SOCKOPT_PEELOFF_FLAGS" + installsFD,
	{unix.IPPROTO_SCTP, sctpSockoptConnectx3}:     "SCTP_SOCKOPT_CONNECTX3" + readsAddresses,
	{unix.SOL_IP, ebtSoGetEntries}:                "EBT_SO_GET_ENTRIES" + writesMemory,
	{unix.SOL_IP, ebtSoGetInitEntries}:            "EBT_SO_GET_INIT_ENTRIES" + writesMemory,
}

var refusedNativeSets = map[[2]int]string{
	{unix.SOL_IP, iptSoSetReplace}:                "IPT_SO_SET_REPLACE (the old table's counters)" + writesMemory,
	{unix.SOL_IPV6, iptSoSetReplace}:              "IP6T_SO_SET_REPLACE (the old table's counters)" + writesMemory,
	{unix.SOL_IP, arptSoSetReplace}:               "ARPT_SO_SET_REPLACE (the old table's counters)" + writesMemory,
	{unix.SOL_IP, ebtSoSetEntries}:                "EBT_SO_SET_ENTRIES (the old table's counters)" + writesMemory,
	{unix.SOL_PACKET, unix.PACKET_RX_RING}:        "PACKET_RX_RING" + needsMmap,
	{unix.SOL_PACKET, unix.PACKET_TX_RING}:        "PACKET_TX_RING" + needsMmap,
	{unix.SOL_XDP, unix.XDP_RX_RING}:              "XDP_RX_RING" + needsMmap,
	{unix.SOL_XDP, unix.XDP_TX_RING}:              "XDP_TX_RING" + needsMmap,
	{unix.SOL_XDP, unix.XDP_UMEM_REG}:             "XDP_UMEM_REG" + needsMmap,
	{unix.SOL_XDP, unix.XDP_UMEM_FILL_RING}:       "XDP_UMEM_FILL_RING" + needsMmap,
	{unix.SOL_XDP, unix.XDP_UMEM_COMPLETION_RING}: "XDP_UMEM_COMPLETION_RING" + needsMmap,
	{unix.SOL_RDS, rdsGetMR}:                      "RDS_GET_MR (it pins the memory it names and writes a cookie)" + writesMemory,
	{unix.SOL_RDS, rdsGetMRForDest}:               "RDS_GET_MR_FOR_DEST (it pins the memory it names and writes a cookie)" + writesMemory,
}

// NativeKey is the key that names a native option (a raw level and name)
// in errors: native(Level,Name).
func NativeKey(level, name int) Key {
	return Key{Name: fmt.Sprintf("native(%d,%d)", level, name)}
}

func checkNative(level, name int) error {
	if level < 0 || level > math.MaxInt32 || name < 0 || name > math.MaxInt32 {
		return optionErr(NativeKey(level, name), "level and name must be in 0..%d", math.MaxInt32)
	}
	return nil
}

// SetNative is socket:setopt_native/3: v is an int (a C int), a bool (a C
// int 0/1) or []byte (passed as is).
func SetNative(s Socket, level, name int, v any) error {
	if err := checkOpen(s); err != nil {
		return err
	}
	if err := checkNative(level, name); err != nil {
		return err
	}
	if why, refused := refusedNativeSets[[2]int{level, name}]; refused {
		return &OptionError{Key: NativeKey(level, name), Reason: why}
	}
	var b []byte
	switch x := v.(type) {
	case int:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return &ValueError{Key: NativeKey(level, name), Value: v, Reason: "out of the range of a C int"}
		}
		b = int32Bytes(int32(x))
	case bool:
		b, _ = encodeBool(x)
	case []byte:
		if len(x) > MaxNativeBytes {
			return &ValueError{Key: NativeKey(level, name), Value: len(x), Reason: fmt.Sprintf("longer than %d bytes", MaxNativeBytes)}
		}
		b = x
	default:
		return &ValueError{Key: NativeKey(level, name), Value: v, Reason: "want an integer, a boolean or bytes"}
	}
	return s.Control(func(fd int) error { return setsockoptIndependent(fd, level, name, b) })
}

// GetNative is socket:getopt_native/3: it answers an int, a bool or []byte as
// spec asks.
func GetNative(s Socket, level, name int, spec NativeSpec) (any, error) {
	if err := checkOpen(s); err != nil {
		return nil, err
	}
	if err := checkNative(level, name); err != nil {
		return nil, err
	}
	if why, refused := refusedNativeGets[[2]int{level, name}]; refused {
		return nil, &OptionError{Key: NativeKey(level, name), Reason: why}
	}
	var buf []byte
	switch {
	case spec.Int || spec.Bool:
		buf = make([]byte, 4)
	case spec.Buffer != nil:
		if len(spec.Buffer) > MaxNativeBytes {
			return nil, &SpecError{Spec: len(spec.Buffer), Reason: fmt.Sprintf("buffer longer than %d bytes", MaxNativeBytes)}
		}
		buf = append([]byte(nil), spec.Buffer...)
	case spec.Size > 0 && spec.Size <= MaxNativeBytes:
		buf = make([]byte, spec.Size)
	default:
		return nil, &SpecError{Spec: spec.Size, Reason: fmt.Sprintf("want int, bool, a size in 1..%d or a buffer", MaxNativeBytes)}
	}
	var got []byte
	err := readOption(s, level, name, func(fd int) (err error) {
		got, err = getsockoptInto(fd, level, name, buf)
		return err
	}, func(v int) { got = cIntBytes(v, len(buf)) })
	if err != nil {
		return nil, err
	}
	if !spec.Int && !spec.Bool {
		return got, nil
	}
	if len(got) < len(buf) {
		// The kernel wrote less than a C int (SO_BINDTODEVICE of an unbound
		// socket writes nothing): the rest reads as zero, as in Erlang's NIF,
		// which reads into a zeroed int whatever length comes back.
		got = append(got[:len(got):len(got)], make([]byte, len(buf)-len(got))...)
	}
	n, err := decodeCInt(got)
	if err != nil {
		return nil, withKey(NativeKey(level, name), err)
	}
	if spec.Bool {
		return n != 0, nil
	}
	return n, nil
}
