package tapstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cinchmesh/cinch/observe/event"
)

// MaxFrameSize bounds the length prefix of a raw frame. Real TapEvents are a
// few hundred bytes (a few KiB with extracted headers); a larger prefix means
// the input is not a tap stream, or the stream lost its framing.
const MaxFrameSize = 16 << 20

// Warning reasons counted by RawDecoder.
const (
	rawWarnEmptyFrame   = "empty frame"
	rawWarnUnknownField = "unknown protobuf field"
	rawWarnNoHTTP       = "event without http payload"
	rawWarnNoID         = "event without request id"
)

const (
	rawHeaderSize = 4
	rawMinBuffer  = 64 << 10
)

// RawDecoder decodes the raw viz tap stream: frames of a 4-byte little-endian
// length followed by a protobuf TapEvent.
//
// It decodes the protobuf by hand, without generated types, and allocates
// nothing per event in the steady state: frames are read into one reusable
// buffer, labels go through the Interner and Path/Authority are copied into
// the event's own byte slices.
//
// Errors that break the framing (truncated input, an absurd length, a read
// error) are final: Next keeps returning them. A frame whose protobuf is
// malformed is reported once; the next call continues with the next frame.
// DecodeError.Event counts frames, skipped ones included, and Offset is
// where the frame's length prefix starts.
//
// Event.Time is left zero: the stream carries no timestamps, so a live
// reader stamps events itself.
type RawDecoder struct {
	r  io.Reader
	in *event.Interner

	// buf[start:end] is input read but not yet consumed. The decoder reads
	// ahead as far as r lets it, so an unbuffered reader costs one Read per
	// many frames rather than two per frame.
	buf        []byte
	start, end int
	off        int64 // stream offset of buf[start]
	eof        bool  // r has returned io.EOF

	frames int   // frames started so far: the 1-based index of the current one
	err    error // sticky framing or read error
	warn   Warnings

	sawID   bool             // the current event carried a StreamId
	last    [numSlots]string // the previous value of each label, see intern
	scratch []byte           // upper-casing unregistered methods
}

var _ Decoder = (*RawDecoder)(nil)

// NewRawDecoder returns a decoder reading the raw stream from r. Labels are
// interned through in; a nil in gets a private interner.
func NewRawDecoder(r io.Reader, in *event.Interner) *RawDecoder {
	if in == nil {
		in = event.NewInterner(event.DefaultInternLimit)
	}
	return &RawDecoder{r: r, in: in, warn: Warnings{}}
}

// Warnings returns the counts of input skipped so far, by reason. The map is
// the decoder's own and keeps counting on later calls to Next.
func (d *RawDecoder) Warnings() Warnings { return d.warn }

// Next decodes the next event into ev, skipping (and counting) empty frames
// and events that carry no HTTP payload or request id.
func (d *RawDecoder) Next(ev *event.Event) error {
	for {
		ev.Reset()
		if d.err != nil {
			return d.err
		}
		frameOff := d.off
		if err := d.fill(rawHeaderSize); err != nil {
			if err == io.EOF && d.end == d.start {
				d.err = io.EOF // clean end between frames
				return io.EOF
			}
			d.frames++
			if err == io.EOF {
				err = fmt.Errorf("%w (frame header: %d of %d bytes present)", ErrTruncated, d.end-d.start, rawHeaderSize)
			}
			return d.fail(frameOff, err)
		}
		d.frames++
		size := binary.LittleEndian.Uint32(d.buf[d.start:])
		if size > MaxFrameSize {
			return d.fail(frameOff, fmt.Errorf("frame length %d exceeds limit %d bytes: not a raw tap stream, or corrupt", size, MaxFrameSize))
		}
		if size == 0 {
			d.warn.Add(rawWarnEmptyFrame)
			d.consume(rawHeaderSize)
			continue
		}
		total := rawHeaderSize + int(size)
		if err := d.fill(total); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w (frame of %d bytes, %d present)", ErrTruncated, size, d.end-d.start-rawHeaderSize)
			}
			return d.fail(frameOff, err)
		}
		body := d.buf[d.start+rawHeaderSize : d.start+total]
		d.consume(total)

		skip, err := d.decodeEvent(body, ev)
		if err != nil {
			// The framing is intact: report this event, let the caller go on.
			return &DecodeError{Format: FormatRaw, Event: d.frames, Offset: frameOff, Err: err}
		}
		if skip != "" {
			d.warn.Add(skip)
			continue
		}
		return nil
	}
}

