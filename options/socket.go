package options

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Socket is what Set and Get need of a socket; *engine.Socket implements it.
type Socket interface {
	Domain() int
	Type() int
	Protocol() int
	// Control runs fn with the descriptor pinned open.
	Control(fn func(fd int) error) error
	Fd() int
	// SocketError reads SO_ERROR, which clears it: the socket keeps what
	// it reads for a connect in progress, whose outcome it is.
	SocketError() (int, error)

	RcvBuf() (n, size int)
	SetRcvBuf(n, size int)
	CtrlBufs() (rcv, snd int)
	// SetRcvCtrlBuf and SetSndCtrlBuf each set one of the two, so that
	// two setopts at once do not write back each other's old value.
	SetRcvCtrlBuf(n int)
	SetSndCtrlBuf(n int)
	IOW() bool
	SetIOW(bool)
	Debug() bool
	SetDebug(bool)
	UseRegistry() bool
	SetUseRegistry(bool)
	SelectRead() bool
	SetSelectRead(bool)
}

// Bounds of the otp buffers. A length-0 recv may read up to N*Size bytes
// into one answer, so the product is bounded, not just each factor, and by
// what one answer may carry: the daemon's Recv length bound. That leaves
// an answer (with up to MaxCtrlBuf of control messages and its envelope, or
// as a completion event) inside gRPC's default 4 MiB receive limit, which
// every stock client keeps: a larger read could be neither delivered nor
// given back to the socket.
const (
	MaxRcvBufBytes = 4<<20 - 256<<10
	MaxCtrlBuf     = 64 << 10
	// DefaultRcvBufSize is the size the engine reads with when rcvbuf is
	// default (engine.DefaultRcvBufSize).
	DefaultRcvBufSize = 8192
)

// ErrSessionOption is returned for otp controlling_process, whose value is a
// session, and otp meta, which only the owner may set: the caller, which
// owns sessions, implements them.
var ErrSessionOption = errors.New("otp controlling_process and meta are implemented by the session layer")

// MaxMeta bounds otp meta's bytes: a label for the socket, kept per socket
// for as long as it lives.
const MaxMeta = 4096

// Resolve finds k's row and checks that it may be used in the asked direction
// on a socket of this host: Find, then Allows.
func (h *Host) Resolve(k Key, set bool) (*Option, error) {
	o, err := h.Find(k)
	if err != nil {
		return nil, err
	}
	if err := o.Allows(set); err != nil {
		return nil, err
	}
	return o, nil
}

// Find finds k's row among the options of this host: known, available and
// supported by the kernel. Erlang's prim_socket refuses the others before the
// NIF looks at the socket, so they answer invalid even on a closed socket.
func (h *Host) Find(k Key) (*Option, error) {
	o, ok := Lookup(k)
	switch {
	case !ok:
		return nil, optionErr(k, "unknown option")
	case o.Unavailable != "":
		return nil, optionErr(k, "%s", o.Unavailable)
	case !h.Supported(o):
		return nil, optionErr(k, "not supported by this host")
	}
	return o, nil
}

// Allows reports an option used against the seed's Set/Get columns. The NIF
// looks for the setter or getter after it found the socket open: a closed
// socket answers closed first.
func (o *Option) Allows(set bool) error {
	switch {
	case set && !o.Set:
		return optionErr(o.Key, "get only")
	case !set && !o.Get:
		return optionErr(o.Key, "set only")
	}
	return nil
}

// Set is socket:setopt/3: it validates v against k's row and sets it.
func (h *Host) Set(s Socket, k Key, v any) error {
	o, err := h.Resolve(k, true)
	if err != nil {
		return err
	}
	return SetResolved(s, o, v)
}

// SetResolved is Set of an option Resolve has already found settable.
func SetResolved(s Socket, o *Option, v any) error {
	if err := checkOpen(s); err != nil {
		return err
	}
	if o.Level == LevelOTP {
		return withKey(o.Key, setOTP(o, s, v))
	}
	b, err := codecs[o.Type].encode(v)
	if err != nil {
		return withKey(o.Key, err)
	}
	return s.Control(func(fd int) error { return setsockoptIndependent(fd, o.SysLevel, o.SysName, b) })
}

// checkOpen answers what a call on a closed socket answers (the socket's
// Control says closed), before anything else: the otp options, which make
// no syscall, too, as the NIF checks that the socket is open first.
func checkOpen(s Socket) error {
	return s.Control(func(int) error { return nil })
}

// Get is socket:getopt/2.
func (h *Host) Get(s Socket, k Key) (any, error) {
	o, err := h.Resolve(k, false)
	if err != nil {
		return nil, err
	}
	return GetResolved(s, o)
}

