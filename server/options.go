package server

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/enumname"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// SetOpt implements sockdv1.SocketServiceServer: socket:setopt/3.
func (s *Service) SetOpt(ctx context.Context, r *sockdv1.SetOptRequest) (*sockdv1.SetOptResponse, error) {
	sess, sock, o, bad, err := s.targetOption(ctx, r.GetSocketId(), r.GetKey(), true)
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return &sockdv1.SetOptResponse{Error: bad}, nil
	}
	switch o.Type {
	case options.TypeOTPProcess, options.TypeOTPMeta:
		// Only the owner may set these: not_owner before anything about the
		// value (an unknown session, an oversized term), as Erlang's NIF.
		if err := sock.CheckOwner(sess); err != nil {
			return &sockdv1.SetOptResponse{Error: socketError(err)}, nil
		}
	}
	switch o.Type {
	case options.TypeOTPProcess:
		return &sockdv1.SetOptResponse{Error: s.setControllingProcess(sess, sock, o.Key, r.GetValue())}, nil
	case options.TypeOTPMeta:
		return &sockdv1.SetOptResponse{Error: setMeta(sess, sock, o.Key, r.GetValue())}, nil
	}
	value, bad := decodeOptionValue(o, r.GetValue())
	if bad != nil {
		return &sockdv1.SetOptResponse{Error: bad}, nil
	}
	v6only := isV6only(o.SysLevel, o.SysName)
	if v6only || isBindToDevice(o.SysLevel, o.SysName) {
		// Decided on what the socket is bound to: no other bind, device
		// binding or v6only change between the decision and the call.
		mu := s.binds.of(sock)
		mu.Lock()
		defer mu.Unlock()
	}
	check := s.checkCaller(ctx)
	if err := check.setOpt(sock, o, value); err != nil {
		return nil, err
	}
	if on, ok := value.(bool); ok && !on && v6only {
		if err := check.v6onlyOff(sock); err != nil {
			return nil, err
		}
	}
	se, err := outcome(options.SetResolved(sock, o, value))
	return &sockdv1.SetOptResponse{Error: se}, err
}

// GetOpt implements sockdv1.SocketServiceServer: socket:getopt/2.
func (s *Service) GetOpt(ctx context.Context, r *sockdv1.GetOptRequest) (*sockdv1.GetOptResponse, error) {
	_, sock, o, bad, err := s.targetOption(ctx, r.GetSocketId(), r.GetKey(), false)
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return &sockdv1.GetOptResponse{Error: bad}, nil
	}
	switch o.Type {
	case options.TypeOTPProcess:
		owner, ok := sock.Owner().(*Session)
		if sock.Closed() || !ok {
			return &sockdv1.GetOptResponse{Error: socketError(engine.ErrClosed)}, nil
		}
		return &sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SessionId{SessionId: owner.id}}}, nil
	case options.TypeOTPMeta:
		meta, err := sock.Meta()
		if err != nil {
			return &sockdv1.GetOptResponse{Error: socketError(err)}, nil
		}
		if meta == nil {
			return &sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "undefined"}}}, nil
		}
		return &sockdv1.GetOptResponse{Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: meta}}}, nil
	}
	v, err := options.GetResolved(sock, o)
	if se, err := outcome(err); se != nil || err != nil {
		return &sockdv1.GetOptResponse{Error: se}, err
	}
	return &sockdv1.GetOptResponse{Value: encodeOptionValue(o.Type, v)}, nil
}

// targetOption finds the socket (as target) and the option's row (as
// findOption) of a setopt or getopt; bad is the in-band answer to a key
// Erlang answers {error, ...}.
func (s *Service) targetOption(ctx context.Context, id string, k *sockdv1.OptionKey, set bool) (sess *Session, sock *engine.Socket, o *options.Option, bad *sockdv1.SocketError, err error) {
	sess, sock, err = s.target(ctx, id)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	key, bad, err := decodeOptionKey(k)
	if err != nil || bad != nil {
		return nil, nil, nil, bad, err
	}
	o, bad = s.findOption(sock, key, set)
	return sess, sock, o, bad, nil
}

// findOption finds key's row for a setopt or getopt on sock, and answers
// in Erlang's order: an option this host does not offer is invalid, then a
// closed socket is closed, whatever the option's direction or the value.
func (s *Service) findOption(sock *engine.Socket, key options.Key, set bool) (*options.Option, *sockdv1.SocketError) {
	o, err := s.options.Find(key)
	if err != nil {
		return nil, socketError(err)
	}
	if sock.Closed() {
		return nil, socketError(engine.ErrClosed)
	}
	if err := o.Allows(set); err != nil {
		return nil, socketError(err)
	}
	return o, nil
}