// fail records a final error for the frame starting at off.
func (d *RawDecoder) fail(off int64, err error) error {
	d.err = &DecodeError{Format: FormatRaw, Event: d.frames, Offset: off, Err: err}
	return d.err
}

// fill makes at least n unconsumed bytes available in buf[start:end]. It
// returns io.EOF when the input ends first.
func (d *RawDecoder) fill(n int) error {
	if d.end-d.start >= n {
		return nil
	}
	if len(d.buf) < n {
		nb := make([]byte, max(n, 2*len(d.buf), rawMinBuffer))
		d.end = copy(nb, d.buf[d.start:d.end])
		d.start, d.buf = 0, nb
	} else if len(d.buf)-d.start < n {
		d.end = copy(d.buf, d.buf[d.start:d.end])
		d.start = 0
	}
	for empty := 0; d.end-d.start < n; {
		if d.eof {
			return io.EOF
		}
		m, err := d.r.Read(d.buf[d.end:])
		d.end += m
		switch {
		case err == io.EOF:
			d.eof = true
		case err != nil:
			return err
		case m == 0:
			// Guard against readers that never make progress, as bufio does.
			if empty++; empty >= 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

func (d *RawDecoder) consume(n int) {
	d.start += n
	d.off += int64(n)
}

// Protobuf schema. Each message lists its known fields by number: the name
// (for error messages) and the wire type it must have. Fields not listed are
// skipped.

type pbFieldSpec struct {
	name string
	typ  protowire.Type
}

const (
	wireVarint  = protowire.VarintType
	wireFixed32 = protowire.Fixed32Type
	wireFixed64 = protowire.Fixed64Type
	wireBytes   = protowire.BytesType
)

var (
	tapEventSpec = []pbFieldSpec{
		1: {"source", wireBytes},
		2: {"destination", wireBytes},
		3: {"http", wireBytes},
		4: {"destination_meta", wireBytes},
		5: {"source_meta", wireBytes},
		6: {"proxy_direction", wireVarint},
		7: {"route_meta", wireBytes},
	}
	tcpAddressSpec   = []pbFieldSpec{1: {"ip", wireBytes}, 2: {"port", wireVarint}}
	ipAddressSpec    = []pbFieldSpec{1: {"ipv4", wireFixed32}, 2: {"ipv6", wireBytes}}
	ipv6Spec         = []pbFieldSpec{1: {"first", wireFixed64}, 2: {"last", wireFixed64}}
	endpointMetaSpec = []pbFieldSpec{1: {"labels", wireBytes}}
	mapEntrySpec     = []pbFieldSpec{1: {"key", wireBytes}, 2: {"value", wireBytes}}
	httpSpec         = []pbFieldSpec{1: {"request_init", wireBytes}, 2: {"response_init", wireBytes}, 3: {"response_end", wireBytes}}
	streamIDSpec     = []pbFieldSpec{1: {"base", wireVarint}, 2: {"stream", wireVarint}}
	requestInitSpec  = []pbFieldSpec{
		1: {"id", wireBytes},
		2: {"method", wireBytes},
		3: {"scheme", wireBytes},
		4: {"authority", wireBytes},
		5: {"path", wireBytes},
		6: {"headers", wireBytes},
	}
	// HttpMethod and Scheme: oneof registered enum | unregistered string.
	registeredSpec   = []pbFieldSpec{1: {"registered", wireVarint}, 2: {"unregistered", wireBytes}}
	headersSpec      = []pbFieldSpec{1: {"headers", wireBytes}}
	headerSpec       = []pbFieldSpec{1: {"name", wireBytes}, 2: {"value_str", wireBytes}, 3: {"value_bin", wireBytes}}
	responseInitSpec = []pbFieldSpec{
		1: {"id", wireBytes},
		2: {"since_request_init", wireBytes},
		3: {"http_status", wireVarint},
		4: {"headers", wireBytes},
	}
	responseEndSpec = []pbFieldSpec{
		1: {"id", wireBytes},
		2: {"since_request_init", wireBytes},
		3: {"since_response_init", wireBytes},
		4: {"response_bytes", wireVarint},
		5: {"eos", wireBytes},
		6: {"trailers", wireBytes},
	}
	durationSpec = []pbFieldSpec{1: {"seconds", wireVarint}, 2: {"nanos", wireVarint}}
	eosSpec      = []pbFieldSpec{1: {"grpc_status_code", wireVarint}, 2: {"reset_error_code", wireVarint}}
)

// pbFields iterates over the fields of one message:
//
//	f := pbFields{b: b, spec: someSpec}
//	for f.next() {
//		switch f.num { ... }
//	}
//	return f.err
//
// It works in place rather than returning each field, which keeps the hot
// loop in registers and measurably faster.
type pbFields struct {
	b    []byte        // what is left of the message
	spec []pbFieldSpec // its known fields
	err  error         // why next returned false, nil at the end of b

	// The current field. num is 0 for a field not in spec, which next has
	// skipped.
	num protowire.Number
	val uint64 // varint, fixed32 and fixed64 values
	v   []byte // length-delimited value, aliasing the input
}

// next decodes the field at the start of f.b. It returns false at the end
// of the message or on malformed input (f.err). A known field with the wrong
// wire type is malformed.
func (f *pbFields) next() bool {
	if len(f.b) == 0 {
		return false
	}
	num, typ, n := protowire.ConsumeTag(f.b)
	if n < 0 {
		f.err = &protoError{err: fmt.Errorf("field tag: %w", protowire.ParseError(n))}
		return false
	}
	b := f.b[n:]
	if int(num) >= len(f.spec) || f.spec[num].name == "" {
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			f.err = &protoError{err: fmt.Errorf("unknown field %d: %w", num, protowire.ParseError(m))}
			return false
		}
		f.num, f.b = 0, b[m:]
		return true
	}
	if want := f.spec[num].typ; typ != want {
		f.err = &protoError{path: f.spec[num].name, err: fmt.Errorf("wire type %s, want %s", wireTypeName(typ), wireTypeName(want))}
		return false
	}
	var m int
	switch typ {
	case protowire.VarintType:
		f.val, m = protowire.ConsumeVarint(b)
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(b)
		f.val = uint64(v)
	case protowire.Fixed64Type:
		f.val, m = protowire.ConsumeFixed64(b)
	case protowire.BytesType:
		f.v, m = protowire.ConsumeBytes(b)
	}
	if m < 0 {
		f.err = &protoError{path: f.spec[num].name, err: protowire.ParseError(m)}
		return false
	}
	f.num, f.b = num, b[m:]
	return true
}

func wireTypeName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "length-delimited"
	case protowire.StartGroupType, protowire.EndGroupType:
		return "group"
	}
	return fmt.Sprintf("reserved (%d)", t)
}

