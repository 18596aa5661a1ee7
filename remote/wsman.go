package remote

// A WS-Management Receive answer, read in one pass.
//
// The library parses every answer into a tree (encoding/xml, byte by byte)
// and runs XPath over it: for a command that prints a megabyte, that was
// half of what a Windows host cost fleettune's CPU. What a Receive answer
// says is small (its output streams, whether the command is done, its exit
// code), so parseReceive reads just that, in linear time, with the same
// meaning as the library's ParseSlurpOutputErrResponse:
//
//   - every {shell}Stream element whose Name attribute is stdout or
//     stderr, its text base64-decoded, in document order;
//   - done when any element has State="…/CommandState/Done";
//   - the exit code is the text of the first {shell}ExitCode element.
//
// Names are matched by namespace URI, not prefix, as the library's
// namespace-aware XPath does. Unlike the library, an answer whose base64 or
// exit code does not parse is an error, not silently dropped output.

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

const (
	nsWinShell    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsXML         = "http://www.w3.org/XML/1998/namespace"
	stateDone     = nsWinShell + "/CommandState/Done"
	wsmanMaxDepth = 64  // element nesting; a Receive answer has 5
	wsmanMaxAttrs = 256 // attributes of one element
)

// receiveAnswer is what one Receive answer says beyond its output.
type receiveAnswer struct {
	done     bool
	exitCode int
	streams  bool // it has Stream elements (output, or the streams' end)
	fault    bool // it has a Fault element: parseFault says which
}

// wsmanAttr is one attribute of the start tag being read.
type wsmanAttr struct {
	prefix, local, value string
}

// wsmanNS is one namespace declaration in scope, made at depth.
type wsmanNS struct {
	prefix, uri string
	depth       int
}

// receiveParser holds the state of one parseReceive.
type receiveParser struct {
	s     string
	i     int
	ns    []wsmanNS
	names []string // the open elements' qualified names
	attrs []wsmanAttr
	// capture is the element whose text is being collected: a Stream (its
	// stream name in stream) or the first ExitCode; depth is its depth.
	capturing    bool
	captureDepth int
	stream       string // "stdout", "stderr", "" for ExitCode, "-" for a Stream not read
	text         []string
	sawExit      bool
	root         bool
}

// parseReceive reads a Receive answer, handing each output stream's
// decoded bytes to write in document order. write's error stops the parse
// and is returned as it is.
func parseReceive(body string, write func(stream string, p []byte) error) (receiveAnswer, error) {
	p := &receiveParser{s: body, ns: []wsmanNS{{"xml", nsXML, 0}}}
	var a receiveAnswer
	fail := func(format string, args ...any) (receiveAnswer, error) {
		return receiveAnswer{}, fmt.Errorf("WS-Management Receive answer: offset %d: %s", p.i, fmt.Sprintf(format, args...))
	}
	for p.i < len(p.s) {
		lt := strings.IndexByte(p.s[p.i:], '<')
		if lt < 0 {
			lt = len(p.s) - p.i
		}
		if text := p.s[p.i : p.i+lt]; text != "" {
			if len(p.names) == 0 {
				if strings.Trim(text, " \t\r\n") != "" {
					return fail("text outside the root element")
				}
			} else if p.capturing {
				p.text = append(p.text, text)
			}
		}
		p.i += lt
		if p.i >= len(p.s) {
			break
		}
		rest := p.s[p.i:]
		switch {
		case strings.HasPrefix(rest, "<?"):
			end := strings.Index(rest, "?>")
			if end < 0 {
				return fail("unterminated processing instruction")
			}
			p.i += end + 2
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return fail("unterminated comment")
			}
			p.i += 4 + end + 3
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest, "]]>")
			if end < 0 {
				return fail("unterminated CDATA section")
			}
			if len(p.names) == 0 {
				return fail("CDATA outside the root element")
			}
			if p.capturing {
				// Raw text: mark it so that entities in it are not decoded.
				p.text = append(p.text, "\x00"+rest[9:end])
			}
			p.i += end + 3
		case strings.HasPrefix(rest, "<!"):
			return fail("a document type declaration is not allowed")
		case strings.HasPrefix(rest, "</"):
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return fail("unterminated end tag")
			}
			name := strings.TrimRight(rest[2:end], " \t\r\n")
			if len(p.names) == 0 || p.names[len(p.names)-1] != name {
				return fail("end tag </%s> does not close the open element", clip(name))
			}
			depth := len(p.names)
			if p.capturing && p.captureDepth == depth {
				if err := p.finish(&a, write); err != nil {
					return receiveAnswer{}, err
				}
			}
			p.names = p.names[:depth-1]
			p.popNS(depth)
			p.i += end + 1
		default:
			if err := p.startTag(&a, write); err != nil {
				return receiveAnswer{}, err
			}
		}
	}
	if !p.root {
		return fail("no root element")
	}
	if len(p.names) > 0 {
		return fail("element <%s> is not closed", clip(p.names[len(p.names)-1]))
	}
	return a, nil
}

