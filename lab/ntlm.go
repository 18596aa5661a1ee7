package lab

// The server side of NTLM (MS-NLMP) for the lab's WinRM endpoint: enough to
// hand a client a challenge and check its NTLMv2 answer against the host's
// password, so that a wrong password is refused as Windows refuses it. No
// session keys, signing or sealing: the lab never needs them (the client
// does not ask for them over HTTPS, and the lab refuses KEY_EXCH).

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM is defined on MD4
)

// NTLM negotiate flags the lab uses (MS-NLMP 2.2.2.5).
const (
	ntlmNegotiateUnicode       = 0x00000001
	ntlmRequestTarget          = 0x00000004
	ntlmNegotiateNTLM          = 0x00000200
	ntlmNegotiateAlwaysSign    = 0x00008000
	ntlmTargetTypeServer       = 0x00020000
	ntlmNegotiateExtendedSec   = 0x00080000
	ntlmNegotiateTargetInfo    = 0x00800000
	ntlmSignature              = "NTLMSSP\x00"
	ntlmChallengeHeaderLen     = 48 // up to TargetInfoFields, no Version
	ntlmAuthenticateHeaderLen  = 64 // up to NegotiateFlags, no Version or MIC
	ntlmv2ProofLen             = 16 // NTProofStr
	ntlmv2MinResponseLen       = ntlmv2ProofLen + 28
	ntlmChallengeFlags         = ntlmNegotiateUnicode | ntlmRequestTarget | ntlmNegotiateNTLM | ntlmNegotiateAlwaysSign | ntlmTargetTypeServer | ntlmNegotiateExtendedSec | ntlmNegotiateTargetInfo
	ntlmMessageNegotiate       = 1
	ntlmMessageChallenge       = 2
	ntlmMessageAuthenticate    = 3
	ntlmMaxNetBIOSComputerName = 15
)

// ntlmMessageType checks the NTLMSSP signature and returns the message type.
func ntlmMessageType(b []byte) (uint32, error) {
	if len(b) < 12 || string(b[:8]) != ntlmSignature {
		return 0, errors.New("ntlm: not an NTLMSSP message")
	}
	return binary.LittleEndian.Uint32(b[8:12]), nil
}

// parseNTLMNegotiate checks a NEGOTIATE (type 1) message.
func parseNTLMNegotiate(b []byte) error {
	t, err := ntlmMessageType(b)
	if err != nil {
		return err
	}
	if t != ntlmMessageNegotiate {
		return fmt.Errorf("ntlm: message type %d where NEGOTIATE (1) was expected", t)
	}
	if len(b) < 16 {
		return errors.New("ntlm: NEGOTIATE message too short")
	}
	return nil
}

// newNTLMChallenge builds a CHALLENGE (type 2) message with a fresh random
// 8-byte server challenge. target is the server's NetBIOS name (upper case,
// at most 15 characters, as Windows sends it); the target information holds
// it too, then MsvAvEOL. No LM_KEY and no KEY_EXCH: the client refuses both.
func newNTLMChallenge(target string) (msg []byte, challenge [8]byte, err error) {
	if _, err := rand.Read(challenge[:]); err != nil {
		return nil, challenge, fmt.Errorf("ntlm: challenge: %w", err)
	}
	target = strings.ToUpper(target)
	if len(target) > ntlmMaxNetBIOSComputerName {
		target = target[:ntlmMaxNetBIOSComputerName]
	}
	name := utf16le(target)
	var info bytes.Buffer
	for _, av := range []struct {
		id  uint16
		val []byte
	}{{2, name} /* MsvAvNbDomainName */, {1, name} /* MsvAvNbComputerName */} {
		_ = binary.Write(&info, binary.LittleEndian, av.id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(av.val)))
		info.Write(av.val)
	}
	info.Write([]byte{0, 0, 0, 0}) // MsvAvEOL

	var b bytes.Buffer
	b.WriteString(ntlmSignature)
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	le(uint32(ntlmMessageChallenge))
	off := uint32(ntlmChallengeHeaderLen)
	le(uint16(len(name)))
	le(uint16(len(name)))
	le(off)
	le(uint32(ntlmChallengeFlags))
	b.Write(challenge[:])
	b.Write(make([]byte, 8)) // Reserved
	le(uint16(info.Len()))
	le(uint16(info.Len()))
	le(off + uint32(len(name)))
	b.Write(name)
	b.Write(info.Bytes())
	return b.Bytes(), challenge, nil
}

// ntlmAuthenticate is what the lab reads of an AUTHENTICATE (type 3) message.
type ntlmAuthenticate struct {
	Domain, User, Workstation string
	LMResponse, NTResponse    []byte
	Flags                     uint32
}

// parseNTLMAuthenticate reads an AUTHENTICATE (type 3) message.
func parseNTLMAuthenticate(b []byte) (*ntlmAuthenticate, error) {
	t, err := ntlmMessageType(b)
	if err != nil {
		return nil, err
	}
	if t != ntlmMessageAuthenticate {
		return nil, fmt.Errorf("ntlm: message type %d where AUTHENTICATE (3) was expected", t)
	}
	if len(b) < ntlmAuthenticateHeaderLen {
		return nil, errors.New("ntlm: AUTHENTICATE message too short")
	}
	field := func(at int) ([]byte, error) {
		n := int(binary.LittleEndian.Uint16(b[at:]))
		off := int(binary.LittleEndian.Uint32(b[at+4:]))
		if n == 0 {
			return nil, nil
		}
		if off < 0 || off+n > len(b) || off+n < off {
			return nil, fmt.Errorf("ntlm: AUTHENTICATE field at %d runs past the message", at)
		}
		return b[off : off+n], nil
	}
	a := &ntlmAuthenticate{Flags: binary.LittleEndian.Uint32(b[60:])}
	var raw [5][]byte
	for i, at := range []int{12, 20, 28, 36, 44} {
		if raw[i], err = field(at); err != nil {
			return nil, err
		}
	}
	if a.Flags&ntlmNegotiateUnicode == 0 {
		return nil, errors.New("ntlm: only Unicode AUTHENTICATE messages are supported")
	}
	a.LMResponse, a.NTResponse = raw[0], raw[1]
	for i, dst := range []*string{&a.Domain, &a.User, &a.Workstation} {
		s, err := fromUTF16LE(raw[2+i])
		if err != nil {
			return nil, err
		}
		*dst = s
	}
	return a, nil
}

// verifyNTLMv2 checks the NTLMv2 response of a against the server challenge
// and password: NTOWFv2 = HMAC-MD5(MD4(UTF16LE(password)),
// UTF16LE(UPPER(user)+domain)); the first 16 bytes of the NT response must be
// HMAC-MD5(NTOWFv2, serverChallenge || blob), blob being the rest of it.
func verifyNTLMv2(a *ntlmAuthenticate, challenge [8]byte, password string) error {
	if len(a.NTResponse) < ntlmv2MinResponseLen {
		return fmt.Errorf("ntlm: NT response of %d bytes is not NTLMv2 (NTLMv1 and anonymous logons are refused)", len(a.NTResponse))
	}
	h := md4.New()
	h.Write(utf16le(password))
	ntowf := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(a.User)+a.Domain))
	proof, blob := a.NTResponse[:ntlmv2ProofLen], a.NTResponse[ntlmv2ProofLen:]
	if !hmac.Equal(proof, hmacMD5(ntowf, challenge[:], blob)) {
		return errors.New("ntlm: the NTLMv2 response does not match (wrong password)")
	}
	return nil
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16LE(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errors.New("ntlm: odd-length UTF-16 string")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}