// protoError is malformed protobuf, with the dotted path of the field at
// fault, e.g. "TapEvent.http.request_init.path".
type protoError struct {
	path string
	err  error
}

func (e *protoError) Error() string {
	return fmt.Sprintf("malformed protobuf at %s: %v", e.path, e.err)
}

func (e *protoError) Unwrap() error { return e.err }

// nestField prefixes the path of a protoError raised inside the field name.
func nestField(name string, err error) error {
	var pe *protoError
	if errors.As(err, &pe) {
		if pe.path == "" {
			pe.path = name
		} else {
			pe.path = name + "." + pe.path
		}
	}
	return err
}

// decodeEvent decodes one TapEvent into ev. A non-empty skip is the warning
// under which the event is dropped.
func (d *RawDecoder) decodeEvent(b []byte, ev *event.Event) (skip string, err error) {
	d.sawID = false
	f := pbFields{b: b, spec: tapEventSpec}
	for f.next() {
		switch f.num {
		case 0:
			d.warn.Add(rawWarnUnknownField)
		case 1:
			err = decodeTCPAddress(f.v, &ev.Source)
		case 2:
			err = decodeTCPAddress(f.v, &ev.Destination)
		case 3:
			err = d.decodeHTTP(f.v, ev)
		case 4:
			err = d.decodeEndpointMeta(f.v, &ev.Destination, &ev.Policy)
		case 5:
			err = d.decodeEndpointMeta(f.v, &ev.Source, nil)
		case 6:
			switch f.val {
			case 1:
				ev.Direction = event.Inbound
			case 2:
				ev.Direction = event.Outbound
			default:
				ev.Direction = event.DirectionUnknown
			}
		case 7:
			// route_meta: ServiceProfile route labels, not used.
		}
		if err != nil {
			return "", nestField("TapEvent."+tapEventSpec[f.num].name, err)
		}
	}
	if f.err != nil {
		return "", nestField("TapEvent", f.err)
	}
	switch {
	case ev.Kind == event.KindUnknown:
		return rawWarnNoHTTP, nil
	case !d.sawID:
		return rawWarnNoID, nil
	}
	return "", nil
}

