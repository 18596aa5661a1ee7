package remote

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/masterzen/winrm"
)

// receiveAll runs parseReceive and collects both streams.
func receiveAll(body string) (stdout, stderr string, a receiveAnswer, err error) {
	var o, e bytes.Buffer
	a, err = parseReceive(body, func(stream string, p []byte) error {
		if stream == "stdout" {
			o.Write(p)
		} else {
			e.Write(p)
		}
		return nil
	})
	return o.String(), e.String(), a, err
}

// libraryReceive is what the winrm library makes of the same answer. The
// library panics on an answer that is not XML (it runs XPath over the nil
// tree), which a host could send: that is an error here.
func libraryReceive(body string) (stdout, stderr string, done bool, exit int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("library panicked: %v", r)
		}
	}()
	var o, e bytes.Buffer
	done, exit, err = winrm.ParseSlurpOutputErrResponse(body, &o, &e)
	return o.String(), e.String(), done, exit, err
}

const (
	tEnvelope = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Body>`
	tEnd      = `</s:Body></s:Envelope>`
	tDone     = `State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"`
	tRunning  = `State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"`
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseReceive(t *testing.T) {
	read := func(name string) string { return readWsman(t, name) }
	for _, tc := range []struct {
		name           string
		body           string
		stdout, stderr string
		done           bool
		exit           int
	}{
		{"windows: both streams, running", read("receive-output.xml"), "That's all folks!!!", "This is stderr, I'm pretty sure!", false, 0},
		{"windows: stdout, running", read("receive-stdout.xml"), "That's all folks!!!", "", false, 0},
		{"windows: done, exit 123", read("receive-done.xml"), "", "", true, 123},
		{"windows: OperationTimeout fault", read("receive-timedout.xml"), "", "", false, 0},
		{"streams in order, several of each",
			tEnvelope + `<rsp:ReceiveResponse><rsp:Stream Name="stdout">` + b64("a") + `</rsp:Stream><rsp:Stream Name="stderr">` + b64("x") +
				`</rsp:Stream><rsp:Stream Name="stdout">` + b64("b") + `</rsp:Stream><rsp:Stream Name="stdout" End="true"/>` +
				`<rsp:CommandState ` + tDone + `><rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>` + tEnd,
			"ab", "x", true, 3},
		{"other prefixes, default namespace, single quotes",
			`<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>` +
				`<ReceiveResponse xmlns="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><Stream Name='stdout' >` + b64("hi\r\n") +
				`</Stream ><CommandState ` + tDone + `><ExitCode> 0 </ExitCode></CommandState></ReceiveResponse></e:Body></e:Envelope>`,
			"hi\r\n", "", true, 0},
		{"a Stream of another namespace is not output",
			tEnvelope + `<x:Stream xmlns:x="urn:other" Name="stdout">` + b64("no") + `</x:Stream><rsp:Stream Name="stdout">` + b64("yes") + `</rsp:Stream>` + tEnd,
			"yes", "", false, 0},
		{"a stream of another name is skipped",
			tEnvelope + `<rsp:Stream Name="stdin">` + b64("no") + `</rsp:Stream>` + tEnd, "", "", false, 0},
		{"base64 split by a comment, CDATA and entities, with line breaks",
			tEnvelope + `<rsp:Stream Name="stdout">` + b64("hello")[:4] + "<!-- c -->\r\n" + `<![CDATA[` + b64("hello")[4:6] + `]]>` +
				strings.ReplaceAll(b64("hello")[6:], "=", "&#61;") + `</rsp:Stream>` + tEnd,
			"hello", "", false, 0},
		{"only the first ExitCode counts; Running is not done",
			tEnvelope + `<rsp:CommandState ` + tRunning + `><rsp:ExitCode>4</rsp:ExitCode><rsp:ExitCode>5</rsp:ExitCode></rsp:CommandState>` + tEnd,
			"", "", false, 4},
		{"Done on any element",
			tEnvelope + `<foo ` + tDone + `/>` + tEnd, "", "", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, e, a, err := receiveAll(tc.body)
			if err != nil || o != tc.stdout || e != tc.stderr || a.done != tc.done || a.exitCode != tc.exit {
				t.Errorf("parseReceive = %q, %q, %+v, %v; want %q, %q, done %v exit %d", o, e, a, err, tc.stdout, tc.stderr, tc.done, tc.exit)
			}
			// The library reads every one of these the same way.
			lo, le, ld, lx, lerr := libraryReceive(tc.body)
			if lerr != nil || lo != o || le != e || ld != a.done || (ld && lx != a.exitCode) {
				t.Errorf("library = %q, %q, done %v exit %d, %v; parseReceive disagrees", lo, le, ld, lx, lerr)
			}
		})
	}
}

func TestParseReceiveErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"empty", "", "no root element"},
		{"not XML", "hello", "text outside the root element"},
		{"unclosed", tEnvelope, "element <s:Body> is not closed"},
		{"mismatched end tag", tEnvelope + `</s:Envelope>`, "end tag </s:Envelope> does not close the open element"},
		{"undeclared prefix", `<q:a/>`, "prefix q is not declared"},
		{"DTD", `<!DOCTYPE a [<!ENTITY x "y">]><a/>`, "document type declaration is not allowed"},
		{"bad entity", tEnvelope + `<rsp:Stream Name="stdout">&bogus;</rsp:Stream>` + tEnd, "malformed character or entity reference"},
		{"bad base64", tEnvelope + `<rsp:Stream Name="stdout">!!!!</rsp:Stream>` + tEnd, "stdout stream: illegal base64 data"},
		{"bad exit code", tEnvelope + `<rsp:ExitCode>x1</rsp:ExitCode>` + tEnd, `ExitCode "x1" is not a number`},
		{"unquoted attribute", `<a b=c/>`, "expected a quoted value"},
		{"unterminated attribute", `<a b="c/>`, "unterminated value"},
		{"unterminated comment", `<a><!-- x</a>`, "unterminated comment"},
		{"two roots", `<a/><b/>`, "a second root element"},
		{"too deep", strings.Repeat("<a>", wsmanMaxDepth+1), fmt.Sprintf("nested deeper than %d", wsmanMaxDepth)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := receiveAll(tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "WS-Management Receive answer: ") {
				t.Errorf("parseReceive(%q) = %v; want an error with %q", tc.body, err, tc.want)
			}
		})
	}
}

// A writer's error stops the parse and comes back as it is.
func TestParseReceiveStopsOnWriteError(t *testing.T) {
	body := tEnvelope + `<rsp:Stream Name="stdout">` + b64("a") + `</rsp:Stream><rsp:Stream Name="stdout">` + b64("b") + `</rsp:Stream>` + tEnd
	calls := 0
	_, err := parseReceive(body, func(string, []byte) error { calls++; return errPastCap })
	if !errors.Is(err, errPastCap) || calls != 1 {
		t.Errorf("parseReceive = %v after %d writes; want errPastCap after 1", err, calls)
	}
}

// FuzzParseReceive: parseReceive never panics, and where the library reads
// an answer without error, parseReceive that succeeds reads it the same.
func FuzzParseReceive(f *testing.F) {
	for _, name := range []string{"receive-output.xml", "receive-stdout.xml", "receive-done.xml", "receive-timedout.xml"} {
		f.Add(readWsman(f, name))
	}
	f.Add(tEnvelope + `<rsp:Stream Name="stdout">` + b64("a&b") + `</rsp:Stream><rsp:CommandState ` + tDone + `><rsp:ExitCode>7</rsp:ExitCode></rsp:CommandState>` + tEnd)
	f.Fuzz(func(t *testing.T, body string) {
		o, e, a, err := receiveAll(body)
		if err != nil {
			return
		}
		lo, le, ld, lx, lerr := libraryReceive(body)
		if lerr != nil {
			return // the library refuses what parseReceive reads: stricter is the library's loss only
		}
		if lo != o || le != e || ld != a.done || (ld && lx != a.exitCode) {
			t.Errorf("parseReceive = %q, %q, %+v; library = %q, %q, done %v exit %d", o, e, a, lo, le, ld, lx)
		}
	})
}

// receiveBody is a Receive answer as Windows fills one: 110 KiB of netstat
// rows, base64, in one Stream.
func receiveBody() string {
	var out strings.Builder
	for i := 0; out.Len() < 110<<10; i++ {
		fmt.Fprintf(&out, "  TCP    10.0.0.5:%d     10.0.0.9:443      TIME_WAIT       0\r\n", 1024+i%60000)
	}
	return tEnvelope + `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C">` + b64(out.String()) +
		`</rsp:Stream><rsp:CommandState CommandId="C" ` + tRunning + `/></rsp:ReceiveResponse>` + tEnd
}

// BenchmarkParseReceive against BenchmarkLibraryReceive: the same answer,
// read by parseReceive and by the library's tree and XPath.
func BenchmarkParseReceive(b *testing.B) {
	body := receiveBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseReceive(body, func(string, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLibraryReceive(b *testing.B) {
	body := receiveBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := winrm.ParseSlurpOutputErrResponse(body, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
}

// decodeBase64 means base64.StdEncoding.DecodeString, across its pieces.
func TestDecodeBase64(t *testing.T) {
	big := strings.Repeat("fleettune reads netstat\r\n", 12000) // 300 KB: several pieces
	enc := b64(big)
	cases := []string{"", "QQ==", "QUI=", "QUJD", "QQ", "Q", "!!!!", "QQ==QQ==", "QU\r\nJD", enc, enc[:base64Piece], enc[:base64Piece+4],
		enc[:base64Piece] + "!" + enc[base64Piece+1:], enc[:2*base64Piece+3], enc + "=", enc[:len(enc)-4] + "QQ=="}
	for _, text := range cases {
		want, werr := base64.StdEncoding.DecodeString(text)
		var got []byte
		err := decodeBase64(text, func(p []byte) error { got = append(got, p...); return nil })
		if fmt.Sprint(err) != fmt.Sprint(werr) || (err == nil && !bytes.Equal(got, want)) {
			t.Errorf("decodeBase64(%q...) = %d bytes, %v; DecodeString: %d bytes, %v", clip(text), len(got), err, len(want), werr)
		}
	}
}

func FuzzDecodeBase64(f *testing.F) {
	f.Add("QUJD")
	f.Add(strings.Repeat("QUJD", base64Piece/4+1) + "QQ==")
	f.Fuzz(func(t *testing.T, text string) {
		want, werr := base64.StdEncoding.DecodeString(text)
		var got []byte
		err := decodeBase64(text, func(p []byte) error { got = append(got, p...); return nil })
		if fmt.Sprint(err) != fmt.Sprint(werr) || (err == nil && !bytes.Equal(got, want)) {
			t.Errorf("decodeBase64 = %d bytes, %v; DecodeString: %d bytes, %v", len(got), err, len(want), werr)
		}
	})
}