// startTag reads the start tag at p.i.
func (p *receiveParser) startTag(a *receiveAnswer, write func(string, []byte) error) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("WS-Management Receive answer: offset %d: %s", p.i, fmt.Sprintf(format, args...))
	}
	if len(p.names) == 0 && p.root {
		return fail("a second root element")
	}
	j := p.i + 1
	name, j := p.name(j)
	if !validQName(name) {
		return fail("expected an element name after <")
	}
	p.attrs = p.attrs[:0]
	selfClose := false
	for {
		j = p.space(j)
		if j >= len(p.s) {
			return fail("unterminated start tag <%s", clip(name))
		}
		if p.s[j] == '>' {
			j++
			break
		}
		if strings.HasPrefix(p.s[j:], "/>") {
			selfClose = true
			j += 2
			break
		}
		if !isSpace(p.s[j-1]) {
			return fail("expected a space before an attribute in <%s>", clip(name))
		}
		var an string
		an, j = p.name(j)
		if !validQName(an) {
			return fail("expected an attribute name in <%s>", clip(name))
		}
		j = p.space(j)
		if j >= len(p.s) || p.s[j] != '=' {
			return fail("attribute %s of <%s> has no value", clip(an), clip(name))
		}
		j = p.space(j + 1)
		if j >= len(p.s) || (p.s[j] != '"' && p.s[j] != '\'') {
			return fail("attribute %s of <%s>: expected a quoted value", clip(an), clip(name))
		}
		q := p.s[j]
		end := strings.IndexByte(p.s[j+1:], q)
		if end < 0 {
			return fail("attribute %s of <%s>: unterminated value", clip(an), clip(name))
		}
		raw := p.s[j+1 : j+1+end]
		if strings.IndexByte(raw, '<') >= 0 {
			return fail("attribute %s of <%s>: '<' in a value", clip(an), clip(name))
		}
		v, err := xmlUnescape(raw)
		if err != nil {
			return fail("attribute %s of <%s>: %v", clip(an), clip(name), err)
		}
		j += end + 2
		if len(p.attrs) == wsmanMaxAttrs {
			return fail("more than %d attributes in <%s>", wsmanMaxAttrs, clip(name))
		}
		prefix, local := splitQName(an)
		p.attrs = append(p.attrs, wsmanAttr{prefix, local, v})
	}
	p.i = j
	depth := len(p.names) + 1
	if depth > wsmanMaxDepth {
		return fail("elements nested deeper than %d", wsmanMaxDepth)
	}
	for _, at := range p.attrs {
		switch {
		case at.prefix == "" && at.local == "xmlns":
			p.ns = append(p.ns, wsmanNS{"", at.value, depth})
		case at.prefix == "xmlns":
			if at.value == "" {
				return fail("namespace prefix %s declared empty", clip(at.local))
			}
			p.ns = append(p.ns, wsmanNS{at.local, at.value, depth})
		}
	}
	prefix, local := splitQName(name)
	uri, ok := p.lookup(prefix)
	if !ok {
		return fail("element <%s>: prefix %s is not declared", clip(name), clip(prefix))
	}
	for _, at := range p.attrs {
		if at.prefix != "" && at.prefix != "xmlns" {
			if _, ok := p.lookup(at.prefix); !ok {
				return fail("attribute %s:%s of <%s>: prefix %s is not declared", clip(at.prefix), clip(at.local), clip(name), clip(at.prefix))
			}
		}
		if at.prefix == "" && at.local == "State" && at.value == stateDone {
			a.done = true
		}
	}
	p.root = true
	if local == "Fault" {
		a.fault = true
	}
	if uri == nsWinShell && !p.capturing {
		switch {
		case local == "Stream":
			a.streams = true
			p.stream = "-"
			for _, at := range p.attrs {
				if at.prefix == "" && at.local == "Name" && (at.value == "stdout" || at.value == "stderr") {
					p.stream = at.value
				}
			}
			p.capturing, p.captureDepth, p.text = true, depth, p.text[:0]
		case local == "ExitCode" && !p.sawExit:
			p.sawExit = true
			p.stream = ""
			p.capturing, p.captureDepth, p.text = true, depth, p.text[:0]
		}
	}
	if selfClose {
		if p.capturing && p.captureDepth == depth {
			if err := p.finish(a, write); err != nil {
				return err
			}
		}
		p.popNS(depth)
		return nil
	}
	p.names = append(p.names, name)
	return nil
}