func decodeTCPAddress(b []byte, p *event.Peer) error {
	if fastTCPAddress(b, p) {
		return nil
	}
	return decodeTCPAddressFields(b, p)
}

// decodeTCPAddressFields decodes a TcpAddress in any encoding.
func decodeTCPAddressFields(b []byte, p *event.Peer) error {
	f := pbFields{b: b, spec: tcpAddressSpec}
	for f.next() {
		switch f.num {
		case 1:
			if err := decodeIPAddress(f.v, &p.IP); err != nil {
				return nestField("ip", err)
			}
		case 2:
			p.Port = uint32(f.val)
		}
	}
	return f.err
}

// fastTCPAddress decodes the usual encoding of a TcpAddress, an IPv4 address
// then a port, without the generic field decoder: the two addresses of an
// event cost a tenth of its decoding that way. It reports false, touching
// nothing, for any other encoding.
func fastTCPAddress(b []byte, p *event.Peer) bool {
	const (
		ipTag   = 1<<3 | byte(protowire.BytesType)
		ipv4Tag = 1<<3 | byte(protowire.Fixed32Type)
		portTag = 2<<3 | byte(protowire.VarintType)
	)
	if len(b) < 9 || b[0] != ipTag || b[1] != 5 || b[2] != ipv4Tag || b[7] != portTag {
		return false
	}
	port, n := protowire.ConsumeVarint(b[8:])
	if n != len(b)-8 {
		return false
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b[3:7]))
	p.IP, p.Port = netip.AddrFrom4(a), uint32(port)
	return true
}

func decodeIPAddress(b []byte, ip *netip.Addr) error {
	f := pbFields{b: b, spec: ipAddressSpec}
	for f.next() {
		switch f.num {
		case 1:
			// The fixed32 holds the address in network order as a number:
			// 10.42.0.21 is 0x0A2A0015.
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], uint32(f.val))
			*ip = netip.AddrFrom4(a)
		case 2:
			if err := decodeIPv6(f.v, ip); err != nil {
				return nestField("ipv6", err)
			}
		}
	}
	return f.err
}

func decodeIPv6(b []byte, ip *netip.Addr) error {
	var a [16]byte
	f := pbFields{b: b, spec: ipv6Spec}
	for f.next() {
		switch f.num {
		case 1: // hextets 1-4
			binary.BigEndian.PutUint64(a[:8], f.val)
		case 2: // hextets 5-8
			binary.BigEndian.PutUint64(a[8:], f.val)
		}
	}
	*ip = netip.AddrFrom16(a)
	return f.err
}

// decodeEndpointMeta applies the labels of an EndpointMeta to p. pol is nil
// for the source; it receives the destination's policy labels.
func (d *RawDecoder) decodeEndpointMeta(b []byte, p *event.Peer, pol *event.Policy) error {
	for len(b) > 0 {
		// Labels are most of a TapEvent's bytes: take the common encoding
		// of an entry (short lengths, key then value) without the generic
		// field decoder, which costs about twice as much.
		if key, val, n, ok := fastLabel(b); ok {
			d.setLabel(key, val, p, pol)
			b = b[n:]
			continue
		}
		f := pbFields{b: b, spec: endpointMetaSpec}
		if !f.next() {
			return f.err
		}
		b = f.b
		if f.num != 1 {
			continue
		}
		var key, val []byte
		e := pbFields{b: f.v, spec: mapEntrySpec}
		for e.next() {
			switch e.num {
			case 1:
				key = e.v
			case 2:
				val = e.v
			}
		}
		if e.err != nil {
			return nestField("labels", e.err)
		}
		d.setLabel(key, val, p, pol)
	}
	return nil
}