// setControllingProcess hands sock to another session of the caller's
// principal; the socket then lives and dies with that session.
func (s *Service) setControllingProcess(by *Session, sock *engine.Socket, key options.Key, v *sockdv1.OptionValue) *sockdv1.SocketError {
	id, ok := v.GetValue().(*sockdv1.OptionValue_SessionId)
	if !ok {
		return badOptionValue(key, printValue(v), "want a session id")
	}
	to, found := s.sessions.lookup(by.principal, id.SessionId)
	if !found && s.sessions.endedFor(by.principal, id.SessionId) {
		// Erlang takes a dead pid and the socket dies with it (reference
		// §2.7): ok, and the socket closes as its owner's death closes it.
		if err := sock.SetOwner(by, by); err != nil { // only the owner may
			return socketError(err)
		}
		sock.Abandon()
		by.disown(sock)
		return nil
	}
	if !found {
		return badOptionValue(key, id.SessionId, "no such session of this principal")
	}
	if err := sock.SetOwner(by, to); err != nil {
		return socketError(err)
	}
	if s.sockets != nil {
		s.sockets.transfer(sock, to.principal)
	}
	if !to.adopt(sock) {
		// The new owner died in between: the socket dies with it, as Erlang's
		// would when handed to a dead process.
		sock.Abandon()
		return socketError(engine.ErrClosed)
	}
	if to != by {
		by.disown(sock)
	}
	return nil
}

// setMeta is setopt otp meta: a term in the client's encoding, or
// undefined; only the owner may set it.
func setMeta(by *Session, sock *engine.Socket, key options.Key, v *sockdv1.OptionValue) *sockdv1.SocketError {
	var meta []byte
	switch x := v.GetValue().(type) {
	case *sockdv1.OptionValue_Term:
		if len(x.Term) > options.MaxMeta {
			return badOptionValue(key, printValue(v), fmt.Sprintf("a term of %d bytes: at most %d", len(x.Term), options.MaxMeta))
		}
		// A copy: the request's bytes may be the transport's, and an
		// empty term is a term, not undefined.
		meta = append([]byte{}, x.Term...)
	case *sockdv1.OptionValue_Name:
		if x.Name != "undefined" {
			return badOptionValue(key, printValue(v), "want a term or undefined")
		}
	default:
		return badOptionValue(key, printValue(v), "want a term or undefined")
	}
	return socketError(sock.SetMeta(by, meta))
}

// SetOptNative implements sockdv1.SocketServiceServer: socket:setopt_native/3.
func (s *Service) SetOptNative(ctx context.Context, r *sockdv1.SetOptNativeRequest) (*sockdv1.SetOptNativeResponse, error) {
	_, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	if err := s.checkCaller(ctx).native(actionSetOpt, int(r.GetLevel()), int(r.GetName())); err != nil {
		return nil, err
	}
	if sock.Closed() { // before the value, as the NIF
		return &sockdv1.SetOptNativeResponse{Error: socketError(engine.ErrClosed)}, nil
	}
	nativeKey := options.NativeKey(int(r.GetLevel()), int(r.GetName()))
	var value any
	switch v := r.GetValue().GetValue().(type) {
	case *sockdv1.NativeValue_IntValue:
		if v.IntValue < math.MinInt32 || v.IntValue > math.MaxInt32 {
			return &sockdv1.SetOptNativeResponse{Error: badOptionValue(nativeKey, v.IntValue, "out of the range of a C int")}, nil
		}
		value = int(v.IntValue)
	case *sockdv1.NativeValue_BoolValue:
		value = v.BoolValue
	case *sockdv1.NativeValue_BytesValue:
		value = v.BytesValue
	default:
		return &sockdv1.SetOptNativeResponse{Error: badOptionValue(nativeKey, "none", "no value")}, nil
	}
	if isV6only(int(r.GetLevel()), int(r.GetName())) {
		mu := s.binds.of(sock)
		mu.Lock()
		defer mu.Unlock()
	}
	se, err := outcome(options.SetNative(sock, int(r.GetLevel()), int(r.GetName()), value))
	return &sockdv1.SetOptNativeResponse{Error: se}, err
}

// GetOptNative implements sockdv1.SocketServiceServer: socket:getopt_native/3.
func (s *Service) GetOptNative(ctx context.Context, r *sockdv1.GetOptNativeRequest) (*sockdv1.GetOptNativeResponse, error) {
	_, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	if err := s.checkCaller(ctx).native(actionGetOpt, int(r.GetLevel()), int(r.GetName())); err != nil {
		return nil, err
	}
	if sock.Closed() { // before the spec, as the NIF
		return &sockdv1.GetOptNativeResponse{Error: socketError(engine.ErrClosed)}, nil
	}
	var spec options.NativeSpec
	switch sp := r.GetSpec().GetSpec().(type) {
	case *sockdv1.NativeValueSpec_Int:
		spec.Int = true
	case *sockdv1.NativeValueSpec_Bool:
		spec.Bool = true
	case *sockdv1.NativeValueSpec_Size:
		spec.Size = int(sp.Size) // lossless where sockd runs (64-bit int): a refusal names the size asked for
	case *sockdv1.NativeValueSpec_Buffer:
		spec.Buffer = sp.Buffer
		if spec.Buffer == nil {
			spec.Buffer = []byte{}
		}
	default:
		return &sockdv1.GetOptNativeResponse{Error: invalid("value_spec", "none")}, nil
	}
	v, err := options.GetNative(sock, int(r.GetLevel()), int(r.GetName()), spec)
	if se, err := outcome(err); se != nil || err != nil {
		return &sockdv1.GetOptNativeResponse{Error: se}, err
	}
	out := &sockdv1.NativeValue{}
	switch x := v.(type) {
	case int:
		out.Value = &sockdv1.NativeValue_IntValue{IntValue: int64(x)}
	case bool:
		out.Value = &sockdv1.NativeValue_BoolValue{BoolValue: x}
	case []byte:
		out.Value = &sockdv1.NativeValue_BytesValue{BytesValue: x}
	}
	return &sockdv1.GetOptNativeResponse{Value: out}, nil
}