// finish ends the element being captured.
func (p *receiveParser) finish(a *receiveAnswer, write func(string, []byte) error) error {
	p.capturing = false
	text, err := p.joined()
	if err != nil {
		return fmt.Errorf("WS-Management Receive answer: offset %d: %v", p.i, err)
	}
	switch p.stream {
	case "-":
		return nil
	case "":
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("WS-Management Receive answer: ExitCode %q is not a number", clip(strings.TrimSpace(text)))
		}
		a.exitCode = n
		return nil
	}
	if text == "" {
		return nil
	}
	if err := decodeBase64(text, func(b []byte) error { return write(p.stream, b) }); err != nil {
		if errors.Is(err, errPastCap) {
			return err
		}
		return fmt.Errorf("WS-Management Receive answer: %s stream: %v", p.stream, err)
	}
	return nil
}

// base64Piece is how much base64 decodeBase64 decodes at a time: a
// multiple of 4 characters that decodes into one output chunk.
const base64Piece = outputChunk / 3 * 4

// decodeBase64 decodes text, as base64.StdEncoding.DecodeString would,
// handing the bytes to write in pieces decoded into a pooled buffer (a
// Receive answer carries up to 110 KiB of output). Text with line breaks,
// or padding before its end, is decoded whole, so that the pieces never
// change what is accepted. write's error comes back as it is.
func decodeBase64(text string, write func([]byte) error) error {
	if strings.ContainsAny(text, "\r\n") || len(text) > 4 && strings.IndexByte(text[:len(text)-4], '=') >= 0 {
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return err
		}
		return write(b)
	}
	buf := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(buf)
	dst := (*buf)[:outputChunk]
	// Decode only reads src: a view of text's bytes, not a copy.
	src := unsafe.Slice(unsafe.StringData(text), len(text))
	for off := 0; off < len(src); off += base64Piece {
		n, err := base64.StdEncoding.Decode(dst, src[off:min(off+base64Piece, len(src))])
		var bad base64.CorruptInputError
		if errors.As(err, &bad) {
			return base64.CorruptInputError(int64(bad) + int64(off))
		}
		if err != nil {
			return err
		}
		if err := write(dst[:n]); err != nil {
			return err
		}
	}
	return nil
}

// joined is the captured text, entities decoded (CDATA kept raw).
func (p *receiveParser) joined() (string, error) {
	if len(p.text) == 1 && !strings.HasPrefix(p.text[0], "\x00") && strings.IndexByte(p.text[0], '&') < 0 {
		return p.text[0], nil
	}
	var b strings.Builder
	for _, t := range p.text {
		if raw, ok := strings.CutPrefix(t, "\x00"); ok {
			b.WriteString(raw)
			continue
		}
		u, err := xmlUnescape(t)
		if err != nil {
			return "", err
		}
		b.WriteString(u)
	}
	return b.String(), nil
}

func (p *receiveParser) lookup(prefix string) (string, bool) {
	for k := len(p.ns) - 1; k >= 0; k-- {
		if p.ns[k].prefix == prefix {
			return p.ns[k].uri, true
		}
	}
	return "", prefix == "" // no default namespace: the empty one
}

func (p *receiveParser) popNS(depth int) {
	for len(p.ns) > 0 && p.ns[len(p.ns)-1].depth == depth {
		p.ns = p.ns[:len(p.ns)-1]
	}
}

// name reads an XML name at j (letters, digits and ._:- and any non-ASCII).
func (p *receiveParser) name(j int) (string, int) {
	start := j
	for j < len(p.s) {
		c := p.s[j]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '=' || c == '>' || c == '/' || c == '<' || c == '"' || c == '\'' {
			break
		}
		j++
	}
	return p.s[start:j], j
}