// fastLabel decodes a labels entry at the start of b when it has the usual
// form: tag, length < 128, and inside it the key then the value, each with a
// length < 128. n is the length consumed; ok is false for any other form.
func fastLabel(b []byte) (key, val []byte, n int, ok bool) {
	const (
		labelsTag = 1<<3 | byte(protowire.BytesType)
		keyTag    = 1<<3 | byte(protowire.BytesType)
		valueTag  = 2<<3 | byte(protowire.BytesType)
	)
	if len(b) < 2 || b[0] != labelsTag || b[1] >= 0x80 {
		return nil, nil, 0, false
	}
	n = 2 + int(b[1])
	if n > len(b) {
		return nil, nil, 0, false
	}
	e := b[2:n]
	if len(e) < 4 || e[0] != keyTag || e[1] >= 0x80 {
		return nil, nil, 0, false
	}
	k := 2 + int(e[1])
	if k+2 > len(e) || e[k] != valueTag || e[k+1] >= 0x80 || k+2+int(e[k+1]) != len(e) {
		return nil, nil, 0, false
	}
	return e[2:k], e[k+2:], n, true
}

// Slots of RawDecoder.last: one per label-fed string field of an event.
const (
	slotNamespace = iota
	slotPod
	slotServiceAccount
	slotNode
	slotTLS
	slotIdentity
	slotService
	slotOwner
	peerSlots // the slots above are per peer: source first, then destination
)

const (
	slotServerGroup = 2*peerSlots + iota
	slotServerKind
	slotServerName
	slotRouteGroup
	slotRouteKind
	slotRouteName
	slotAuthzGroup
	slotAuthzKind
	slotAuthzName
	numSlots
)

// intern returns the interned string for a label value. Consecutive events
// mostly carry the same labels (a tap watches a few pods, and an exchange
// reports three events), so comparing with the previous value of the same
// field first saves most map lookups: about 80% on the upstream captures,
// worth 7% of the decoding time.
func (d *RawDecoder) intern(slot int, val []byte) string {
	if s := d.last[slot]; s == string(val) {
		return s
	}
	s := d.in.Bytes(val)
	d.last[slot] = s
	return s
}

// setLabel maps one label to the peer (or policy) field it feeds. Only the
// labels the event model has a place for are interned.
func (d *RawDecoder) setLabel(key, val []byte, p *event.Peer, pol *event.Policy) {
	dst := pol != nil
	side := 0
	if dst {
		side = peerSlots
	}
	var (
		s    *string
		slot int
	)
	switch string(key) { // no allocation: the compiler compares in place
	case "namespace":
		s, slot = &p.Namespace, side+slotNamespace
	case "pod":
		s, slot = &p.Pod, side+slotPod
	case "serviceaccount":
		s, slot = &p.ServiceAccount, side+slotServiceAccount
	case "node":
		s, slot = &p.Node, side+slotNode
	case "tls":
		if v := tlsValue(val); v != "" {
			p.TLS = v
			return
		}
		s, slot = &p.TLS, side+slotTLS
	case "client_id":
		if !dst {
			s, slot = &p.Identity, side+slotIdentity
		}
	case "server_id":
		if dst {
			s, slot = &p.Identity, side+slotIdentity
		}
	case "service":
		if dst {
			s, slot = &p.Service, side+slotService
		}
	case "cronjob":
		d.setOwner(p, side, "cronjob", val)
	case "k8s_job":
		d.setOwner(p, side, "k8s_job", val)
	case "job":
		d.setOwner(p, side, "job", val)
	case "deployment":
		d.setOwner(p, side, "deployment", val)
	case "statefulset":
		d.setOwner(p, side, "statefulset", val)
	case "daemonset":
		d.setOwner(p, side, "daemonset", val)
	case "replicationcontroller":
		d.setOwner(p, side, "replicationcontroller", val)
	case "replicaset":
		d.setOwner(p, side, "replicaset", val)
	}
	if dst {
		switch string(key) {
		case "srv_group":
			s, slot = &pol.ServerGroup, slotServerGroup
		case "srv_kind":
			s, slot = &pol.ServerKind, slotServerKind
		case "srv_name":
			s, slot = &pol.ServerName, slotServerName
		case "route_group":
			s, slot = &pol.RouteGroup, slotRouteGroup
		case "route_kind":
			s, slot = &pol.RouteKind, slotRouteKind
		case "route_name":
			s, slot = &pol.RouteName, slotRouteName
		case "authz_group":
			s, slot = &pol.AuthzGroup, slotAuthzGroup
		case "authz_kind":
			s, slot = &pol.AuthzKind, slotAuthzKind
		case "authz_name":
			s, slot = &pol.AuthzName, slotAuthzName
		}
	}
	if s != nil {
		*s = d.intern(slot, val)
	}
}