// Supports implements sockdv1.SocketServiceServer: socket:supports/0,1,2.
func (s *Service) Supports(ctx context.Context, r *sockdv1.SupportsRequest) (*sockdv1.SupportsResponse, error) {
	if _, err := s.principal(ctx); err != nil {
		return nil, err
	}
	if _, known := sockdv1.OptionLevel_name[int32(r.GetLevel())]; !known {
		return nil, invalidArgument("level", "unknown option level %d", r.GetLevel())
	}
	resp := &sockdv1.SupportsResponse{}
	key := r.GetKey()
	if key == "" || key == "options" {
		for i := range options.Table {
			o := &options.Table[i]
			if r.GetLevel() != sockdv1.OptionLevel_OPTION_LEVEL_UNSPECIFIED && int(r.GetLevel()) != int(o.Level) {
				continue
			}
			resp.Options = append(resp.Options, &sockdv1.OptionSupport{
				Key:       &sockdv1.OptionKey{Level: sockdv1.OptionLevel(o.Level), Name: o.Name},
				ValueType: o.Type.String(),
				Set:       o.Set,
				Get:       o.Get,
				Supported: s.options.Supported(o),
				Notes:     o.Notes,
			})
		}
	}
	if key != "options" {
		resp.Features = make(map[string]bool)
		for name, ok := range s.features() {
			// supports() lists everything; supports(msg_flags) the
			// msg_flags.* entries; supports(ipv6) that one.
			if category, _, _ := strings.Cut(name, "."); key == "" || key == name || key == category {
				resp.Features[name] = ok
			}
		}
	}
	return resp, nil
}

// IsSupported implements sockdv1.SocketServiceServer: socket:is_supported/1,2,3.
func (s *Service) IsSupported(ctx context.Context, r *sockdv1.IsSupportedRequest) (*sockdv1.IsSupportedResponse, error) {
	if _, err := s.principal(ctx); err != nil {
		return nil, err
	}
	keys := r.GetKeys()
	if len(keys) == 0 || len(keys) > 3 {
		return nil, invalidArgument("keys", "want one to three keys, got %d", len(keys))
	}
	supported := false
	switch {
	case keys[0] == "options" && len(keys) == 1:
		supported = true
	case keys[0] == "options":
		name := strings.Join(keys[1:], ".")
		levelName, optName, _ := strings.Cut(name, ".")
		if level, err := options.ParseLevel(levelName); err == nil {
			if o, ok := options.Lookup(options.Key{Level: level, Name: optName}); ok {
				supported = s.options.Supported(o)
			}
		}
	case len(keys) == 1 && (keys[0] == "msg_flags" || keys[0] == "protocols"):
		supported = true // the categories this daemon offers (reference §6.7)
	case len(keys) == 1:
		supported = s.features()[keys[0]]
	case len(keys) == 2:
		supported = s.features()[keys[0]+"."+keys[1]] // ["msg_flags", "peek"]
	}
	return &sockdv1.IsSupportedResponse{Supported: supported}, nil
}

// features are the keys of socket:supports/0 other than options: the
// booleans (sctp, ipv6, local, netns, sendfile) and the members of the
// msg_flags and protocols lists as "msg_flags.peek", "protocols.tcp". There
// is no ioctl or sendfile call in this API, so no ioctl_requests or
// ioctl_flags list, and sendfile is false.
func (s *Service) features() map[string]bool {
	f := map[string]bool{
		"sctp":     s.options.SCTP,
		"ipv6":     s.options.IPv6,
		"local":    true,
		"netns":    true,
		"sendfile": false,
	}
	for _, m := range msgFlags {
		f["msg_flags."+enumname.Of(m.flag.Descriptor(), m.flag.Number())] = m.bit != 0
	}
	for p := range protocols {
		f["protocols."+enumname.Of(p.Descriptor(), p.Number())] = true
	}
	return f
}

// hostOptions is the probed host, probing now if the daemon did not.
func hostOptions(h *options.Host) *options.Host {
	if h != nil {
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), options.ProbeTimeout)
	defer cancel()
	return options.Probe(ctx)
}