// GetResolved is Get of an option Resolve has already found gettable.
func GetResolved(s Socket, o *Option) (any, error) {
	if err := checkOpen(s); err != nil {
		return nil, err
	}
	if o.Level == LevelOTP {
		return getOTP(o, s)
	}
	c := codecs[o.Type]
	var b []byte
	err := readOption(s, o.SysLevel, o.SysName, func(fd int) (err error) {
		b, err = getsockopt(fd, o.SysLevel, o.SysName, c.size)
		return err
	}, func(v int) { b = cIntBytes(v, 4) })
	if err != nil {
		return nil, err
	}
	v, err := c.decode(b)
	return v, withKey(o.Key, err)
}

// withKey turns a codec's complaint into a ValueError naming the option.
func withKey(k Key, err error) error {
	var bad *valueErr
	if errors.As(err, &bad) {
		return &ValueError{Key: k, Value: bad.value, Reason: bad.reason}
	}
	return err
}

func setOTP(o *Option, s Socket, v any) error {
	switch o.Name {
	case "debug", "iow":
		b, ok := v.(bool)
		if !ok {
			return badValue(v, "want a boolean")
		}
		if o.Name == "debug" {
			s.SetDebug(b)
		} else {
			s.SetIOW(b)
		}
	case "select_read":
		b, ok := v.(bool)
		if !ok {
			return badValue(v, "want a boolean")
		}
		s.SetSelectRead(b)
	case "use_registry":
		if b, ok := v.(bool); !ok || !b {
			return badValue(v, "only true may be set")
		}
		s.SetUseRegistry(true)
	case "rcvbuf":
		return setRcvBuf(s, v)
	case "rcvctrlbuf", "sndctrlbuf":
		c, ok := v.(CtrlBuf)
		if !ok {
			return badValue(v, "want default or a positive integer")
		}
		size := 0 // the engine's default
		if !c.Default {
			if c.Size <= 0 || c.Size > MaxCtrlBuf {
				return badValue(v, "out of range 1..%d", MaxCtrlBuf)
			}
			size = c.Size
		}
		if o.Name == "rcvctrlbuf" {
			s.SetRcvCtrlBuf(size)
		} else {
			s.SetSndCtrlBuf(size)
		}
	case "controlling_process", "meta":
		return ErrSessionOption
	default:
		return optionErr(o.Key, "get only")
	}
	return nil
}

func setRcvBuf(s Socket, v any) error {
	r, ok := v.(RcvBuf)
	if !ok {
		return badValue(v, "want default, a positive integer or {N, Size}")
	}
	if r.Default && r.N == 0 {
		s.SetRcvBuf(0, 0)
		return nil
	}
	if r.N < 0 || (!r.Default && r.Size <= 0) {
		return badValue(v, "N and Size must be positive")
	}
	if r.N > 0 && (s.Type() != unix.SOCK_STREAM || s.Protocol() != unix.IPPROTO_TCP) {
		return badValue(v, "the {N, Size} form is only valid for type stream, protocol tcp")
	}
	size := r.Size
	if r.Default {
		size = 0
	}
	// The size a read will use: 0 stands for the default. Each factor
	// first: their product could overflow.
	used := size
	if used <= 0 {
		used = DefaultRcvBufSize
	}
	if r.N > MaxRcvBufBytes || used > MaxRcvBufBytes || max(r.N, 1)*used > MaxRcvBufBytes {
		return badValue(v, "N * Size exceeds %d bytes", MaxRcvBufBytes)
	}
	s.SetRcvBuf(r.N, size)
	return nil
}

func getOTP(o *Option, s Socket) (any, error) {
	switch o.Name {
	case "debug":
		return s.Debug(), nil
	case "iow":
		return s.IOW(), nil
	case "use_registry":
		return s.UseRegistry(), nil
	case "select_read":
		return s.SelectRead(), nil
	case "domain":
		return s.Domain(), nil
	case "fd":
		return s.Fd(), nil
	case "rcvbuf":
		n, size := s.RcvBuf()
		return RcvBuf{N: n, Size: size}, nil
	case "rcvctrlbuf":
		rcv, _ := s.CtrlBufs()
		return CtrlBuf{Size: rcv}, nil
	case "sndctrlbuf":
		_, snd := s.CtrlBufs()
		return CtrlBuf{Size: snd}, nil
	case "assoc_id":
		// struct sctp_status begins with sstat_assoc_id.
		var b []byte
		err := s.Control(func(fd int) (err error) {
			b, err = getsockopt(fd, o.SysLevel, o.SysName, 256)
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(b) < 4 {
			return nil, unix.EINVAL
		}
		return int(int32(ne.Uint32(b))), nil
	case "controlling_process", "meta":
		return nil, ErrSessionOption
	}
	return nil, optionErr(o.Key, "set only")
}