// tlsValue returns the common values of the tls label as constants, "" for
// any other. An inbound and an outbound event of one exchange differ in it
// ("true" and "loopback"), so the previous value intern compares with is
// mostly the other one: this saves an interner lookup on most events.
func tlsValue(val []byte) string {
	switch string(val) {
	case "true":
		return "true"
	case "loopback":
		return "loopback"
	case "no_identity":
		return "no_identity"
	case "no_tls_from_remote":
		return "no_tls_from_remote"
	}
	return ""
}

// setOwner records an owner label unless a more significant one is already
// set: the tap server labels a pod with its whole owner chain (a Deployment's
// pod also carries its ReplicaSet; a CronJob's, its Job), and the top of the
// chain is what a policy is written for.
func (d *RawDecoder) setOwner(p *event.Peer, side int, kind string, val []byte) {
	if len(val) == 0 || ownerSignificance(kind) < ownerSignificance(p.OwnerKind) {
		return
	}
	p.OwnerKind, p.Owner = kind, d.intern(side+slotOwner, val)
}

func (d *RawDecoder) decodeHTTP(b []byte, ev *event.Event) error {
	f := pbFields{b: b, spec: httpSpec}
	for f.next() {
		var err error
		switch f.num {
		case 1:
			ev.Kind = event.RequestInit
			err = d.decodeRequestInit(f.v, ev)
		case 2:
			ev.Kind = event.ResponseInit
			err = d.decodeResponseInit(f.v, ev)
		case 3:
			ev.Kind = event.ResponseEnd
			err = d.decodeResponseEnd(f.v, ev)
		}
		if err != nil {
			return nestField(httpSpec[f.num].name, err)
		}
	}
	return f.err
}

func (d *RawDecoder) decodeStreamID(b []byte, id *event.StreamID) error {
	d.sawID = true
	f := pbFields{b: b, spec: streamIDSpec}
	for f.next() {
		switch f.num {
		case 1:
			id.Base = uint32(f.val)
		case 2:
			id.Stream = f.val
		}
	}
	return f.err
}

func (d *RawDecoder) decodeRequestInit(b []byte, ev *event.Event) error {
	f := pbFields{b: b, spec: requestInitSpec}
	for f.next() {
		var err error
		switch f.num {
		case 1:
			err = d.decodeStreamID(f.v, &ev.ID)
		case 2:
			ev.Method, err = d.decodeMethod(f.v)
		case 3:
			ev.Scheme, err = d.decodeScheme(f.v)
		case 4:
			ev.Authority = append(ev.Authority[:0], f.v...)
		case 5:
			ev.Path = append(ev.Path[:0], f.v...)
		case 6:
			err = d.decodeRequestHeaders(f.v, ev)
		}
		if err != nil {
			return nestField(requestInitSpec[f.num].name, err)
		}
	}
	return f.err
}

// httpMethodNames are the HttpMethod.Registered enum values, in order.
var httpMethodNames = [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "HEAD", "TRACE"}

var httpSchemeNames = [...]string{"HTTP", "HTTPS"}

// decodeRegistered decodes an HttpMethod or Scheme: oneof registered enum
// (reg, isReg) or unregistered string.
func decodeRegistered(b []byte) (reg uint64, isReg bool, unreg []byte, err error) {
	f := pbFields{b: b, spec: registeredSpec}
	for f.next() {
		switch f.num {
		case 1:
			reg, isReg, unreg = f.val, true, nil
		case 2:
			reg, isReg, unreg = 0, false, f.v
		}
	}
	return reg, isReg, unreg, f.err
}

func (d *RawDecoder) decodeMethod(b []byte) (string, error) {
	reg, isReg, unreg, err := decodeRegistered(b)
	if err != nil {
		return "", err
	}
	if isReg {
		if reg >= uint64(len(httpMethodNames)) {
			return "", &protoError{path: "registered", err: fmt.Errorf("unknown HTTP method enum value %d", reg)}
		}
		return httpMethodNames[reg], nil
	}
	// Methods are case-sensitive tokens, but the event model keeps them upper
	// case; only lower-case input pays for the copy.
	if bytes.IndexFunc(unreg, isLowerASCII) >= 0 {
		d.scratch = append(d.scratch[:0], unreg...)
		for i, c := range d.scratch {
			if 'a' <= c && c <= 'z' {
				d.scratch[i] = c - ('a' - 'A')
			}
		}
		unreg = d.scratch
	}
	return d.in.Bytes(unreg), nil
}