func (p *receiveParser) space(j int) int {
	for j < len(p.s) && isSpace(p.s[j]) {
		j++
	}
	return j
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// validQName reports whether n is a name, or prefix:local, each part
// starting with a letter, '_' or a non-ASCII byte and going on with those,
// digits, '.' and '-'.
func validQName(n string) bool {
	prefix, local := splitQName(n)
	return validNCName(local) && (prefix == "" && !strings.HasPrefix(n, ":") || validNCName(prefix))
}

func validNCName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func splitQName(n string) (prefix, local string) {
	if i := strings.IndexByte(n, ':'); i >= 0 {
		return n[:i], n[i+1:]
	}
	return "", n
}

var errBadEntity = errors.New("a malformed character or entity reference")

// xmlUnescape decodes XML's five entities and character references.
func xmlUnescape(s string) (string, error) {
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for amp >= 0 {
		b.WriteString(s[:amp])
		s = s[amp:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 || semi > 12 {
			return "", errBadEntity
		}
		ent := s[1:semi]
		switch ent {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			num, ok := strings.CutPrefix(ent, "#")
			if !ok || num == "" {
				return "", errBadEntity
			}
			base := 10
			if h, ok := strings.CutPrefix(num, "x"); ok {
				num, base = h, 16
			}
			n, err := strconv.ParseUint(num, base, 32)
			if err != nil || num == "" || num[0] == '+' || num[0] == '-' || !utf8.ValidRune(rune(n)) {
				return "", errBadEntity
			}
			b.WriteRune(rune(n))
		}
		s = s[semi+1:]
		amp = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String(), nil
}

// clip shortens host-supplied text quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

const (
	nsWSMan               = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsAddressing          = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	actionCommandResponse = nsWinShell + "/CommandResponse"
)

// wsmanFirst returns the text of the first element {space}local in an
// answer, one whose attribute attr (in no namespace) is want when attr is
// not "": the library's first(doc, "//p:Local[@Attr='want']"), read with
// encoding/xml's namespace-aware tokenizer in one pass instead of a tree
// and an XPath compiled for every answer (half a millisecond of a Windows
// host's Create). The text is all the element's character data, as
// XPath's string value is. ok is false when there is no such element; a
// document type declaration, or an answer that is not well-formed, is an
// error.
func wsmanFirst(body, space, local, attr, want string) (text string, ok bool, err error) {
	d := xml.NewDecoder(strings.NewReader(body))
	depth, capture := 0, 0
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if depth != 0 {
				return "", false, errors.New("the answer ends inside an element")
			}
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > wsmanMaxDepth {
				return "", false, fmt.Errorf("elements nested deeper than %d", wsmanMaxDepth)
			}
			if capture == 0 && t.Name.Space == space && t.Name.Local == local && (attr == "" || hasXMLAttr(t.Attr, attr, want)) {
				capture = depth
			}
		case xml.CharData:
			if capture > 0 {
				b.Write(t)
			}
		case xml.EndElement:
			if depth == capture {
				return b.String(), true, nil
			}
			depth--
		case xml.Directive:
			return "", false, errors.New("a document type declaration is not allowed")
		}
	}
}

func hasXMLAttr(attrs []xml.Attr, name, value string) bool {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == name && a.Value == value {
			return true
		}
	}
	return false
}

// parseCreateResponse reads the shell's id from the answer to Create, as
// the library's ParseOpenShellResponse does: //w:Selector[@Name='ShellId'].
func parseCreateResponse(body string) (string, error) {
	id, ok, err := wsmanFirst(body, nsWSMan, "Selector", "Name", "ShellId")
	if err != nil {
		return "", fmt.Errorf("the answer to Create: %w", err)
	}
	if !ok || id == "" {
		return "", errors.New("the answer to Create names no ShellId")
	}
	return id, nil
}

// parseCommandResponse reads the command's id from the answer to Command,
// as the library's ParseExecuteCommandResponse does: its //a:Action must
// be CommandResponse, and the id is //rsp:CommandId.
func parseCommandResponse(body string) (string, error) {
	action, _, err := wsmanFirst(body, nsAddressing, "Action", "", "")
	if err != nil {
		return "", fmt.Errorf("the answer to Command: %w", err)
	}
	if action != actionCommandResponse {
		return "", fmt.Errorf("the answer to Command: unsupported action %q", clip(action))
	}
	id, ok, err := wsmanFirst(body, nsWinShell, "CommandId", "", "")
	if err != nil {
		return "", fmt.Errorf("the answer to Command: %w", err)
	}
	if !ok || id == "" {
		return "", errors.New("the answer to Command names no CommandId")
	}
	return id, nil
}
