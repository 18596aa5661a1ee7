package lab

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// The NTLMv2 example of MS-NLMP 4.2.4: user "User", domain "Domain",
// password "Password", server challenge 0123456789abcdef, client challenge
// aaaaaaaaaaaaaaaa, time 0, target information Domain/Server.
func TestVerifyNTLMv2PublishedVector(t *testing.T) {
	var challenge [8]byte
	copy(challenge[:], mustHex(t, "0123456789abcdef"))
	var info bytes.Buffer
	for _, av := range []struct {
		id  uint16
		val string
	}{{2, "Domain"}, {1, "Server"}} {
		_ = binary.Write(&info, binary.LittleEndian, av.id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(2*len(av.val)))
		info.Write(utf16le(av.val))
	}
	info.Write([]byte{0, 0, 0, 0})
	blob := mustHex(t, "0101000000000000"+"0000000000000000"+"aaaaaaaaaaaaaaaa"+"00000000")
	blob = append(blob, info.Bytes()...)
	blob = append(blob, 0, 0, 0, 0)
	proof := mustHex(t, "68cd0ab851e51c96aabc927bebef6a1c")
	a := &ntlmAuthenticate{User: "User", Domain: "Domain", NTResponse: append(proof, blob...)}
	if err := verifyNTLMv2(a, challenge, "Password"); err != nil {
		t.Fatalf("published vector refused: %v", err)
	}
	if err := verifyNTLMv2(a, challenge, "password"); err == nil {
		t.Fatal("published vector accepted with the wrong password")
	}
	challenge[0] ^= 1
	if err := verifyNTLMv2(a, challenge, "Password"); err == nil {
		t.Fatal("published vector accepted against another server challenge")
	}
}

// The lab's challenge, answered by the client winrm uses (Azure/go-ntlmssp).
func TestNTLMHandshakeWithGoNTLMSSP(t *testing.T) {
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := parseNTLMNegotiate(neg); err != nil {
		t.Fatalf("client's NEGOTIATE refused: %v", err)
	}
	chal, challenge, err := newNTLMChallenge("win2019-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"Administrator", "S3cret!", true},
		{"administrator", "S3cret!", true}, // user names are case-insensitive
		{"Administrator", "s3cret!", false},
		{"Administrator", "", false},
	} {
		pw := tc.password
		if pw == "" {
			pw = "other"
		}
		auth, err := ntlmssp.ProcessChallenge(chal, tc.user, pw, true)
		if err != nil {
			t.Fatalf("client refused the lab's CHALLENGE: %v", err)
		}
		a, err := parseNTLMAuthenticate(auth)
		if err != nil {
			t.Fatalf("AUTHENTICATE: %v", err)
		}
		if !strings.EqualFold(a.User, tc.user) || a.Domain != "WIN2019-01" {
			t.Errorf("AUTHENTICATE user %q domain %q; want %q, WIN2019-01", a.User, a.Domain, tc.user)
		}
		err = verifyNTLMv2(a, challenge, "S3cret!")
		if (err == nil) != tc.ok {
			t.Errorf("%s/%q: verify = %v, want ok=%v", tc.user, pw, err, tc.ok)
		}
	}
	// Two challenges are never the same.
	_, c2, _ := newNTLMChallenge("x")
	if c2 == challenge {
		t.Error("two challenges are equal")
	}
}

func TestNTLMParseRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("NTLMSSP"), []byte("NTLMSSP\x00\x02\x00\x00\x00"), []byte("HELLOWOR\x01\x00\x00\x00xxxx")} {
		if err := parseNTLMNegotiate(b); err == nil {
			t.Errorf("NEGOTIATE %q accepted", b)
		}
		if _, err := parseNTLMAuthenticate(b); err == nil {
			t.Errorf("AUTHENTICATE %q accepted", b)
		}
	}
	// A field pointing past the end.
	m := make([]byte, ntlmAuthenticateHeaderLen)
	copy(m, ntlmSignature)
	binary.LittleEndian.PutUint32(m[8:], 3)
	binary.LittleEndian.PutUint16(m[20:], 100)
	binary.LittleEndian.PutUint32(m[24:], 64)
	binary.LittleEndian.PutUint32(m[60:], ntlmNegotiateUnicode)
	if _, err := parseNTLMAuthenticate(m); err == nil {
		t.Error("AUTHENTICATE with an out-of-range field accepted")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