func isLowerASCII(r rune) bool { return 'a' <= r && r <= 'z' }

func (d *RawDecoder) decodeScheme(b []byte) (string, error) {
	reg, isReg, unreg, err := decodeRegistered(b)
	if err != nil {
		return "", err
	}
	if isReg {
		if reg >= uint64(len(httpSchemeNames)) {
			return "", &protoError{path: "registered", err: fmt.Errorf("unknown scheme enum value %d", reg)}
		}
		return httpSchemeNames[reg], nil
	}
	return d.in.Bytes(unreg), nil
}

var contentTypeName = []byte("content-type")

// decodeRequestHeaders keeps only content-type: it tells gRPC from plain
// HTTP. Headers are present only when the tap request asked to extract them.
func (d *RawDecoder) decodeRequestHeaders(b []byte, ev *event.Event) error {
	f := pbFields{b: b, spec: headersSpec}
	for f.next() {
		if f.num != 1 {
			continue
		}
		var name, value []byte
		h := pbFields{b: f.v, spec: headerSpec}
		for h.next() {
			switch h.num {
			case 1:
				name = h.v
			case 2, 3:
				value = h.v
			}
		}
		if h.err != nil {
			return nestField("headers", h.err)
		}
		if bytes.EqualFold(name, contentTypeName) {
			ev.ContentType = d.in.Bytes(value)
		}
	}
	return f.err
}

func (d *RawDecoder) decodeResponseInit(b []byte, ev *event.Event) error {
	f := pbFields{b: b, spec: responseInitSpec}
	for f.next() {
		var err error
		switch f.num {
		case 1:
			err = d.decodeStreamID(f.v, &ev.ID)
		case 2:
			ev.SinceRequestInit, err = decodeDuration(f.v)
		case 3:
			ev.HTTPStatus = uint32(f.val)
		case 4:
			// Response headers: not used.
		}
		if err != nil {
			return nestField(responseInitSpec[f.num].name, err)
		}
	}
	return f.err
}

func (d *RawDecoder) decodeResponseEnd(b []byte, ev *event.Event) error {
	f := pbFields{b: b, spec: responseEndSpec}
	for f.next() {
		var err error
		switch f.num {
		case 1:
			err = d.decodeStreamID(f.v, &ev.ID)
		case 2:
			ev.SinceRequestInit, err = decodeDuration(f.v)
		case 3:
			ev.SinceResponseInit, err = decodeDuration(f.v)
		case 4:
			ev.ResponseBytes = f.val
		case 5:
			err = decodeEos(f.v, ev)
		case 6:
			// Trailers: not used.
		}
		if err != nil {
			return nestField(responseEndSpec[f.num].name, err)
		}
	}
	return f.err
}

// decodeDuration decodes a google.protobuf.Duration.
func decodeDuration(b []byte) (time.Duration, error) {
	var secs, nanos int64
	f := pbFields{b: b, spec: durationSpec}
	for f.next() {
		switch f.num {
		case 1:
			secs = int64(f.val)
		case 2:
			nanos = int64(int32(f.val))
		}
	}
	if f.err != nil {
		return 0, f.err
	}
	const maxSecs = int64(1<<63-1) / int64(time.Second)
	if secs > maxSecs || secs < -maxSecs {
		return 0, &protoError{path: "seconds", err: fmt.Errorf("duration of %d s out of range", secs)}
	}
	return time.Duration(secs)*time.Second + time.Duration(nanos), nil
}

func decodeEos(b []byte, ev *event.Event) error {
	f := pbFields{b: b, spec: eosSpec}
	for f.next() {
		switch f.num {
		case 1:
			ev.End, ev.GRPCStatus, ev.ResetCode = event.EndGRPC, uint32(f.val), 0
		case 2:
			ev.End, ev.GRPCStatus, ev.ResetCode = event.EndReset, 0, uint32(f.val)
		}
	}
	return f.err
}
